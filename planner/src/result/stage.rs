//! `ResultStage`: the result stage of a query as it streams. The
//! [`MergeJoin`] of its pipelines, then, when the select list has
//! expressions or `WHERE` compares them (`project.rs`), the projection of
//! each batch the join emits onto the result's columns.
//!
//! ```text
//!   pipelines ─▶ MergeJoin ─▶ batch ─▶ Projection ─┬─▶ LIMIT ─▶ result batches (streaming)
//!              (value filters,       (comparisons, └─▶ ExprSort (ORDER BY an expression:
//!               ORDER BY, LIMIT)      expressions)      every row, then sorted) ─▶ batches
//! ```
//!
//! Without a projection the join's batches go out as they are. With one,
//! each joined batch is projected as it arrives and goes out at once, so
//! such a query streams like a plain one. When a comparison with
//! arithmetic drops rows, the join cannot count them against `LIMIT`, so it
//! joins without one ([`join_limit`](super::project::join_limit)) and this
//! stage cuts the projected rows at the limit, after which the caller stops
//! the pipelines ([`close`](ResultStage::close)). `ORDER BY` an expression
//! column holds every projected row (reserved as `ResultJoin`) until the
//! join ends, then sorts them (`sort.rs`).

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryReservation;
use tsq_engine::{OperatorMetrics, TaskContext};

use super::join_reservation;
use super::merge::{JoinOptions, MergeJoin};
use super::project::{join_limit, ResultProjection};
use super::sort::ExprSort;
use super::source::Pipeline;
use crate::error::Result;
use crate::plan::LogicalPlan;

/// The streaming result of a query: its join, then its projection; see the
/// module docs.
pub struct ResultStage {
    join: MergeJoin,
    projection: Option<Projection>,
}

/// The projection part of a [`ResultStage`].
struct Projection {
    projection: ResultProjection,
    /// `LIMIT` applied here (after the comparisons): rows still allowed out.
    remaining: Option<usize>,
    /// `ORDER BY` an expression column, and what it holds.
    sort: Option<Sorting>,
    batch_size: usize,
    display: String,
    metrics: OperatorMetrics,
}

/// The state of an `ORDER BY` an expression column.
struct Sorting {
    sort: ExprSort,
    /// Projected rows until the join ends.
    held: Vec<RecordBatch>,
    /// The sorted batches, once sorted (handed out from the front).
    sorted: Option<std::vec::IntoIter<RecordBatch>>,
    reservation: MemoryReservation,
}

impl ResultStage {
    /// The result stage of `plan` over its `pipelines` (in plan order), run
    /// under `ctx`. Nothing runs until the first [`next`](Self::next).
    pub fn new(
        plan: &LogicalPlan,
        pipelines: Vec<Pipeline>,
        ctx: &TaskContext,
        options: JoinOptions,
    ) -> Result<Self> {
        let join = MergeJoin::new(plan, pipelines, ctx, options)?;
        let projection =
            ResultProjection::for_plan(plan, options.dictionary_tags).map(|projection| {
                let sort = ExprSort::for_plan(plan).map(|sort| Sorting {
                    sort,
                    held: Vec::new(),
                    sorted: None,
                    reservation: join_reservation(&ctx.memory),
                });
                let remaining = match (&sort, join_limit(plan)) {
                    (None, None) => plan.limit,
                    _ => None,
                };
                Projection {
                    projection,
                    remaining,
                    sort,
                    batch_size: ctx.batch_size.max(1),
                    display: Self::describe_projection(plan),
                    metrics: OperatorMetrics::default(),
                }
            });
        Ok(ResultStage { join, projection })
    }

    /// The EXPLAIN lines of the result stage of `plan`: the join's, then
    /// the projection's when there is one.
    pub fn describe(plan: &LogicalPlan, options: JoinOptions) -> String {
        let join = MergeJoin::describe(plan, options);
        match ResultProjection::for_plan(plan, options.dictionary_tags) {
            Some(_) => format!("{join}\n{}", Self::describe_projection(plan)),
            None => join,
        }
    }

