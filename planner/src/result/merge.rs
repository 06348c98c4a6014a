//! `MergeJoin`: the result stage of a query. It joins the outputs of the
//! pipelines (one per value column) on (group key, time) as a streaming
//! k-way merge, applies the value filters of `WHERE`, then `ORDER BY` and
//! `LIMIT`, and hands out `RecordBatch`es of the result schema of
//! `docs/query-language.md` ("Result") as soon as `batch_size` rows are
//! complete.
//!
//! ```text
//!   pipeline 1 ─▶ Source ─▶ JoinInput ─┐
//!   pipeline 2 ─▶ Source ─▶ JoinInput ─┼─▶ merge on (key, time) ─▶ filters ─┬─▶ OutputBuilder ─▶ batches
//!   ...                                ┘                                   └─▶ Rows (ORDER BY: top-k
//!                                                                              or sort) ─▶ batches
//! ```
//!
//! Every pipeline emits its rows ordered by (group key, time) (groups in
//! key order, each timeline time-sorted; `input.rs` checks it), so the join
//! only ever looks at the current point of each input: for the smallest key
//! among them, it emits a row at the smallest time, taking the point of
//! every input that has one there (the others are null: a full outer
//! join). Where the runs of the inputs at a group have the same times, and
//! in natural order with no value filter, whole runs go out column by
//! column instead (`MergeJoin::copy_runs`): the same rows. A join of one
//! input takes the whole runs that follow in the input's batch along in the
//! same step (`JoinInput::copy_following_runs`), building no key for their
//! groups: the output reads their tag values from the batch's registry
//! when it cuts a batch. The inputs share the group keys (`keys.rs`), so
//! comparing two is a pointer compare.
//! A row is complete once every input is past it, so in natural
//! order rows go out batch by batch while the pipelines run; a `LIMIT n`
//! stops (and closes) the pipelines once `n` rows are out. Under `ORDER BY`
//! the rows go to [`Rows`]: with a `LIMIT n` a top-k of at most
//! `2 × max(n, 1024)` rows and the group keys they refer to, else every
//! row, sorted at the end. Ties in the `ORDER BY` columns are broken by
//! group key, then time.
//!
//! Expressions are not the join's: it joins the outputs the pipelines
//! computed, and the projection of `stage.rs` evaluates the expressions on
//! its batches. When that stage filters rows (a comparison with arithmetic)
//! or sorts them (`ORDER BY` an expression column), the join runs without
//! that `LIMIT` (and, for the sort, in natural order): see
//! `project::join_limit` and `project::join_order`.
//!
//! Memory: the batches in flight (at most the channel's two per pipeline,
//! plus the one each input reads), the rows of the batch being built, and,
//! under `ORDER BY`, the kept rows, all reserved on the query's budget as
//! `ResultJoin`.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryReservation;
use tsq_engine::{OperatorMetrics, TaskContext};

use super::cell::Num;
use super::columns::{emits_columns, ColumnsInput};
use super::input::JoinInput;
use super::keys::{cmp_keys, same_key, Keys};
use super::output::{Key, OutputBuilder};
use super::project::{join_limit, join_order};
use super::rows::{RowOrder, Rows};
use super::source::{Pipeline, Source};
use super::{join_reservation, key_bytes, result_schema_typed};
use crate::error::Result;
use crate::plan::{LogicalPlan, ValueFilter};

const NAME: &str = "MergeJoin";

/// How the join runs its pipelines and shapes its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinOptions {
    /// 1: the join's task drives every pipeline in turn; more: each
    /// pipeline but the first (which the join's task drives) runs as its
    /// own task on the dedicated runtime.
    pub threads: usize,
    /// Tag columns as `Dictionary(Int32, Utf8)` instead of `Utf8`.
    pub dictionary_tags: bool,
}

/// What pushing one row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Keep merging.
    More,
    /// The output holds a whole batch.
    Full,
    /// The `LIMIT` is reached: no later row can be in the result.
    Limit,
}

/// Where joined rows go.
enum Sink {
    /// Natural order: straight to the output, counting down a `LIMIT`.
    Natural {
        filters: Vec<ValueFilter>,
        remaining: Option<usize>,
    },
    /// `ORDER BY`: a top-k (with `LIMIT`) or every row, sorted at the end.
    Ordered(Box<Ordered>),
}

