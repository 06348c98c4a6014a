//! Replays the committed fuzzing corpus (`tests/corpus/<target>/`, one directory per cargo-fuzz
//! target in `fuzz/`): every input must give `Ok` or `Err` without panicking, and whatever decodes
//! or parses must round-trip through the encoder or the line-protocol writer.

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
    for (name, data) in corpus("timestamp") {
        let mut values = Vec::new();
        if timestamp::decode(&data, &mut values).is_ok() {
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
