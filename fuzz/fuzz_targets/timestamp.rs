//! Fuzzes the timestamp block decoder: it must never panic, whatever it accepts must survive
//! an encode/decode round trip, and decoding through a remembered run gives the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsq_storage::tsm::encoding::timestamp;

fuzz_target!(|data: &[u8]| {
    let mut values = Vec::new();
    let plain = timestamp::decode(data, &mut values);
    // Through a remembered run (`decode_remembered`), twice: the same result as a plain decode.
    let mut last = timestamp::LastRun::default();
    for _ in 0..2 {
        let mut remembered = Vec::new();
        let r = timestamp::decode_remembered(data, &mut remembered, &mut last);
        assert_eq!(r.is_ok(), plain.is_ok());
        assert_eq!(remembered, values);
    }
    if plain.is_ok() {
        let mut block = Vec::new();
        timestamp::encode(&values, &mut block).expect("decoded timestamps re-encode");
        let mut again = Vec::new();
        timestamp::decode(&block, &mut again).expect("re-encoded block decodes");
        assert_eq!(values, again);
    }
});
