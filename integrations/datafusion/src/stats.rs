//! Row-count estimates for DataFusion (`docs/distributed.md`, "Rows of a
//! measurement table"): from the adapter's index
//! (`StorageAdapter::point_count`), never by reading points. A row is a
//! (tag set, time) at which some field has a point, so the rows of a scan
//! lie between the largest field count and the sum of them; the estimate
//! is the largest (exact when the fields share their timestamps, as
//! metrics sampled together do), and always `Precision::Inexact`.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::stats::Precision;
use datafusion::common::Statistics;
use tsq_engine::{ScanRequest, StorageAdapter, TagPredicate, TimeRange};

/// The estimated rows of `fields` of `measurement` under `predicate` and
/// `range`; `None` when the adapter cannot count a field from its index
/// (or an index lookup fails: an estimate is never worth an error).
pub(crate) async fn row_estimate(
    adapter: &Arc<dyn StorageAdapter>,
    measurement: &str,
    fields: &[&str],
    predicate: &TagPredicate,
    range: TimeRange,
) -> Option<u64> {
    let mut rows = 0;
    for field in fields {
        let mut request = ScanRequest::new(measurement, field);
        request.predicate = predicate.clone();
        request.range = range;
        rows = rows.max(adapter.point_count(&request).await.ok()??);
    }
    Some(rows)
}

/// DataFusion statistics with `rows` as an inexact row count (capped by
/// `limit`), the rest unknown.
pub(crate) fn statistics(schema: &Schema, rows: Option<u64>, limit: Option<usize>) -> Statistics {
    let mut stats = Statistics::new_unknown(schema);
    if let Some(rows) = rows {
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        stats.num_rows = Precision::Inexact(limit.map_or(rows, |l| rows.min(l)));
    }
    stats
}
