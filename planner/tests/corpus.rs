//! Regression corpus: every file in `tests/corpus/` (inputs the fuzzer or
//! reviewers found interesting) goes through parse + plan, as the fuzz
//! target does, under several catalogs and forced strategies; the first
//! line of expectations is that nothing panics, and each file's expected
//! outcome (`ok` or the error's prefix) is pinned in `tests/corpus/EXPECTED`.

use std::collections::BTreeMap;
use std::path::Path;

use tsq_engine::spec::AggStrategy;
use tsq_engine::Capabilities;
use tsq_planner::{parse_script, plan_query, Catalog};

fn catalog(capabilities: Capabilities, exists: bool) -> Catalog {
    Catalog {
        adapter: "fuzz".into(),
        capabilities,
        measurement_exists: exists,
        fields: vec!["bytes".into(), "usage".into(), "v".into()],
        tag_keys: vec!["dc".into(), "host".into()],
        field_types: Vec::new(),
    }
}

/// The outcome under full capabilities, an existing measurement and no
/// forced strategy: `ok` or the error text up to its first colon after the position.
fn outcome(text: &str) -> String {
    let statements = match parse_script(text) {
        Ok(s) => s,
        Err(e) => return e.to_string(),
    };
    let mut result = "ok".to_string();
    for st in &statements {
        // SHOW statements are not planned
        let Some(query) = st.query() else { continue };
        for caps in [Capabilities::ALL, Capabilities::NONE] {
            for exists in [true, false] {
                for force in [
                    None,
                    Some(AggStrategy::Pipe),
                    Some(AggStrategy::Grouped),
                    Some(AggStrategy::MT),
                ] {
                    let r = plan_query(query, &catalog(caps, exists), force);
                    if let (Err(e), Capabilities::ALL, true, None) = (&r, caps, exists, force) {
                        if result == "ok" {
                            result = e.to_string();
                        }
                    }
                }
            }
        }
    }
    result
}

#[test]
fn corpus_inputs_give_their_expected_outcome() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let expected_text = std::fs::read_to_string(dir.join("EXPECTED")).unwrap();
    let expected: BTreeMap<&str, &str> = expected_text
        .lines()
        .filter_map(|l| l.split_once(" => "))
        .collect();
    let mut seen = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "EXPECTED" {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let got = outcome(&text);
        match expected.get(name.as_str()) {
            Some(want) if got.starts_with(want) => {}
            Some(want) => failures.push(format!("{name}: got {got:?}, want prefix {want:?}")),
            None => failures.push(format!("{name} has no line in EXPECTED; got {got:?}")),
        }
        seen += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        seen,
        expected.len(),
        "every EXPECTED line names a corpus file"
    );
}
