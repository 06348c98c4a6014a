//! The `SAMPLE BY` bucket limit, checked before execution: a downsample
//! makes one bucket per interval of the query range for every timeline
//! (and a fill emits every one of them), so `SAMPLE BY 1ns` over years
//! would make more rows than any budget holds. The planner counts the
//! buckets of the resolved range (an unbounded end is taken from the
//! matching data, as execution does) and refuses a query that would make
//! more than [`SessionConfig::max_buckets`](crate::SessionConfig::max_buckets).
//! A plain `EXPLAIN` runs nothing and reads no storage: it checks the
//! bounded ranges only.

use std::sync::Arc;

use tsq_engine::spec::Interval;
use tsq_engine::{ReadPath, StorageAdapter, TimeRange};

use crate::error::{Pos, Result, TsqError};
use crate::optimizer::push_down_time_range::show;
use crate::plan::LogicalPlan;

/// Default of `SessionConfig::max_buckets`: ten million buckets per
/// timeline.
pub const DEFAULT_MAX_BUCKETS: u64 = 10_000_000;

/// Errors when a pipeline of `plan` would make more than `limit` buckets
/// per timeline. With `resolve` false (a plain `EXPLAIN`), a range with an
/// unbounded end is not looked up in the data and not checked.
///
/// A tail read (`docs/semantics.md` §10) resolves its range from the data
/// again when it is built, to place its window; the range resolved here is
/// kept in its scan request instead, so the data span is looked up once
/// (the same bounds either way: the points of the range are the same).
pub(crate) async fn check_bucket_limit(
    plan: &mut LogicalPlan,
    adapter: &Arc<dyn StorageAdapter>,
    limit: u64,
    resolve: bool,
) -> Result<()> {
    let Some(ds) = plan.downsample else {
        return Ok(());
    };
    let Interval::Every(_) = ds.interval else {
        return Ok(());
    };
    for p in &mut plan.pipelines {
        let range = p.spec.scan.range;
        let resolved = match (range.start, range.end) {
            (Some(start), Some(end)) => Some((start, end.max(start))),
            _ if !resolve => None,
            _ => {
                let resolved = range.resolve(adapter.time_span(&p.spec.scan).await?);
                if let (Some((start, end)), ReadPath::Tail { .. }) = (resolved, p.read) {
                    p.spec.scan.range = TimeRange::new(start, end);
                }
                resolved
            }
        };
        let Some((start, end)) = resolved else {
            continue;
        };
        let count = ds.grid(start, end)?.count as u64;
        if count > limit {
            let shown = show(&TimeRange::new(start, end));
            return Err(TsqError::plan(
                plan.sample_by_pos.unwrap_or(Pos::new(1, 1)),
                format!(
                    "SAMPLE BY {} over {shown} would make {count} buckets per timeline, more \
                     than the limit of {limit}: use a wider interval or a \
                     shorter time range, or raise the limit with --max-buckets on `tsq query` \
                     and `tsq`, `\\set max_buckets N` in the REPL, or \
                     SessionConfig::max_buckets",
                    ds.interval
                ),
            ));
        }
    }
    Ok(())
}
