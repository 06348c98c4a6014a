//! Fuzz target: arbitrary text through the parser and, for every statement
//! that parses, the logical planner and optimizer against a fixed catalog
//! under full and no adapter capabilities and every forced strategy. Any
//! panic is a bug: bad input must come back as a `TsqError`.

#![no_main]

use libfuzzer_sys::fuzz_target;
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

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(statements) = parse_script(text) else {
        return;
    };
    for st in statements {
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
                    let _ = plan_query(query, &catalog(caps, exists), force);
                }
            }
        }
    }
});
