//! Shared fixtures of the planner's integration tests: a small hand-made
//! data set in a `MemoryAdapter`, sessions over it, and a row printer.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use arrow::array::{Array, Float64Array, StringArray, TimestampNanosecondArray};
use tsq_engine::spec::AggStrategy;
use tsq_engine::{Capabilities, StorageAdapter};
use tsq_planner::{QueryKind, QueryOutput, Session, SessionConfig};
use tsq_storage::memory::MemoryAdapter;

/// The data set (times in ns):
///
/// ```text
/// cpu,dc=eu,host=a  usage: (0,1) (10,2) (20,3)   bytes: (5,50)
/// cpu,dc=eu,host=b  usage: (0,10) (20,30)
/// cpu,dc=us,host=c  usage: (10,100)
/// mem,host=a        used: (0,7)
/// ```
pub fn adapter(caps: Capabilities) -> Arc<dyn StorageAdapter> {
    let m = MemoryAdapter::new().with_capabilities(caps);
    m.insert(
        "cpu",
        &[("dc", "eu"), ("host", "a")],
        "usage",
        &[(0, 1.0), (10, 2.0), (20, 3.0)],
    );
    m.insert("cpu", &[("dc", "eu"), ("host", "a")], "bytes", &[(5, 50.0)]);
    m.insert(
        "cpu",
        &[("dc", "eu"), ("host", "b")],
        "usage",
        &[(0, 10.0), (20, 30.0)],
    );
    m.insert(
        "cpu",
        &[("dc", "us"), ("host", "c")],
        "usage",
        &[(10, 100.0)],
    );
    m.insert("mem", &[("host", "a")], "used", &[(0, 7.0)]);
    Arc::new(m)
}

/// A session over the data set.
pub fn session(caps: Capabilities, force: Option<AggStrategy>) -> Session {
    Session::new(
        adapter(caps),
        // one thread: the plans do not depend on the machine's cores
        SessionConfig::new()
            .with_threads(1)
            .with_force_strategy(force),
    )
}

/// Every row as `time|tag..|value..` (`null` for a null value).
pub fn rows(out: &QueryOutput) -> Vec<String> {
    let QueryKind::Rows { schema, batches } = &out.kind else {
        panic!("expected rows, got {:?}", out.kind);
    };
    let mut lines = Vec::new();
    for b in batches {
        assert_eq!(b.schema(), *schema);
        for r in 0..b.num_rows() {
            let mut cells = Vec::new();
            for c in b.columns() {
                let any = c.as_any();
                let cell = if let Some(t) = any.downcast_ref::<TimestampNanosecondArray>() {
                    t.value(r).to_string()
                } else if let Some(s) = any.downcast_ref::<StringArray>() {
                    s.value(r).to_string()
                } else if let Some(f) = any.downcast_ref::<Float64Array>() {
                    if f.is_null(r) {
                        "null".to_string()
                    } else {
                        f.value(r).to_string()
                    }
                } else {
                    panic!("unexpected column type {:?}", c.data_type())
                };
                cells.push(cell);
            }
            lines.push(cells.join("|"));
        }
    }
    lines
}

/// The column names of a result.
pub fn columns(out: &QueryOutput) -> Vec<String> {
    let QueryKind::Rows { schema, .. } = &out.kind else {
        panic!("expected rows");
    };
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

/// The EXPLAIN text of an output.
pub fn explain_text(out: &QueryOutput) -> &str {
    match &out.kind {
        QueryKind::Explain(t) => t,
        other => panic!("expected EXPLAIN text, got {other:?}"),
    }
}

/// A tiny deterministic generator (64-bit LCG, high bits) for the seeded
/// random data sets of the differential tests.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number in `0..n`.
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
