//! Fuzzes the snappy string block decoder: it must never panic, and whatever it accepts must
//! survive an encode/decode round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsq_storage::tsm::encoding::string;

fuzz_target!(|data: &[u8]| {
    let mut values = Vec::new();
    if string::decode(data, &mut values).is_ok() {
        let mut block = Vec::new();
        string::encode(&values, &mut block).expect("decoded strings re-encode");
        let mut again = Vec::new();
        string::decode(&block, &mut again).expect("re-encoded block decodes");
        assert_eq!(values, again);
    }
});
