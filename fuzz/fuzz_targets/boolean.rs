//! Fuzzes the boolean block decoder: it must never panic, and whatever it accepts must survive an
//! encode/decode round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsq_storage::tsm::encoding::boolean;

fuzz_target!(|data: &[u8]| {
    let mut values = Vec::new();
    if boolean::decode(data, &mut values).is_ok() {
        let mut block = Vec::new();
        boolean::encode(&values, &mut block).expect("decoded booleans re-encode");
        let mut again = Vec::new();
        boolean::decode(&block, &mut again).expect("re-encoded block decodes");
        assert_eq!(values, again);
    }
});
