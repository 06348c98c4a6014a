//! Fuzzes the encoders: the first byte picks a codec, the rest is read as 8-byte values (or bytes
//! for booleans and strings); encoding must succeed and decoding must give the values back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsq_storage::tsm::encoding::{boolean, float, integer, string, timestamp};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let words: Vec<u64> = rest
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let mut block = Vec::new();
    match selector % 6 {
        0 => {
            // Mostly sorted timestamps: each word is a small step, so scaling and RLE get exercised.
            let mut t = 0i64;
            let src: Vec<i64> = words
                .iter()
                .map(|&w| {
                    t = t.wrapping_add((w % 4) as i64 * 10i64.pow((w >> 8) as u32 % 13));
                    t
                })
                .collect();
            timestamp::encode(&src, &mut block).expect("encode");
            let mut out = Vec::new();
            timestamp::decode(&block, &mut out).expect("decode");
            assert_eq!(out, src);
        }
        1 => {
            let src: Vec<i64> = words.iter().map(|&w| w as i64).collect();
            timestamp::encode(&src, &mut block).expect("encode");
            let mut out = Vec::new();
            timestamp::decode(&block, &mut out).expect("decode");
            assert_eq!(out, src);
        }
        2 => {
            let src: Vec<i64> = words.iter().map(|&w| w as i64).collect();
            integer::encode(&src, &mut block).expect("encode");
            let mut out = Vec::new();
            integer::decode(&block, &mut out).expect("decode");
            assert_eq!(out, src);
            block.clear();
            integer::encode_unsigned(&words, &mut block).expect("encode");
            let mut out = Vec::new();
            integer::decode_unsigned(&block, &mut out).expect("decode");
            assert_eq!(out, words);
        }
        3 => {
            let src: Vec<f64> = words.iter().map(|&w| f64::from_bits(w)).collect();
            float::encode(&src, &mut block).expect("encode");
            let mut out = Vec::new();
            float::decode(&block, &mut out).expect("decode");
            let bits: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bits, words);
        }
        4 => {
            let src: Vec<bool> = rest.iter().map(|&b| b & 1 == 1).collect();
            boolean::encode(&src, &mut block).expect("encode");
            let mut out = Vec::new();
            boolean::decode(&block, &mut out).expect("decode");
            assert_eq!(out, src);
        }
        _ => {
            let src: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
            string::encode(&src, &mut block).expect("encode");
            let mut out = Vec::new();
            string::decode(&block, &mut out).expect("decode");
            assert_eq!(out, src);
        }
    }
});
