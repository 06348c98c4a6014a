//! Fuzzes the line-protocol parser: it must never panic, every error must point inside the input,
//! and every parsed line, displayed back as line protocol, must parse to the same point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsq_storage::line_protocol::{parse_line, parse_lines, Precision};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let out = parse_lines(text, Precision::Nanoseconds);
    let line_count = text.split('\n').count();
    for e in &out.errors {
        assert!(e.line >= 1 && e.line <= line_count, "{e}");
        assert!(e.column >= 1, "{e}");
    }
    for line in &out.lines {
        assert!(!line.fields.is_empty());
        assert!(
            line.tags.windows(2).all(|w| w[0].0 < w[1].0),
            "tags sorted and unique"
        );
        let written = line.to_string();
        let again = parse_line(&written, 1, Precision::Nanoseconds)
            .unwrap_or_else(|e| panic!("{written:?}: {e}"))
            .expect("a written line is not blank");
        assert_eq!(line, &again, "{written:?}");
    }
    for p in [
        Precision::Microseconds,
        Precision::Milliseconds,
        Precision::Seconds,
    ] {
        let _ = parse_lines(text, p);
    }
});
