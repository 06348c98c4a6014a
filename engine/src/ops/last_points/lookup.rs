//! The newest-point lookup of a [`LastPointsOp`](super::LastPointsOp):
//! one [`StorageAdapter::last_points_group`] call for every column's field,
//! or, over a large selection with several threads, one call per chunk of
//! the selection's series ([`PartitionBy::Series`]) on tasks of their own,
//! each also grouping its points, so that every core works
//! (`docs/architecture.md`, "Last point as one operator").
//!
//! ```text
//!   small selection or 1 thread:  last_points_group(fields)            ──▶ GroupTable
//!   large, P threads:             last_points_group(fields, chunk 1/P) ──▶ GroupTable ─┐
//!                                 ... (P-1 spawned tasks)                              ├─ absorb in
//!                                 last_points_group(fields, chunk P/P) ──▶ GroupTable ─┘  chunk order
//! ```

use std::sync::Arc;

use futures::channel::oneshot;

use super::table::GroupTable;
use crate::batch::TimelineBatch;
use crate::context::TaskContext;
use crate::error::{EngineError, Result};
use crate::partition::{Partition, PartitionBy};
use crate::scan_group::{ScanGroup, ScanMember};
use crate::storage::{ScanRequest, StorageAdapter};

/// Below this many series in the measurement (every field), the lookup is
/// one call on the operator's task: a spawned task costs more than it saves.
pub const SPLIT_MIN_SERIES: usize = 16_384;

/// How a lookup may be split.
#[derive(Debug, Clone, Copy)]
pub(super) struct Split {
    /// Most chunks (the query's threads).
    pub(super) chunks: usize,
    /// The fewest series of the measurement to split.
    pub(super) min_series: usize,
}

/// What the lookup of one chunk (or the whole selection) gave: the group
/// table of its points, and per column whether a newest point is NaN.
pub(super) struct Looked {
    /// The groups and their last points.
    pub(super) table: GroupTable,
    /// Per column: a newest point is NaN (the column must be scanned).
    pub(super) nan: Vec<bool>,
    /// Points read.
    pub(super) points: usize,
}

/// How the lookup was split: the chunks asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunks(pub(super) usize);

/// The newest points of `fields` (one per column) over `request`, grouped
/// by the tags `by`: one call, or `split.chunks` chunks on tasks of their
/// own when there are several, `ctx` can spawn and the measurement holds at
/// least `split.min_series` series.
pub(super) async fn look_up(
    adapter: &Arc<dyn StorageAdapter>,
    request: &ScanRequest,
    fields: &[String],
    by: &[String],
    split: Split,
    ctx: &TaskContext,
) -> Result<(Looked, Chunks)> {
    let chunks = match &ctx.spawner {
        Some(_) if split.chunks > 1 => {
            let series = adapter.series_count(&request.measurement).await?;
            if series >= split.min_series {
                split.chunks
            } else {
                1
            }
        }
        _ => 1,
    };
    let group = |index: usize| ScanGroup {
        request: request.clone(),
        members: fields
            .iter()
            .map(|f| ScanMember {
                field: f.clone(),
                partition: (chunks > 1).then_some(Partition {
                    index,
                    count: chunks,
                    by: PartitionBy::Series,
                }),
            })
            .collect(),
    };
    let Some(spawner) = ctx.spawner.as_ref().filter(|_| chunks > 1) else {
        let looked = look_up_chunk(adapter.as_ref(), &group(0), by).await?;
        return Ok((looked, Chunks(1)));
    };
    let mut pending = Vec::with_capacity(chunks - 1);
    for index in 1..chunks {
        let (tx, rx) = oneshot::channel();
        let (adapter, group, by) = (Arc::clone(adapter), group(index), by.to_vec());
        spawner.spawn(Box::pin(async move {
            let _ = tx.send(look_up_chunk(adapter.as_ref(), &group, &by).await);
        }));
        pending.push(rx);
    }
    let mut looked = look_up_chunk(adapter.as_ref(), &group(0), by).await?;
    for rx in pending {
        let chunk = rx.await.map_err(|_| {
            EngineError::execution("LastPointsOp", "a lookup task ended without an answer")
        })??;
        ctx.cancel.check()?;
        looked.table.absorb(chunk.table);
        looked.points += chunk.points;
        for (mine, theirs) in looked.nan.iter_mut().zip(chunk.nan) {
            *mine |= theirs;
        }
    }
    Ok((looked, Chunks(chunks)))
}

/// One `last_points_group` call for `group`, its points grouped by `by`.
async fn look_up_chunk(
    adapter: &dyn StorageAdapter,
    group: &ScanGroup,
    by: &[String],
) -> Result<Looked> {
    let batches = adapter.last_points_group(group).await?;
    let mut table = GroupTable::new(&group.request.measurement, by, batches.len());
    let mut nan = Vec::with_capacity(batches.len());
    let mut points = 0;
    for (column, batch) in batches.iter().enumerate() {
        points += batch.num_rows();
        let has_nan = any_nan(batch);
        nan.push(has_nan);
        if !has_nan {
            table.add(column, batch);
        }
    }
    Ok(Looked { table, nan, points })
}

/// True when a value of `batch` is NaN.
pub(super) fn any_nan(batch: &TimelineBatch) -> bool {
    batch
        .typed_values::<f64>()
        .is_some_and(|v| v.iter().any(|x| x.is_some_and(f64::is_nan)))
}
