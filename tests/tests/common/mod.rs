//! Helpers shared by the end-to-end tests: run a [`PipelineSpec`] through the
//! operator DAG or the materialized executor and flatten the result into
//! comparable rows.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use tsq_engine::materialized;
use tsq_engine::spec::{AggStrategy, PipelineSpec};
use tsq_engine::{build_pipeline, collect, StorageAdapter, TaskContext, TimelineBatch};

/// One result row: the series (or group) key, the time, the value (`None` = null).
pub type Row = (String, i64, Option<f64>);

/// Flattens batches into rows, in batch order.
pub fn rows(batches: &[TimelineBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        for tl in b.timelines() {
            let key = b.registry().get(tl.series_id).expect("registered").key();
            for i in 0..tl.len() {
                out.push((key.clone(), tl.times[i], tl.value(i)));
            }
        }
    }
    out
}

/// Runs `spec` through the operator DAG built for `strategy`.
pub async fn run_pipeline(
    spec: &PipelineSpec,
    adapter: &Arc<dyn StorageAdapter>,
    strategy: AggStrategy,
    batch_size: usize,
) -> Vec<Row> {
    let mut root = build_pipeline(spec, Arc::clone(adapter), strategy)
        .await
        .unwrap_or_else(|e| panic!("build {strategy}: {e}"));
    let ctx = TaskContext::with_batch_size(batch_size);
    let batches = collect(root.as_mut(), &ctx)
        .await
        .unwrap_or_else(|e| panic!("run {strategy} at batch size {batch_size}: {e}"));
    for b in &batches {
        assert!(
            b.num_rows() <= batch_size,
            "{strategy}: batch of {} rows",
            b.num_rows()
        );
    }
    rows(&batches)
}

/// Runs `spec` through the materialized executor.
pub async fn run_materialized(
    spec: &PipelineSpec,
    adapter: &Arc<dyn StorageAdapter>,
    batch_size: usize,
) -> Vec<Row> {
    let batches = materialized::execute(spec, adapter.as_ref(), batch_size)
        .await
        .unwrap_or_else(|e| panic!("materialized: {e}"));
    rows(&batches)
}

/// True when two values are equal: both null, both NaN, or within 1e-9
/// (absolute or relative).
pub fn same_value(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if a.is_nan() || b.is_nan() => a.is_nan() && b.is_nan(),
        (Some(a), Some(b)) => {
            a == b || (a - b).abs() <= 1e-9 || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
        }
        _ => false,
    }
}

/// `Err` with the first difference between two row lists.
pub fn compare(what: &str, expected: &[Row], actual: &[Row]) -> Result<(), String> {
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e.0 != a.0 || e.1 != a.1 || !same_value(e.2, a.2) {
            return Err(format!(
                "{what}: row {i} differs: expected {e:?}, got {a:?}"
            ));
        }
    }
    if expected.len() != actual.len() {
        return Err(format!(
            "{what}: {} rows expected, got {}; first extra: {:?}",
            expected.len(),
            actual.len(),
            expected.get(actual.len()).or(actual.get(expected.len()))
        ));
    }
    Ok(())
}
