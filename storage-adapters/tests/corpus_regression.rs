//! Replays the committed fuzzing corpus (`tests/corpus/<target>/`, one directory per cargo-fuzz
//! target in `fuzz/`): every input must give `Ok` or `Err` without panicking, and whatever decodes
//! or parses must round-trip through the encoder or the line-protocol writer; the `encode_roundtrip`
//! inputs are value vectors that must survive encode then decode.

use std::fs;
use std::path::PathBuf;

use tsq_storage::line_protocol::{parse_line, parse_lines, Precision};
use tsq_storage::tsm::encoding::{boolean, float, integer, string, timestamp};

/// Every file of one corpus directory; fails if the directory is missing or empty.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), data)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

#[test]
fn timestamp_corpus() {
    // One `LastRun` across the whole corpus, each input decoded through it twice (the second
    // time it is the block remembered, when a run): it must give what a plain decode gives,
    // results and errors alike.
    let mut last = timestamp::LastRun::default();
    for (name, data) in corpus("timestamp") {
        let mut values = Vec::new();
        let plain = timestamp::decode(&data, &mut values);
        for _ in 0..2 {
            let mut remembered = vec![-7];
            let r = timestamp::decode_remembered(&data, &mut remembered, &mut last);
            assert_eq!(r.is_ok(), plain.is_ok(), "{name}");
            assert_eq!(remembered[0], -7, "{name}");
            assert_eq!(&remembered[1..], &values[..], "{name}");
        }
        if plain.is_ok() {
            let mut block = Vec::new();
            timestamp::encode(&values, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut again = Vec::new();
            timestamp::decode(&block, &mut again).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(values, again, "{name}");
        }
    }
}

#[test]
fn integer_corpus() {
    for (name, data) in corpus("integer") {
        let mut values = Vec::new();
        if integer::decode(&data, &mut values).is_ok() {
            let mut block = Vec::new();
            integer::encode(&values, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut again = Vec::new();
            integer::decode(&block, &mut again).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(values, again, "{name}");
        }
        let mut unsigned = Vec::new();
        if integer::decode_unsigned(&data, &mut unsigned).is_ok() {
            let mut block = Vec::new();
            integer::encode_unsigned(&unsigned, &mut block)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut again = Vec::new();
            integer::decode_unsigned(&block, &mut again).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(unsigned, again, "{name}");
        }
    }
}

#[test]
fn float_corpus() {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (name, data) in corpus("float") {
        let mut values = Vec::new();
        if float::decode(&data, &mut values).is_ok() {
            let mut block = Vec::new();
            float::encode(&values, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut again = Vec::new();
            float::decode(&block, &mut again).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(bits(&values), bits(&again), "{name}");
        }
    }
}

#[test]
fn boolean_corpus() {
    for (name, data) in corpus("boolean") {
        let mut values = Vec::new();
        if boolean::decode(&data, &mut values).is_ok() {
            let mut block = Vec::new();
            boolean::encode(&values, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut again = Vec::new();
            boolean::decode(&block, &mut again).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(values, again, "{name}");
        }
    }
}

#[test]
fn string_corpus() {
    for (name, data) in corpus("string") {
        let mut values = Vec::new();
        if string::decode(&data, &mut values).is_ok() {
            let mut block = Vec::new();
            string::encode(&values, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut again = Vec::new();
            string::decode(&block, &mut again).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(values, again, "{name}");
        }
    }
}

#[test]
fn line_protocol_corpus() {
    for (name, data) in corpus("line_protocol") {
        let text = String::from_utf8_lossy(&data);
        let line_count = text.split('\n').count();
        for precision in [Precision::Nanoseconds, Precision::Seconds] {
            let out = parse_lines(&text, precision);
            for e in &out.errors {
                assert!(
                    e.line >= 1 && e.line <= line_count && e.column >= 1,
                    "{name}: {e}"
                );
            }
            for line in &out.lines {
                let written = line.to_string();
                let again = parse_line(&written, 1, Precision::Nanoseconds)
                    .unwrap_or_else(|e| panic!("{name}: {written:?}: {e}"));
                assert_eq!(again.as_ref(), Some(line), "{name}: {written:?}");
            }
        }
    }
}

/// Mirrors `fuzz/fuzz_targets/encode_roundtrip.rs`: the first byte picks a codec, the rest is read
/// as little-endian 8-byte values (bytes for booleans and strings), which must round-trip exactly.
fn encode_roundtrip_case(name: &str, data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let words: Vec<u64> = rest
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let mut block = Vec::new();
    match selector % 6 {
        0 | 1 => {
            let src: Vec<i64> = if selector % 6 == 0 {
                let mut t = 0i64;
                words
                    .iter()
                    .map(|&w| {
                        t = t.wrapping_add((w % 4) as i64 * 10i64.pow((w >> 8) as u32 % 13));
                        t
                    })
                    .collect()
            } else {
                words.iter().map(|&w| w as i64).collect()
            };
            timestamp::encode(&src, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut out = Vec::new();
            timestamp::decode(&block, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out, src, "{name}");
        }
        2 => {
            let src: Vec<i64> = words.iter().map(|&w| w as i64).collect();
            integer::encode(&src, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut out = Vec::new();
            integer::decode(&block, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out, src, "{name}");
            block.clear();
            integer::encode_unsigned(&words, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut out = Vec::new();
            integer::decode_unsigned(&block, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out, words, "{name}");
        }
        3 => {
            let src: Vec<f64> = words.iter().map(|&w| f64::from_bits(w)).collect();
            float::encode(&src, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut out = Vec::new();
            float::decode(&block, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
            let bits: Vec<u64> = out.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bits, words, "{name}");
        }
        4 => {
            let src: Vec<bool> = rest.iter().map(|&b| b & 1 == 1).collect();
            boolean::encode(&src, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut out = Vec::new();
            boolean::decode(&block, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out, src, "{name}");
        }
        _ => {
            let src: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
            string::encode(&src, &mut block).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut out = Vec::new();
            string::decode(&block, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(out, src, "{name}");
        }
    }
}

#[test]
fn encode_roundtrip_corpus() {
    for (name, data) in corpus("encode_roundtrip") {
        encode_roundtrip_case(&name, &data);
    }
}
