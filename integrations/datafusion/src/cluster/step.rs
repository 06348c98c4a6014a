//! A worker's part of a cluster query (`docs/distributed.md`, "What runs
//! where"): plan the statement over the cluster's catalog (so that every
//! shard and the coordinator make one plan), run each pipeline's shard step
//! (`tsq_engine::partition::build_shard_step`) on this shard's store, and
//! pack the outputs as envelopes (`wire.rs`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array, UInt64Array};
use datafusion::arrow::compute::concat_batches;
use tsq_engine::partition::{build_shard_step, ShardStep};
use tsq_engine::{collect, SeriesRegistry, StorageAdapter, TaskContext, TimelineBatch};
use tsq_planner::{LogicalPlan, Session, SessionConfig};

use super::catalog::{CatalogView, ShardCatalog};
use super::shard::ShardId;
use super::wire::{registry_series, Envelope, PayloadKind};
use crate::error::{Error, Result};

/// The plan of `sql` over `catalog` (the cluster's union), reading from
/// `store` (`None` on the coordinator, which only plans).
pub async fn plan_over(
    catalog: Arc<ShardCatalog>,
    store: Option<Arc<dyn StorageAdapter>>,
    config: &SessionConfig,
    sql: &str,
) -> Result<(LogicalPlan, Arc<dyn StorageAdapter>)> {
    let view: Arc<dyn StorageAdapter> = Arc::new(CatalogView::new(catalog, store));
    let session = Session::new(Arc::clone(&view), config.clone());
    let statement = tsq_planner::parse_statement(sql)?;
    let (plan, _) = session.plan(&statement).await?;
    Ok((plan, view))
}

/// The task context of a query under `config`.
pub(crate) fn task_context(config: &SessionConfig) -> TaskContext {
    TaskContext::with_batch_size(config.batch_size).with_memory_budget(config.memory_budget)
}

/// Runs shard `shard`'s part of `sql` over `store` and returns its
/// envelopes: partial states of every streaming aggregation, timelines of
/// the other pipelines.
pub async fn run_shard(
    store: Arc<dyn StorageAdapter>,
    config: &SessionConfig,
    catalog: Arc<ShardCatalog>,
    shard: ShardId,
    sql: &str,
) -> Result<RecordBatch> {
    let (plan, view) = plan_over(catalog, Some(store), config, sql).await?;
    let ctx = task_context(config);
    let mut envelopes = Vec::new();
    for (i, p) in plan.pipelines.iter().enumerate() {
        let step = build_shard_step(&p.spec, Arc::clone(&view), p.strategy, p.read).await?;
        match step {
            ShardStep::Partial(mut op) => {
                let Some((states, groups)) = op.run_partial(&ctx).await? else {
                    continue;
                };
                let (payload, ties) = local_ties_to_ranks(&states, op.input_registry())?;
                envelopes.push(Envelope {
                    shard,
                    pipeline: i,
                    kind: PayloadKind::States,
                    payload,
                    series: registry_series(&groups),
                    ties,
                });
            }
            ShardStep::Below(mut op) | ShardStep::Whole(mut op) => {
                let batches = collect(op.as_mut(), &ctx).await?;
                envelopes.extend(timeline_envelopes(shard, i, &batches)?);
            }
        }
    }
    Envelope::encode_all(&envelopes)
}

/// Consecutive batches over one registry, as one envelope each.
fn timeline_envelopes(
    shard: ShardId,
    pipeline: usize,
    batches: &[TimelineBatch],
) -> Result<Vec<Envelope>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < batches.len() {
        let registry = batches[start].registry();
        let end = (start..batches.len())
            .find(|&k| !Arc::ptr_eq(batches[k].registry(), registry))
            .unwrap_or(batches.len());
        let records: Vec<RecordBatch> = batches[start..end]
            .iter()
            .map(|b| b.record_batch().clone())
            .collect();
        let payload = concat_batches(&records[0].schema(), &records)?;
        out.push(Envelope {
            shard,
            pipeline,
            kind: PayloadKind::Timelines,
            payload,
            series: registry_series(registry),
            ties: Vec::new(),
        });
        start = end;
    }
    Ok(out)
}

/// First / last states: the tie series ids (this shard's) replaced by
/// their rank among the tie series that matter (rows with a counted
/// value), with those series in key order; other states unchanged.
/// Ranks keep the order of ids (ids ascend with the series key), so the
/// coordinator can rank every shard's series together.
fn local_ties_to_ranks(
    states: &RecordBatch,
    registry: Option<&Arc<SeriesRegistry>>,
) -> Result<(RecordBatch, Vec<tsq_engine::SeriesInfo>)> {
    let schema = states.schema();
    let Some(c) = schema
        .fields()
        .iter()
        .position(|f| f.name() == "first_series" || f.name() == "last_series")
    else {
        return Ok((states.clone(), Vec::new()));
    };
    let registry =
        registry.ok_or_else(|| Error::Protocol("first/last states without their series".into()))?;
    let ids = downcast::<UInt32Array>(states.column(c), "tie series")?;
    let count = downcast::<UInt64Array>(states.column(2), "count")?;
    let mut used: Vec<u32> = (0..ids.len())
        .filter(|&r| count.value(r) > 0)
        .map(|r| ids.value(r))
        .collect();
    used.sort_unstable();
    used.dedup();
    let ties = used
        .iter()
        .map(|&id| {
            registry
                .get(id)
                .cloned()
                .ok_or_else(|| Error::Protocol(format!("tie series {id} is not in the scan")))
        })
        .collect::<Result<Vec<_>>>()?;
    let ranks: UInt32Array = (0..ids.len())
        .map(|r| {
            if count.value(r) == 0 {
                return 0;
            }
            used.binary_search(&ids.value(r)).unwrap_or(0) as u32
        })
        .collect();
    let mut columns: Vec<ArrayRef> = states.columns().to_vec();
    columns[c] = Arc::new(ranks);
    Ok((RecordBatch::try_new(schema, columns)?, ties))
}

/// `column` as `T`, or a protocol error naming it.
pub(crate) fn downcast<'a, T: 'static>(column: &'a ArrayRef, what: &str) -> Result<&'a T> {
    column.as_any().downcast_ref::<T>().ok_or_else(|| {
        Error::Protocol(format!("the {what} column has type {}", column.data_type()))
    })
}
