//! Fuzzes the ALP and ALP-RD float codecs and the per-block codec choice. The first byte picks a
//! mode: decode the rest as an ALP (or ALP-RD) block, which must never panic and whose accepted
//! values must round-trip bit for bit; or build values from 8-byte words (raw bit patterns, or
//! decimals `word / 10^k`), encode them with the chosen codec and decode them back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsq_storage::tsm::encoding::float;

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn round_trip(values: &[f64]) {
    let mut block = Vec::new();
    float::encode(values, &mut block).expect("floats encode");
    let mut out = Vec::new();
    float::decode(&block, &mut out).expect("encoded block decodes");
    assert_eq!(bits(values), bits(&out));
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let words: Vec<u64> = rest
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    match selector % 4 {
        0 | 1 => {
            // A hostile block with an ALP (0x20) or ALP-RD (0x30) header.
            let mut block = rest.to_vec();
            block.insert(0, if selector % 4 == 0 { 0x20 } else { 0x30 });
            let mut values = Vec::new();
            if float::decode(&block, &mut values).is_ok() {
                round_trip(&values);
            }
        }
        2 => round_trip(&words.iter().map(|&w| f64::from_bits(w)).collect::<Vec<_>>()),
        _ => {
            let scale = 10f64.powi(i32::from(selector >> 2) % 19);
            let values: Vec<f64> = words.iter().map(|&w| (w as i64 >> 8) as f64 / scale).collect();
            round_trip(&values);
        }
    }
});