    /// The projection's EXPLAIN line: its columns, the comparisons it
    /// applies, and the sort or limit it applies after them.
    fn describe_projection(plan: &LogicalPlan) -> String {
        let mut line = format!(
            "Projection: columns=[{}]",
            plan.value_column_names().join(", ")
        );
        if !plan.expr_filters.is_empty() {
            let filters: Vec<&str> = plan.expr_filters.iter().map(|f| f.text.as_str()).collect();
            line.push_str(&format!(" filter=[{}]", filters.join(" AND ")));
        }
        if ExprSort::for_plan(plan).is_some() {
            let items: Vec<String> = plan
                .order_by
                .iter()
                .map(|o| {
                    let dir = if o.descending { " DESC" } else { "" };
                    format!("{}{dir}", o.column.value)
                })
                .collect();
            line.push_str(&format!(" order=[{}] (sort)", items.join(", ")));
        }
        if let (Some(n), None) = (plan.limit, join_limit(plan)) {
            line.push_str(&format!(" limit={n}"));
        }
        line
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        match &self.projection {
            Some(p) => p.projection.schema(),
            None => self.join.schema(),
        }
    }

    /// The EXPLAIN ANALYZE lines: the join's and the projection's, each
    /// with its metrics.
    pub fn analyzed(&self) -> String {
        let join = format!("{}, metrics=[{}]", self.join.display(), self.join.metrics());
        match &self.projection {
            Some(p) => format!("{join}\n{}, metrics=[{}]", p.display, p.metrics),
            None => join,
        }
    }

    /// The next result batch, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>> {
        let Some(p) = &mut self.projection else {
            return self.join.next().await;
        };
        if p.sort.is_some() {
            return p.next_sorted(&mut self.join).await;
        }
        loop {
            if p.remaining == Some(0) {
                return Ok(None);
            }
            let Some(batch) = self.join.next().await? else {
                return Ok(None);
            };
            let started = p.metrics.start();
            p.metrics.record_in(batch.num_rows());
            let mut out = p.projection.project(&batch)?;
            if let Some(n) = &mut p.remaining {
                if out.num_rows() > *n {
                    out = out.slice(0, *n);
                }
                *n -= out.num_rows();
            }
            p.metrics.stop(started);
            if out.num_rows() > 0 {
                p.metrics.record_out(out.num_rows());
                return Ok(Some(out));
            }
        }
    }

    /// Stops every pipeline that still runs and hands them all back in plan
    /// order, with their metrics.
    pub async fn close(&mut self) -> Vec<Pipeline> {
        if let Some(s) = self.projection.as_mut().and_then(|p| p.sort.as_mut()) {
            s.held.clear();
            s.sorted = None;
            s.reservation.free();
        }
        self.join.close().await
    }
}

impl Projection {
    /// `ORDER BY` an expression column: projects every joined batch, sorts
    /// them once the join ended, then hands the sorted batches out.
    async fn next_sorted(&mut self, join: &mut MergeJoin) -> Result<Option<RecordBatch>> {
        let Some(s) = &mut self.sort else {
            return Ok(None);
        };
        if s.sorted.is_none() {
            while let Some(batch) = join.next().await? {
                let started = self.metrics.start();
                self.metrics.record_in(batch.num_rows());
                let out = self.projection.project(&batch)?;
                if out.num_rows() > 0 {
                    s.reservation.try_grow(out.get_array_memory_size())?;
                    s.held.push(out);
                }
                self.metrics.stop(started);
            }
            let started = self.metrics.start();
            let schema = self.projection.schema();
            let sorted = s
                .sort
                .sort(&schema, &s.held, self.batch_size, &mut s.reservation)?;
            self.metrics.record_bytes(s.reservation.size());
            let held: usize = s.held.iter().map(|b| b.get_array_memory_size()).sum();
            s.held = Vec::new();
            s.reservation.shrink(held);
            s.sorted = Some(sorted.into_iter());
            self.metrics.stop(started);
        }
        let next = s.sorted.as_mut().and_then(Iterator::next);
        if let Some(b) = &next {
            self.metrics.record_out(b.num_rows());
        }
        Ok(next)
    }
}
