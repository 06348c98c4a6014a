//! `SHOW` statements over a small memory store, through the session (so
//! through the parser, the query object and the adapter's catalog), their
//! rows pinned as insta snapshots; errors with their positions.

use std::sync::Arc;

use arrow::array::AsArray;
use tsq_storage::memory::MemoryAdapter;

use crate::{QueryKind, Session, SessionConfig};

/// cpu: hosts a (eu) and b (us), fields usage and idle; host c (eu) has
/// only usage; mem: host a, field used; disk: "my dc" = 'x,y', field free.
fn session() -> Session {
    let store = MemoryAdapter::new();
    for (host, dc) in [("a", "eu"), ("b", "us")] {
        for field in ["usage", "idle"] {
            store.insert("cpu", &[("host", host), ("dc", dc)], field, &[(0, 1.0)]);
        }
    }
    store.insert("cpu", &[("host", "c"), ("dc", "eu")], "usage", &[(0, 1.0)]);
    store.insert("mem", &[("host", "a")], "used", &[(0, 1.0)]);
    store.insert("disk", &[("my dc", "x,y")], "free", &[(0, 1.0)]);
    Session::new(Arc::new(store), SessionConfig::default().with_batch_size(2))
}

/// The rows of `q`: a header line, then one line per row, cells joined by
/// ` | `.
fn show(q: &str) -> String {
    let out = futures::executor::block_on(session().execute(q)).unwrap();
    let QueryKind::Rows { schema, batches } = out.kind else {
        panic!("rows expected")
    };
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut lines = vec![names.join(" | ")];
    for b in &batches {
        assert!(b.num_rows() <= 2, "batches of at most the batch size");
        for r in 0..b.num_rows() {
            let cells: Vec<&str> = b
                .columns()
                .iter()
                .map(|c| c.as_string::<i32>().value(r))
                .collect();
            lines.push(cells.join(" | "));
        }
    }
    for n in &out.notices {
        lines.push(format!("notice: {n}"));
    }
    lines.join("\n")
}

fn err(q: &str) -> String {
    futures::executor::block_on(session().execute(q))
        .unwrap_err()
        .to_string()
}

#[test]
fn measurements_and_keys() {
    insta::assert_snapshot!(show("SHOW MEASUREMENTS"), @r"
    name
    cpu
    disk
    mem
    ");
    insta::assert_snapshot!(show("show tag keys from cpu;"), @r"
    measurement | tagKey
    cpu | dc
    cpu | host
    ");
    insta::assert_snapshot!(show("SHOW TAG KEYS"), @r"
    measurement | tagKey
    cpu | dc
    cpu | host
    disk | my dc
    mem | host
    ");
    insta::assert_snapshot!(show("SHOW FIELD KEYS FROM cpu"), @r"
    measurement | fieldKey | fieldType
    cpu | idle | float
    cpu | usage | float
    ");
}

#[test]
fn tag_values_with_and_without_where() {
    insta::assert_snapshot!(show("SHOW TAG VALUES FROM cpu WITH KEY = host"), @r"
    measurement | key | value
    cpu | host | a
    cpu | host | b
    cpu | host | c
    ");
    insta::assert_snapshot!(show("SHOW TAG VALUES FROM cpu WITH KEY = host WHERE dc = 'eu'"), @r"
    measurement | key | value
    cpu | host | a
    cpu | host | c
    ");
    // every measurement that has the key
    insta::assert_snapshot!(show("SHOW TAG VALUES WITH KEY = host WHERE host != 'b'"), @r"
    measurement | key | value
    cpu | host | a
    cpu | host | c
    mem | host | a
    ");
}

#[test]
fn series_with_where_limit_and_escapes() {
    // one row per tag set (fields are not part of a series key here)
    insta::assert_snapshot!(show("SHOW SERIES"), @r"
    key
    cpu,dc=eu,host=a
    cpu,dc=eu,host=c
    cpu,dc=us,host=b
    disk,my\ dc=x\,y
    mem,host=a
    ");
    insta::assert_snapshot!(show("SHOW SERIES FROM cpu WHERE host IN ('a', 'b') LIMIT 1"), @r"
    key
    cpu,dc=eu,host=a
    ");
    insta::assert_snapshot!(show("SHOW SERIES FROM nope"), @r"
    key
    notice: measurement 'nope' does not exist: the result is empty
    ");
}

#[test]
fn errors_name_their_position() {
    assert_eq!(
        err("SHOW TABLES"),
        "parse error at 1:6: expected MEASUREMENTS, TAG KEYS, TAG VALUES, FIELD KEYS or SERIES after SHOW, found 'TABLES'"
    );
    assert_eq!(
        err("SHOW TAG VALUES FROM cpu"),
        "parse error at 1:25: expected WITH KEY = <tag key>, found end of statement"
    );
    assert_eq!(
        err("SHOW TAG KEYS WHERE host = 'a'"),
        "parse error at 1:15: WHERE is taken by SHOW TAG VALUES and SHOW SERIES only"
    );
    assert_eq!(
        err("SHOW SERIES WHERE time > 0"),
        "plan error at 1:19: SHOW ... WHERE takes tag tests only, not time bounds (the index has no time)"
    );
    assert_eq!(
        err("SHOW SERIES FROM cpu WHERE hots = 'a'"),
        "plan error at 1:28: unknown tag 'hots' in measurement 'cpu' (tags: dc, host)"
    );
    assert_eq!(
        err("EXPLAIN SHOW MEASUREMENTS"),
        "parse error at 1:1: EXPLAIN takes a SELECT statement, not SHOW"
    );
    assert_eq!(
        err("SHOW MEASUREMENTS LIMIT 2"),
        "parse error at 1:19: LIMIT is taken by SHOW SERIES only"
    );
}

#[test]
fn listings_are_reserved_on_the_budget() {
    // five series keys of about 20 bytes each, plus the row overheads, do
    // not fit 64 bytes
    let store = MemoryAdapter::new();
    for h in ["a", "b", "c", "d", "e"] {
        store.insert("cpu", &[("host", h)], "usage", &[(0, 1.0)]);
    }
    let tight = SessionConfig::default().with_memory_budget(64);
    let s = Session::new(Arc::new(store), tight);
    let e = futures::executor::block_on(s.execute("SHOW SERIES")).unwrap_err();
    assert!(e.is_resources_exhausted(), "{e}");
    assert!(e.to_string().contains("Show"), "{e}");
}
