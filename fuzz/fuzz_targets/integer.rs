//! Fuzzes the integer block decoder, signed and unsigned: it must never panic, and whatever it
//! accepts must survive an encode/decode round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsq_storage::tsm::encoding::integer;

fuzz_target!(|data: &[u8]| {
    let mut values = Vec::new();
    if integer::decode(data, &mut values).is_ok() {
        let mut block = Vec::new();
        integer::encode(&values, &mut block).expect("decoded integers re-encode");
        let mut again = Vec::new();
        integer::decode(&block, &mut again).expect("re-encoded block decodes");
        assert_eq!(values, again);
    }
    let mut unsigned = Vec::new();
    if integer::decode_unsigned(data, &mut unsigned).is_ok() {
        let mut block = Vec::new();
        integer::encode_unsigned(&unsigned, &mut block).expect("decoded unsigned re-encode");
        let mut again = Vec::new();
        integer::decode_unsigned(&block, &mut again).expect("re-encoded block decodes");
        assert_eq!(unsigned, again);
    }
});