/// The state of an `ORDER BY`.
struct Ordered {
    rows: Rows,
    /// Group keys the rows refer to, in key order (rows hold indexes).
    keys: Vec<Key>,
    /// Bytes of `keys`.
    keys_reserved: MemoryReservation,
    /// Rows handed out so far, once sorted.
    emitted: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Merging,
    /// `ORDER BY`: the inputs ended, the sorted rows go out.
    Draining,
    Done,
}

/// The streaming join of a query's pipelines; see the module docs.
pub struct MergeJoin {
    inputs: Vec<JoinInput>,
    /// The group keys the inputs share (`keys.rs`).
    keys: Keys,
    /// Whether aligned runs go out column by column
    /// ([`copy_runs`](Self::copy_runs)); off only in tests, to compare
    /// with the row loop.
    column_runs: bool,
    /// Instead of `inputs`: the one operator that computes every column
    /// (`columns.rs`).
    columns: Option<ColumnsInput>,
    sink: Sink,
    out: OutputBuilder,
    /// One cell per output of the plan (visible, then hidden).
    cells: Vec<Option<Num>>,
    /// How many of `cells` are result columns.
    visible: usize,
    /// Inputs whose current key is the group being merged.
    active: Vec<usize>,
    /// The pipelines of the inputs, once stopped.
    stopped: Vec<Pipeline>,
    batch_size: usize,
    phase: Phase,
    display: String,
    metrics: OperatorMetrics,
}

impl MergeJoin {
    /// The join of `plan`'s `pipelines` (in plan order), run under `ctx`.
    /// Nothing runs until the first [`next`](Self::next).
    pub fn new(
        plan: &LogicalPlan,
        pipelines: Vec<Pipeline>,
        ctx: &TaskContext,
        options: JoinOptions,
    ) -> Result<Self> {
        let tags: Arc<[String]> = plan.tag_columns.iter().cloned().collect();
        // Last-point pipelines share one adapter call and emit one row per
        // group: tasks of their own would only add hand-offs.
        let tiny = plan
            .pipelines
            .iter()
            .all(|p| p.read == tsq_engine::ReadPath::LastPoint);
        let spawn = options.threads > 1 && pipelines.len() > 1 && !tiny;
        let runtime = if spawn {
            Some(crate::dedicated::handle()?)
        } else {
            None
        };
        let mut pipelines = pipelines;
        let columns = if emits_columns(&pipelines) {
            let outputs: Vec<usize> = plan.pipelines.iter().map(|p| p.output).collect();
            let types = outputs.iter().map(|&o| plan.output_data_type(o)).collect();
            let pipeline = pipelines.remove(0);
            Some(ColumnsInput::new(
                pipeline,
                outputs,
                types,
                Arc::clone(&tags),
                ctx,
            ))
        } else {
            None
        };
        let inputs: Vec<JoinInput> = pipelines
            .into_iter()
            .enumerate()
            .map(|(k, p)| {
                let column = p.0;
                let typed = (
                    plan.outputs[column].name.clone(),
                    plan.output_data_type(column),
                );
                // The first input runs on the join's task, which would
                // otherwise only wait: one hand-off fewer.
                let source = match &runtime {
                    Some(rt) if k > 0 => Source::spawn(p, ctx, rt),
                    _ => Source::inline(p, ctx),
                };
                JoinInput::new(column, typed, source, Arc::clone(&tags), ctx)
            })
            .collect();
        let names: Vec<String> = plan.outputs.iter().map(|o| o.name.clone()).collect();
        let visible = plan.visible_outputs().count();
        let typed: Vec<(String, DataType)> = (0..visible)
            .map(|i| (names[i].clone(), plan.output_data_type(i)))
            .collect();
        let schema = result_schema_typed(&plan.tag_columns, &typed, options.dictionary_tags);
        // `ORDER BY` an expression column, and `LIMIT` after a comparison
        // with arithmetic, are the projection's (`stage.rs`)
        let (order_by, limit) = (join_order(plan), join_limit(plan));
        let sink = if order_by.is_empty() {
            Sink::Natural {
                filters: plan.value_filters.clone(),
                remaining: limit,
            }
        } else {
            let order = RowOrder::new(order_by, &plan.tag_columns, &names[..visible]);
            let rows = Rows::new(
                names.len(),
                plan.value_filters.clone(),
                order,
                limit,
                join_reservation(&ctx.memory),
            );
            Sink::Ordered(Box::new(Ordered {
                rows,
                keys: Vec::new(),
                keys_reserved: join_reservation(&ctx.memory),
                emitted: 0,
            }))
        };
        let keys = Keys::new(inputs.len());
        Ok(MergeJoin {
            inputs,
            keys,
            column_runs: true,
            columns,
            sink,
            out: OutputBuilder::new(schema, tags.len(), join_reservation(&ctx.memory)),
            cells: vec![None; names.len()],
            visible,
            active: Vec::new(),
            stopped: Vec::new(),
            batch_size: ctx.batch_size.max(1),
            phase: Phase::Merging,
            display: Self::describe(plan, options),
            metrics: OperatorMetrics::default(),
        })
    }

