//! The coordinator's final step of a cluster query (`docs/distributed.md`,
//! "What runs where"): each pipeline's output rebuilt from every shard's
//! envelopes, then tsq's own result join (`tsq_planner::physical`), so the
//! answer is the one a single store holding every shard's series gives.
//!
//! - Partial states: the shards' group ids are mapped to the groups one
//!   store would number (the union of the shards' groups, numbered by
//!   `Grouping` as the engine does), the first / last tie ids to the rank
//!   of their series among every shard's (ids ascend with the series key in
//!   one store too); the states are merged in shard order with
//!   `PartialStates::merge` and finished.
//! - Timelines: the shards' series ids are mapped to the union's (sorted by
//!   key, as an adapter numbers them); below an interpolating aggregation
//!   the aggregation itself then runs here (`GroupedAggOp`, `MTAggOp`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, DictionaryArray, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{SchemaRef, UInt32Type};
use tsq_engine::group::Grouping;
use tsq_engine::ops::grouped_agg::GroupedAggOp;
use tsq_engine::ops::mt_agg::MTAggOp;
use tsq_engine::partial::StateValue;
use tsq_engine::spec::{AggStrategy, PipelineSpec};
use tsq_engine::ValueType;
use tsq_engine::{
    Operator, PartialStates, SeriesInfo, SeriesRegistry, TimelineBatch, TimelineBatchBuilder,
};
use tsq_planner::physical::{run_joined, PhysicalPlan};
use tsq_planner::plan::PlannedPipeline;
use tsq_planner::result::JoinOptions;
use tsq_planner::{LogicalPlan, SessionConfig};

use super::source_op::ShardsOp;
use super::step::{downcast, task_context};
use super::wire::{Envelope, PayloadKind};
use crate::error::{Error, Result};

/// The result of `plan` from the shards' `envelopes`: its schema and
/// batches, as `Session::sql(…)` on one store would return them.
pub async fn final_merge(
    plan: &LogicalPlan,
    config: &SessionConfig,
    mut envelopes: Vec<Envelope>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    envelopes.sort_by_key(|e| (e.pipeline, e.shard));
    let shards = envelopes
        .iter()
        .map(|e| e.shard)
        .collect::<BTreeSet<_>>()
        .len();
    let ctx = task_context(config);
    let mut pipelines = Vec::with_capacity(plan.pipelines.len());
    for (i, p) in plan.pipelines.iter().enumerate() {
        let mine: Vec<&Envelope> = envelopes.iter().filter(|e| e.pipeline == i).collect();
        pipelines.push((p.output, pipeline_op(p, &mine, shards, ctx.batch_size)?));
    }
    if let Some(e) = envelopes
        .iter()
        .find(|e| e.pipeline >= plan.pipelines.len())
    {
        return Err(Error::Protocol(format!(
            "shard {} sent pipeline {} of a plan with {}",
            e.shard,
            e.pipeline,
            plan.pipelines.len()
        )));
    }
    // The coordinator joins the shards' streams on one task (threads: 1
    // below), so no pipeline runs as a task of its own.
    let mut physical = PhysicalPlan {
        pipelines,
        column_tasks: false,
    };
    let options = JoinOptions {
        threads: 1,
        dictionary_tags: config.dictionary_tags,
    };
    let done = run_joined(plan, &mut physical, &ctx, options).await?;
    Ok((done.schema, done.batches))
}

