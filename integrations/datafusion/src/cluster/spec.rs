//! What the coordinator needs to know of a planned tsq statement to merge
//! the shards' answers (`docs/distributed.md`, "What runs where"): which
//! value columns may be combined across shards, `ORDER BY` and `LIMIT`.
//! A worker plans the statement on its store and sends this with the
//! result schema; the coordinator has no store to plan against.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion_proto::protobuf;
use prost::Message;
use tsq_engine::Aggregator;
use tsq_planner::plan::ResultColumn;
use tsq_planner::LogicalPlan;

use crate::error::{Error, Result};

/// How a value column of rows from two shards with the same key combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The larger value (`max`): exact.
    Max,
    /// The smaller value (`min`): exact.
    Min,
    /// Not without partial aggregate states (`avg`, `sum`, …).
    NeedsPartials,
}

/// The merge spec of a statement; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeSpec {
    /// The result schema.
    pub schema: SchemaRef,
    /// Per result column: `None` for key columns (`time`, tags), else how
    /// the value combines.
    pub combine: Vec<Option<Combine>>,
    /// `ORDER BY`: result column index, descending.
    pub order_by: Vec<(usize, bool)>,
    /// `LIMIT`.
    pub limit: Option<usize>,
    /// tsq's plan in one line (EXPLAIN).
    pub plan_line: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct MergeSpecProto {
    #[prost(message, optional, tag = "1")]
    schema: Option<protobuf::Schema>,
    /// 0 key, 1 max, 2 min, 3 needs partials.
    #[prost(uint32, repeated, tag = "2")]
    combine: Vec<u32>,
    #[prost(uint32, repeated, tag = "3")]
    order_columns: Vec<u32>,
    #[prost(bool, repeated, tag = "4")]
    order_desc: Vec<bool>,
    #[prost(uint64, optional, tag = "5")]
    limit: Option<u64>,
    #[prost(string, tag = "6")]
    plan_line: String,
}

impl MergeSpec {
    /// The spec of `plan` whose result schema is `schema`.
    pub fn from_plan(plan: Option<&LogicalPlan>, schema: SchemaRef, plan_line: String) -> Self {
        let keys = 1 + plan.map_or(0, |p| p.tag_columns.len());
        let mut combine: Vec<Option<Combine>> = vec![None; keys.min(schema.fields().len())];
        let (mut order_by, mut limit) = (Vec::new(), None);
        if let Some(plan) = plan {
            for column in &plan.columns {
                let c = match column {
                    ResultColumn::Output(i) => match plan.outputs[*i].aggregate {
                        Some(Aggregator::Max | Aggregator::MimMax) => Combine::Max,
                        Some(Aggregator::Min | Aggregator::MimMin) => Combine::Min,
                        _ => Combine::NeedsPartials,
                    },
                    _ => Combine::NeedsPartials,
                };
                combine.push(Some(c));
            }
            // Value filters over aggregates see one shard's partial value.
            if !plan.value_filters.is_empty() || !plan.expr_filters.is_empty() {
                for c in combine.iter_mut().flatten() {
                    *c = Combine::NeedsPartials;
                }
            }
            for item in &plan.order_by {
                if let Ok(i) = schema.index_of(&item.column.value) {
                    order_by.push((i, item.descending));
                }
            }
            limit = plan.limit;
        }
        combine.resize(schema.fields().len(), Some(Combine::NeedsPartials));
        MergeSpec {
            schema,
            combine,
            order_by,
            limit,
            plan_line,
        }
    }

    /// Protobuf bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let proto = MergeSpecProto {
            schema: Some(
                self.schema
                    .as_ref()
                    .try_into()
                    .map_err(|e| Error::Protocol(format!("encoding the schema: {e}")))?,
            ),
            combine: self
                .combine
                .iter()
                .map(|c| match c {
                    None => 0,
                    Some(Combine::Max) => 1,
                    Some(Combine::Min) => 2,
                    Some(Combine::NeedsPartials) => 3,
                })
                .collect(),
            order_columns: self.order_by.iter().map(|(i, _)| *i as u32).collect(),
            order_desc: self.order_by.iter().map(|(_, d)| *d).collect(),
            limit: self.limit.map(|l| l as u64),
            plan_line: self.plan_line.clone(),
        };
        Ok(proto.encode_to_vec())
    }

    /// From protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let proto = MergeSpecProto::decode(bytes)
            .map_err(|e| Error::Protocol(format!("merge spec: {e}")))?;
        let schema: Schema = proto
            .schema
            .as_ref()
            .ok_or_else(|| Error::Protocol("merge spec without a schema".into()))?
            .try_into()
            .map_err(|e| Error::Protocol(format!("decoding the schema: {e}")))?;
        Ok(MergeSpec {
            schema: Arc::new(schema),
            combine: proto
                .combine
                .iter()
                .map(|c| match c {
                    0 => None,
                    1 => Some(Combine::Max),
                    2 => Some(Combine::Min),
                    _ => Some(Combine::NeedsPartials),
                })
                .collect(),
            order_by: proto
                .order_columns
                .iter()
                .zip(&proto.order_desc)
                .map(|(i, d)| (*i as usize, *d))
                .collect(),
            limit: proto.limit.map(|l| l as usize),
            plan_line: proto.plan_line,
        })
    }
}