    /// The EXPLAIN line of the join of `plan`.
    pub fn describe(plan: &LogicalPlan, options: JoinOptions) -> String {
        let inputs = if plan.last_points_as_one {
            1
        } else {
            plan.pipelines.len()
        };
        let mut line = format!("{NAME}: on=(group, time) inputs={inputs}");
        if plan.last_points_as_one {
            line.push_str(" (every column from one LastPointsOp)");
        }
        let filters: Vec<String> = plan
            .value_filters
            .iter()
            .map(|f| format!("{} {} {}", plan.outputs[f.output].field, f.op, f.value))
            .collect();
        if !filters.is_empty() {
            line.push_str(&format!(" filter=[{}]", filters.join(" AND ")));
        }
        let (order_by, limit) = (join_order(plan), join_limit(plan));
        if !order_by.is_empty() {
            let items: Vec<String> = order_by
                .iter()
                .map(|o| {
                    let dir = if o.descending { " DESC" } else { "" };
                    format!("{}{dir}", o.column.value)
                })
                .collect();
            let how = if limit.is_some() { "top-k" } else { "sort" };
            line.push_str(&format!(" order=[{}] ({how})", items.join(", ")));
        }
        if let Some(n) = limit {
            line.push_str(&format!(" limit={n}"));
        }
        if options.dictionary_tags && !plan.tag_columns.is_empty() {
            line.push_str(" tags=dictionary");
        }
        line
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(self.out.schema())
    }

