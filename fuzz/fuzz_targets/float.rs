//! Fuzzes the Gorilla float block decoder: it must never panic, and whatever it accepts must
//! survive an encode/decode round trip bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsq_storage::tsm::encoding::float;

fuzz_target!(|data: &[u8]| {
    let mut values = Vec::new();
    if float::decode(data, &mut values).is_ok() {
        let mut block = Vec::new();
        float::encode(&values, &mut block).expect("decoded floats re-encode");
        let mut again = Vec::new();
        float::decode(&block, &mut again).expect("re-encoded block decodes");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&again));
    }
});