/// The operator standing for pipeline `p` on the coordinator.
fn pipeline_op(
    p: &PlannedPipeline,
    envelopes: &[&Envelope],
    shards: usize,
    batch_size: usize,
) -> Result<Box<dyn Operator>> {
    let spec = &p.spec;
    let streaming = spec.aggregate.is_some() && p.strategy == AggStrategy::Pipe;
    let expected = if streaming {
        PayloadKind::States
    } else {
        PayloadKind::Timelines
    };
    if let Some(e) = envelopes.iter().find(|e| e.kind != expected) {
        return Err(Error::Protocol(format!(
            "shard {} sent {:?} for a pipeline expecting {expected:?}",
            e.shard, e.kind
        )));
    }
    if streaming {
        let batches = merge_states(spec, envelopes, batch_size)?;
        return Ok(Box::new(ShardsOp::new("partial states", batches, shards)));
    }
    let source = Box::new(ShardsOp::new(
        "timelines",
        merge_timelines(p, envelopes, batch_size)?,
        shards,
    ));
    let (Some(agg), by, name) = (spec.aggregate, spec.group_by.clone(), &spec.output_name) else {
        return Ok(source);
    };
    // Integer selectors stay exact where nothing is interpolated
    // (`docs/semantics.md` §12), as in a single process.
    let aligned = tsq_engine::strategy::interpolation(spec).is_ok();
    Ok(match p.strategy {
        AggStrategy::Grouped => {
            Box::new(GroupedAggOp::new(source, agg, by, name.clone()).with_aligned_input(aligned))
        }
        _ => Box::new(MTAggOp::new(source, agg, by, name.clone()).with_aligned_input(aligned)),
    })
}

/// The shards' partial states of a streaming aggregation, merged and
/// finished into group timelines.
fn merge_states(
    spec: &PipelineSpec,
    envelopes: &[&Envelope],
    batch_size: usize,
) -> Result<Vec<TimelineBatch>> {
    let Some(agg) = spec.aggregate else {
        return Ok(Vec::new());
    };
    // The groups one store would have: the shards' groups, numbered by the
    // engine's own grouping.
    let mut union: Vec<SeriesInfo> = Vec::new();
    let mut index: HashMap<SeriesInfo, usize> = HashMap::new();
    for e in envelopes {
        for g in &e.series {
            if !index.contains_key(g) {
                index.insert(g.clone(), union.len());
                union.push(g.clone());
            }
        }
    }
    let grouping = Grouping::new(
        &SeriesRegistry::new(union.clone()),
        &spec.group_by,
        &spec.output_name,
    );
    let groups = Arc::clone(grouping.groups());
    let keys: ArrayRef = Arc::new(StringArray::from(
        groups.iter().map(|(_, g)| g.key()).collect::<Vec<_>>(),
    ));
    // The tie series of every shard, ranked together.
    let mut ties: Vec<SeriesInfo> = envelopes.iter().flat_map(|e| e.ties.clone()).collect();
    ties.sort();
    ties.dedup();

    let mut merged: Option<PartialStates> = None;
    for e in envelopes {
        let to_global: Vec<u32> = e
            .series
            .iter()
            .map(|g| grouping.group_of(index[g] as u32))
            .collect();
        let batch = remap_states(&e.payload, &to_global, &keys, &e.ties, &ties)?;
        let states = PartialStates::from_record_batch(&batch, agg, Arc::clone(&groups))?;
        merged = Some(match merged {
            None => states,
            Some(m) => m.merge(&states)?,
        });
    }
    let Some(states) = merged else {
        return Ok(Vec::new());
    };
    // Selectors over an integer field keep its type (`docs/semantics.md` §12).
    match states.value_type() {
        ValueType::Integer => finish_states::<i64>(&states, groups, batch_size),
        ValueType::Unsigned => finish_states::<u64>(&states, groups, batch_size),
        _ => finish_states::<f64>(&states, groups, batch_size),
    }
}

/// The final values of merged `states`, as batches of `V` values of at
/// most `batch_size` rows.
fn finish_states<V: StateValue>(
    states: &PartialStates,
    groups: Arc<SeriesRegistry>,
    batch_size: usize,
) -> Result<Vec<TimelineBatch>> {
    let mut out = Vec::new();
    let mut builder = TimelineBatchBuilder::<V>::typed(groups, batch_size);
    for r in 0..states.len() {
        let (group, time) = states.key(r);
        let value = V::result(states, r).ok_or_else(|| {
            Error::Protocol(format!(
                "merged partial states do not hold {} values",
                V::VALUE_TYPE
            ))
        })?;
        builder.push(group, time, value);
        if builder.len() >= batch_size {
            out.push(builder.finish()?);
        }
    }
    if !builder.is_empty() {
        out.push(builder.finish()?);
    }
    Ok(out)
}

