//! One stamp for the single bucket of `SAMPLE BY ALL` across value columns.
//! Without a lower time bound, a pipeline's range starts at the first point
//! of the data it reads (`docs/semantics.md` §5), so two fields whose data
//! start at different times would stamp their buckets differently and the
//! result join, on (group, time), would give a group one row per stamp
//! instead of one row. Before the pipelines are built, the start of every
//! pipeline is set to the earliest data span start among them: the first
//! matching point of the query (`docs/semantics.md` §5 and §11). This reads
//! the data spans, so a plain `EXPLAIN`, which reads no storage, skips it.

use std::sync::Arc;

use tsq_engine::spec::Interval;
use tsq_engine::StorageAdapter;

use crate::error::Result;
use crate::plan::LogicalPlan;

/// Sets the range start of every pipeline of a `SAMPLE BY ALL` plan with
/// several pipelines and no lower time bound to the earliest start of their
/// data spans (nothing when no pipeline has data).
pub(crate) async fn share_sample_all_start(
    plan: &mut LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
) -> Result<()> {
    let sample_all = plan
        .downsample
        .is_some_and(|ds| ds.interval == Interval::All);
    if !sample_all
        || plan.pipelines.len() < 2
        || plan
            .pipelines
            .iter()
            .any(|p| p.spec.scan.range.start.is_some())
    {
        return Ok(());
    }
    let mut first: Option<i64> = None;
    for p in &plan.pipelines {
        if let Some((start, _)) = adapter.time_span(&p.spec.scan).await? {
            first = Some(first.map_or(start, |f| f.min(start)));
        }
    }
    let Some(first) = first else {
        return Ok(());
    };
    for p in &mut plan.pipelines {
        p.spec.scan.range.start = Some(first);
    }
    Ok(())
}