    /// The EXPLAIN line (name and parameters).
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Rows in (points taken from the pipelines) and out, batches, compute
    /// time and peak bytes.
    pub fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    /// The next result batch, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            match self.phase {
                Phase::Merging => {
                    let flow = self.merge().await?;
                    if flow != Flow::Full {
                        self.end_of_input().await;
                    }
                    if flow == Flow::Full || self.phase == Phase::Done {
                        if let Some(batch) = self.take()? {
                            return Ok(Some(batch));
                        }
                    }
                }
                Phase::Draining => {
                    let started = Instant::now();
                    let batch = self.drain()?;
                    self.metrics.stop(started);
                    match batch {
                        Some(b) => {
                            self.metrics.record_out(b.num_rows());
                            return Ok(Some(b));
                        }
                        None => self.phase = Phase::Done,
                    }
                }
                Phase::Done => return Ok(None),
            }
        }
    }

    /// Stops every pipeline that still runs (the caller gave up) and hands
    /// them all back in plan order, with their metrics.
    pub async fn close(&mut self) -> Vec<Pipeline> {
        self.stop_inputs().await;
        std::mem::take(&mut self.stopped)
    }

    /// The inputs are over (or a natural-order `LIMIT` was reached): stops
    /// the pipelines, and under `ORDER BY` sorts the kept rows.
    async fn end_of_input(&mut self) {
        self.stop_inputs().await;
        self.phase = match &mut self.sink {
            Sink::Natural { .. } => Phase::Done,
            Sink::Ordered(o) => {
                let started = Instant::now();
                o.rows.finish(&o.keys, true);
                self.metrics.stop(started);
                Phase::Draining
            }
        };
    }

    /// Stops the pipelines still read (at once: a `LIMIT` needs no more of
    /// their rows) and keeps their roots for [`close`](Self::close).
    async fn stop_inputs(&mut self) {
        self.metrics.rows_in += self.inputs.iter().map(|i| i.rows_in).sum::<u64>();
        for input in std::mem::take(&mut self.inputs) {
            let column = input.column;
            self.stopped.push((column, input.stop().await));
        }
        if let Some(columns) = self.columns.take() {
            self.metrics.rows_in += columns.rows_in;
            self.stopped.push(columns.stop().await);
        }
    }

    /// Merges rows into the sink until a batch is full, the limit is
    /// reached, or every input ended (`Flow::More`).
    async fn merge(&mut self) -> Result<Flow> {
        if self.columns.is_some() {
            return self.merge_columns().await;
        }
        loop {
            for input in &mut self.inputs {
                input.ready(&mut self.keys).await?;
            }
            let started = Instant::now();
            let flow = self.merge_group()?;
            self.metrics.stop(started);
            match flow {
                Some(Flow::More) => continue,
                Some(flow) => return Ok(flow),
                None => return Ok(Flow::More),
            }
        }
    }

    /// [`merge`](Self::merge) of the one operator that computes every
    /// column: each of its rows is a row of the result.
    async fn merge_columns(&mut self) -> Result<Flow> {
        loop {
            let Some(input) = self.columns.as_mut() else {
                return Ok(Flow::More);
            };
            self.cells.fill(None);
            let Some((key, time)) = input.next_row(&mut self.cells).await? else {
                return Ok(Flow::More);
            };
            let started = Instant::now();
            if let Sink::Ordered(o) = &mut self.sink {
                o.enter_group(&key)?;
            }
            let flow = self.push(&key, time);
            self.metrics.stop(started);
            match flow? {
                Flow::More => continue,
                flow => return Ok(flow),
            }
        }
    }

    /// Merges the rows of the smallest current key while every input in it
    /// has a point left in its run. `Some(More)`: an input must move to its
    /// next run; `None`: every input is done.
    fn merge_group(&mut self) -> Result<Option<Flow>> {
        let Some(key) = self.smallest_key() else {
            return Ok(None);
        };
        self.active.clear();
        for (i, input) in self.inputs.iter().enumerate() {
            if !input.is_done() && same_key(input.key(), &key) {
                self.active.push(i);
            }
        }
        if let Sink::Ordered(o) = &mut self.sink {
            o.enter_group(&key)?;
        }
        if let Some(flow) = self.copy_runs(&key)? {
            return Ok(Some(flow));
        }
        loop {
            let time = self
                .active
                .iter()
                .map(|&i| self.inputs[i].time())
                .min()
                .expect("at least one input holds the key");
            self.cells.fill(None);
            let mut run_ended = false;
            for &i in &self.active {
                let input = &mut self.inputs[i];
                if input.time() == time {
                    let (value, more) = input.take();
                    self.cells[input.column] = value;
                    run_ended |= !more;
                }
            }
            let flow = self.push(&key, time)?;
            if flow != Flow::More {
                return Ok(Some(flow));
            }
            if run_ended {
                return Ok(Some(Flow::More));
            }
        }
    }

    /// The fast path of the row loop, in natural order with no value
    /// filter: while the active inputs' runs have the same times (one
    /// input: always), their points become rows column by column (the
    /// times once, each input's values as a slice, the key once), up to the
    /// end of the shortest run, the first time they differ, the batch's
    /// room and the `LIMIT`: the rows the row loop would push, as it would
    /// cut them into batches. `None` when it does not apply (the row loop
    /// takes over).
    fn copy_runs(&mut self, key: &Key) -> Result<Option<Flow>> {
        let Sink::Natural { filters, remaining } = &mut self.sink else {
            return Ok(None);
        };
        if !self.column_runs || !filters.is_empty() || *remaining == Some(0) {
            return Ok(None);
        }
        let room = self.batch_size.saturating_sub(self.out.len()).max(1);
        let limit = remaining.map_or(room, |left| room.min(left));
        let inputs = &self.inputs;
        let times = inputs[self.active[0]].run_times();
        let mut n = times.len().min(limit);
        for &i in &self.active[1..] {
            n = common_prefix(&times[..n], inputs[i].run_times());
        }
        if n == 0 {
            return Ok(None);
        }
        let runs = self
            .active
            .iter()
            .map(|&i| (inputs[i].column, inputs[i].run_values()));
        self.out.push_runs(key, &times[..n], runs)?;
        for &i in &self.active {
            self.inputs[i].advance(n);
        }
        if let [only] = &mut self.inputs[..] {
            // one input: the whole runs after this one in its batch too
            let room = self.batch_size.saturating_sub(self.out.len());
            let max = remaining.map_or(room, |left| room.min(left - n));
            n += only.copy_following_runs(max, &mut self.out, &mut self.keys)?;
        }
        if let Some(left) = remaining {
            *left -= n;
            if *left == 0 {
                return Ok(Some(Flow::Limit));
            }
        }
        // `More`: a run may have ended, and the next one start another group
        Ok(Some(if self.out.len() >= self.batch_size {
            Flow::Full
        } else {
            Flow::More
        }))
    }

    /// The smallest key among the inputs that are not done.
    fn smallest_key(&self) -> Option<Key> {
        self.inputs
            .iter()
            .filter(|i| !i.is_done())
            .map(|i| i.key())
            .min_by(|a, b| cmp_keys(a, b))
            .map(Arc::clone)
    }

    /// Hands the row in `cells` to the sink.
    fn push(&mut self, key: &Key, time: i64) -> Result<Flow> {
        match &mut self.sink {
            Sink::Natural { filters, remaining } => {
                if *remaining == Some(0) {
                    return Ok(Flow::Limit);
                }
                if !super::passes(&self.cells, filters) {
                    return Ok(Flow::More);
                }
                self.out.push(key, time, &self.cells[..self.visible])?;
                if let Some(n) = remaining {
                    *n -= 1;
                    if *n == 0 {
                        return Ok(Flow::Limit);
                    }
                }
                Ok(if self.out.len() >= self.batch_size {
                    Flow::Full
                } else {
                    Flow::More
                })
            }
            Sink::Ordered(o) => {
                o.push(time, &self.cells)?;
                Ok(Flow::More)
            }
        }
    }

    /// The rows built so far as a batch, counted in the metrics.
    fn take(&mut self) -> Result<Option<RecordBatch>> {
        self.record_peak();
        let started = Instant::now();
        let batch = self.out.take()?;
        self.metrics.stop(started);
        if let Some(b) = &batch {
            self.metrics.record_out(b.num_rows());
        }
        Ok(batch)
    }

    /// Records the bytes the join holds itself: the batch being built and,
    /// under `ORDER BY`, the kept rows and keys (the batches in flight are
    /// reserved by their sources).
    fn record_peak(&mut self) {
        let mut bytes = self.out.reserved();
        if let Sink::Ordered(o) = &self.sink {
            bytes += o.rows.reserved() + o.keys_reserved.size();
        }
        self.metrics.record_bytes(bytes);
    }

    /// The next batch of the sorted rows (`ORDER BY`).
    fn drain(&mut self) -> Result<Option<RecordBatch>> {
        self.record_peak();
        let Sink::Ordered(o) = &mut self.sink else {
            return Ok(None);
        };
        let end = (o.emitted + self.batch_size).min(o.rows.len());
        let mut cells = vec![None; self.visible];
        for row in &o.rows.rows[o.emitted..end] {
            for (v, cell) in cells.iter_mut().enumerate() {
                *cell = o.rows.value(row, v);
            }
            self.out.push(&o.keys[row.group], row.time, &cells)?;
        }
        o.emitted = end;
        self.record_peak();
        self.out.take()
    }
}