/// One shard's states batch with its group ids mapped by `to_global`
/// (the dictionary replaced by the union's `keys`) and its tie ranks mapped
/// from its `local` tie series to their rank among `all`.
fn remap_states(
    batch: &RecordBatch,
    to_global: &[u32],
    keys: &ArrayRef,
    local: &[SeriesInfo],
    all: &[SeriesInfo],
) -> Result<RecordBatch> {
    let group = batch
        .column(0)
        .as_any()
        .downcast_ref::<DictionaryArray<UInt32Type>>()
        .ok_or_else(|| Error::Protocol("the group column is not a dictionary".into()))?;
    let ids = group
        .keys()
        .values()
        .iter()
        .map(|&k| {
            to_global.get(k as usize).copied().ok_or_else(|| {
                Error::Protocol(format!("group {k} is not among the shard's groups"))
            })
        })
        .collect::<Result<Vec<u32>>>()?;
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[0] = Arc::new(DictionaryArray::<UInt32Type>::try_new(
        UInt32Array::from(ids),
        Arc::clone(keys),
    )?);
    let schema = batch.schema();
    if let Some(c) = schema
        .fields()
        .iter()
        .position(|f| f.name() == "first_series" || f.name() == "last_series")
    {
        let ranks = downcast::<UInt32Array>(batch.column(c), "tie series")?;
        let count = downcast::<UInt64Array>(batch.column(2), "count")?;
        let global = (0..ranks.len())
            .map(|r| {
                if count.value(r) == 0 {
                    return Ok(0);
                }
                let series = local.get(ranks.value(r) as usize).ok_or_else(|| {
                    Error::Protocol(format!("tie rank {} out of range", ranks.value(r)))
                })?;
                Ok(all.binary_search(series).unwrap_or(0) as u32)
            })
            .collect::<Result<Vec<u32>>>()?;
        columns[c] = Arc::new(UInt32Array::from(global));
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The shards' timelines over the union of their series (numbered by key,
/// as one store's scan numbers them), in the order the pipeline's
/// aggregation reads them: by (group, series) for `GroupedAggOp`, by
/// series otherwise.
fn merge_timelines(
    p: &PlannedPipeline,
    envelopes: &[&Envelope],
    batch_size: usize,
) -> Result<Vec<TimelineBatch>> {
    let mut series: Vec<SeriesInfo> = envelopes.iter().flat_map(|e| e.series.clone()).collect();
    series.sort();
    series.dedup();
    let registry = Arc::new(SeriesRegistry::new(series.clone()));
    let mut points: BTreeMap<u32, (Vec<i64>, Vec<Option<f64>>)> = BTreeMap::new();
    for e in envelopes {
        let local = Arc::new(SeriesRegistry::new(e.series.clone()));
        let batch = TimelineBatch::try_new(e.payload.clone(), local)?;
        for tl in batch.timelines() {
            let info = e.series.get(tl.series_id as usize).ok_or_else(|| {
                Error::Protocol(format!("series {} not in the shard's list", tl.series_id))
            })?;
            let id = series.binary_search(info).unwrap_or(0) as u32;
            let (times, values) = points.entry(id).or_default();
            times.extend_from_slice(tl.times);
            values.extend((0..tl.len()).map(|i| tl.value(i)));
        }
    }
    let order: Vec<u32> = if p.spec.aggregate.is_some() && p.strategy == AggStrategy::Grouped {
        Grouping::new(&registry, &p.spec.group_by, &p.spec.output_name).scan_order()
    } else {
        (0..registry.len() as u32).collect()
    };
    let mut out = Vec::new();
    let mut builder = TimelineBatchBuilder::new(Arc::clone(&registry), batch_size);
    for id in order {
        let Some((times, values)) = points.get(&id) else {
            continue;
        };
        for (t, v) in times.iter().zip(values) {
            builder.push(id, *t, *v);
        }
        if builder.len() >= batch_size {
            out.push(builder.finish()?);
        }
    }
    if !builder.is_empty() {
        out.push(builder.finish()?);
    }
    Ok(out)
}