impl Ordered {
    /// Rows of `key` follow: numbers it after the previous keys.
    fn enter_group(&mut self, key: &Key) -> Result<()> {
        if self.keys.last().is_some_and(|k| same_key(k, key)) {
            return Ok(());
        }
        self.keys_reserved.try_grow(key_bytes(key))?;
        self.keys.push(Arc::clone(key));
        // forget keys that no kept row refers to (a top-k over many groups)
        if self.keys.len() > 2 * self.rows.len() + 1024 {
            self.rows.retain_groups(&mut self.keys);
            let bytes = self.keys.iter().map(|k| key_bytes(k)).sum();
            self.keys_reserved.try_resize(bytes)?;
            if !self.keys.last().is_some_and(|k| same_key(k, key)) {
                self.keys.push(Arc::clone(key));
            }
        }
        Ok(())
    }

    /// A row of the current (last) group.
    fn push(&mut self, time: i64, cells: &[Option<Num>]) -> Result<()> {
        let group = self.keys.len() - 1;
        self.rows.push(group, time, cells, &self.keys)
    }
}

/// How many leading times `a` and `b` have in common (at most `a.len()`).
fn common_prefix(a: &[i64], b: &[i64]) -> usize {
    let b = &b[..a.len().min(b.len())];
    if a[..b.len()] == *b {
        return b.len();
    }
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl std::fmt::Debug for MergeJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(NAME)
            .field("display", &self.display)
            .finish()
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
