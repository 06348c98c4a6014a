//! Result assembly: the outputs of the pipelines (one per value column) are
//! joined into the result schema of `docs/query-language.md` — `time` (ns, UTC), the tag
//! columns, one column per value (`Float64`, or `Int64` / `UInt64` for the
//! raw points of integer fields, `docs/semantics.md` §12) — by a full outer join on
//! (group key, time), filtered by the value comparisons of `WHERE`, ordered
//! by group key then time unless `ORDER BY` says otherwise, with `LIMIT`
//! applied after ordering. Hidden columns (fields read only for a value
//! filter) take part in the join and the filter, then are dropped.
//!
//! Queries run through [`MergeJoin`] (`merge.rs`): a streaming k-way merge
//! of the pipelines' outputs, which are ordered by (group key, time), that
//! hands out batches as soon as their rows are complete (`input.rs`: one
//! input's cursor and its order check; `source.rs`: the pipelines as tasks
//! or driven inline; `output.rs`: rows into batches; `rows.rs`: `ORDER BY`
//! and its top-k). Every buffer it holds is reserved on the query's memory
//! budget as `ResultJoin`. [`ResultStage`] (`stage.rs`) puts the projection
//! of expressions after it (`project.rs`: expression columns and
//! comparisons with arithmetic; `sort.rs`: `ORDER BY` an expression).
//!
//! [`ResultBuilder`] is the materializing join it replaced, kept for the
//! materialized executor and as the oracle of the merge's tests: each
//! pipeline's timelines are appended per group key as flat columns, then
//! the time-sorted columns of each group are merged into [`Rows`]. With one
//! joined column and a `LIMIT` every point is a whole row, ranked as it
//! arrives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::{MemoryPool, MemoryReservation};
use tsq_engine::TimelineBatch;

use crate::ast::OrderItem;
use crate::error::Result;
use crate::plan::{LogicalPlan, ValueFilter};

mod cell;
mod columns;
mod filter;
mod input;
mod keys;
mod merge;
mod output;
pub mod project;
mod rows;
mod sort;
mod source;
mod stage;

use cell::Num;
use rows::{Row, RowOrder, Rows};

pub use merge::{JoinOptions, MergeJoin};
pub use source::Pipeline;
pub use stage::ResultStage;

pub(crate) use filter::passes;

/// The time zone of every result's `time` column: `Timestamp(ns,
/// "+00:00")`. A fixed offset, not `"UTC"`: arrow formats it (pretty
/// printer, CSV, JSON) without its `chrono-tz` feature, which a named zone
/// needs (`docs/library.md`, "Result types").
pub const TIME_ZONE: &str = "+00:00";

/// The Arrow schema of a result: `time`, tag columns, value columns.
pub fn result_schema(tag_columns: &[String], value_columns: &[String]) -> SchemaRef {
    result_schema_with(tag_columns, value_columns, false)
}

/// [`result_schema`] with the tag columns as `Dictionary(Int32, Utf8)`
/// when `dictionary_tags` is set.
pub fn result_schema_with(
    tag_columns: &[String],
    value_columns: &[String],
    dictionary_tags: bool,
) -> SchemaRef {
    let values: Vec<(String, DataType)> = value_columns
        .iter()
        .map(|v| (v.clone(), DataType::Float64))
        .collect();
    result_schema_typed(tag_columns, &values, dictionary_tags)
}

/// [`result_schema_with`] with the value columns' types given
/// ([`LogicalPlan::value_column_fields`]).
pub fn result_schema_typed(
    tag_columns: &[String],
    value_columns: &[(String, DataType)],
    dictionary_tags: bool,
) -> SchemaRef {
    let tag_type = if dictionary_tags {
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    } else {
        DataType::Utf8
    };
    let mut fields = vec![Field::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, Some(TIME_ZONE.into())),
        false,
    )];
    fields.extend(
        tag_columns
            .iter()
            .map(|t| Field::new(t, tag_type.clone(), false)),
    );
    fields.extend(
        value_columns
            .iter()
            .map(|(v, t)| Field::new(v, t.clone(), true)),
    );
    Arc::new(Schema::new(fields))
}

/// The name the result's reservations carry in a budget error.
pub(crate) const RESULT_JOIN: &str = "ResultJoin";

/// What the user can change when the result does not fit.
pub(crate) const RESULT_JOIN_HINT: &str = "it holds the rows of the result until they are \
    joined, ordered and limited: return fewer rows (narrow the time range or the tag \
    predicate, add SAMPLE BY, or add a LIMIT)";

/// A new reservation of the result join on `pool`.
pub(crate) fn join_reservation(pool: &Arc<MemoryPool>) -> MemoryReservation {
    pool.reservation(RESULT_JOIN, RESULT_JOIN_HINT)
}

/// The points of one value column inside one group.
#[derive(Debug, Clone, Default)]
struct Column {
    times: Vec<i64>,
    values: Vec<Option<Num>>,
}

impl Column {
    /// Bytes held.
    fn bytes(&self) -> usize {
        self.times.capacity() * 8 + self.values.capacity() * 16
    }

    /// Sorts by time when runs of several timelines were appended out of
    /// order; the index and the copies are reserved while they live.
    fn sort(&mut self, reservation: &mut MemoryReservation) -> Result<()> {
        if self.times.windows(2).all(|w| w[0] < w[1]) {
            return Ok(());
        }
        let scratch = self.times.len() * (8 + 8 + 16);
        reservation.try_grow(scratch)?;
        let mut idx: Vec<usize> = (0..self.times.len()).collect();
        idx.sort_by_key(|&i| self.times[i]);
        self.times = idx.iter().map(|&i| self.times[i]).collect();
        self.values = idx.iter().map(|&i| self.values[i]).collect();
        reservation.shrink(scratch);
        Ok(())
    }
}

/// Group keys numbered in order of arrival (the ranked path).
#[derive(Debug, Default)]
struct KeyIndex {
    keys: Vec<Vec<String>>,
    index: HashMap<Vec<String>, usize>,
}

/// Bytes a group key holds (strings, the vector, a map entry).
fn key_bytes(key: &[String]) -> usize {
    key.iter().map(|s| s.capacity() + 24).sum::<usize>() + 24 + 64
}

/// Collects pipeline outputs and produces the joined result.
#[derive(Debug)]
pub struct ResultBuilder {
    tag_columns: Vec<String>,
    /// Every joined column: the result's value columns, then hidden ones.
    value_columns: Vec<String>,
    /// How many of `value_columns` are in the result.
    visible: usize,
    groups: BTreeMap<Vec<String>, Vec<Column>>,
    /// The joined rows: filled at `finish`, or as points arrive when
    /// `ranked` is set.
    rows: Rows,
    /// Set when every point is a whole row (one joined column) and a
    /// `LIMIT` ranks them: points go straight into `rows`.
    ranked: Option<KeyIndex>,
    /// Bytes of the columns and keys.
    reservation: MemoryReservation,
}

impl ResultBuilder {
    /// A builder for these tag and value columns (no value filter, natural
    /// order, no limit) reserving on `pool`.
    pub fn new(
        tag_columns: Vec<String>,
        value_columns: Vec<String>,
        pool: &Arc<MemoryPool>,
    ) -> Self {
        Self::with(tag_columns, value_columns, Vec::new(), &[], None, pool)
    }

    /// A builder for the outputs of `plan` (hidden ones included) that
    /// applies its value filters, `ORDER BY` and `LIMIT`.
    pub fn for_plan(plan: &LogicalPlan, pool: &Arc<MemoryPool>) -> Self {
        let names = plan.outputs.iter().map(|o| o.name.clone()).collect();
        let mut builder = ResultBuilder::with(
            plan.tag_columns.clone(),
            names,
            plan.value_filters.clone(),
            project::join_order(plan),
            project::join_limit(plan),
            pool,
        );
        builder.set_visible(plan.visible_outputs().count(), project::join_order(plan));
        debug_assert!(plan.outputs[builder.visible..].iter().all(|o| o.hidden));
        builder
    }

    fn with(
        tag_columns: Vec<String>,
        value_columns: Vec<String>,
        filters: Vec<ValueFilter>,
        order_by: &[OrderItem],
        limit: Option<usize>,
        pool: &Arc<MemoryPool>,
    ) -> Self {
        let width = value_columns.len();
        let order = RowOrder::new(order_by, &tag_columns, &value_columns);
        let rows = Rows::new(width, filters, order, limit, join_reservation(pool));
        ResultBuilder {
            visible: width,
            ranked: (width == 1 && limit.is_some()).then(KeyIndex::default),
            tag_columns,
            value_columns,
            groups: BTreeMap::new(),
            rows,
            reservation: join_reservation(pool),
        }
    }

    /// Only the first `visible` value columns are in the result (and can be
    /// ordered by).
    fn set_visible(&mut self, visible: usize, order_by: &[OrderItem]) {
        self.visible = visible;
        let order = RowOrder::new(order_by, &self.tag_columns, &self.value_columns[..visible]);
        self.rows.set_order(order);
    }

    /// The group key of series `id` of `batch`.
    fn key_of(&self, batch: &TimelineBatch, id: u32) -> Vec<String> {
        match batch.registry().get(id) {
            Some(info) => self
                .tag_columns
                .iter()
                .map(|k| info.tag(k).unwrap_or("").to_string())
                .collect(),
            None => vec![String::new(); self.tag_columns.len()],
        }
    }

    /// Adds a batch produced by the pipeline of value column `output`,
    /// reserving what it holds.
    pub fn add(&mut self, output: usize, batch: &TimelineBatch) -> Result<()> {
        if self.ranked.is_some() {
            return self.rank(batch);
        }
        let n = self.value_columns.len();
        let cells = cell::batch_cells(batch);
        let mut row = 0;
        for tl in batch.timelines() {
            let key = self.key_of(batch, tl.series_id);
            let values = &cells[row..row + tl.len()];
            row += tl.len();
            let grown = if let Some(cols) = self.groups.get_mut(&key) {
                let col = &mut cols[output];
                let before = col.bytes();
                col.times.extend_from_slice(tl.times);
                col.values.extend_from_slice(values);
                col.bytes() - before
            } else {
                let mut cols = vec![Column::default(); n];
                cols[output].times.extend_from_slice(tl.times);
                cols[output].values.extend_from_slice(values);
                let bytes = key_bytes(&key)
                    + cols.iter().map(Column::bytes).sum::<usize>()
                    + n * std::mem::size_of::<Column>();
                self.groups.insert(key, cols);
                bytes
            };
            self.reservation.try_grow(grown)?;
        }
        Ok(())
    }

    /// The ranked path: every point is a row, ranked as it arrives.
    fn rank(&mut self, batch: &TimelineBatch) -> Result<()> {
        let cells = cell::batch_cells(batch);
        let mut row = 0;
        for tl in batch.timelines() {
            let values = &cells[row..row + tl.len()];
            row += tl.len();
            let key = self.key_of(batch, tl.series_id);
            let Some(ranked) = self.ranked.as_mut() else {
                return Ok(());
            };
            let group = match ranked.index.get(&key) {
                Some(&g) => g,
                None => {
                    self.reservation.try_grow(2 * key_bytes(&key))?;
                    let g = ranked.keys.len();
                    ranked.keys.push(key.clone());
                    ranked.index.insert(key, g);
                    g
                }
            };
            for (i, v) in values.iter().enumerate() {
                self.rows.push(group, tl.times[i], &[*v], &ranked.keys)?;
            }
        }
        Ok(())
    }

    /// Joins, orders, limits and cuts the result into batches.
    pub fn finish(mut self, batch_size: usize) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let keys = match self.ranked.take() {
            Some(ranked) => {
                self.rows.finish(&ranked.keys, false);
                ranked.keys
            }
            None => self.join()?,
        };
        let schema = result_schema(&self.tag_columns, &self.value_columns[..self.visible]);
        let widths = (self.tag_columns.len(), self.visible);
        let mut batches = Vec::new();
        for chunk in self.rows.rows.chunks(batch_size.max(1)) {
            let batch = to_batch(&schema, chunk, &keys, widths, &self.rows)?;
            // the output is held until the whole result is returned
            self.reservation.try_grow(batch.get_array_memory_size())?;
            batches.push(batch);
        }
        Ok((schema, batches))
    }

    /// Merges every group's columns into `rows` in group key order,
    /// releasing each group's columns once merged; returns the keys.
    fn join(&mut self) -> Result<Vec<Vec<String>>> {
        let mut keys = Vec::with_capacity(self.groups.len());
        let mut cells = vec![None; self.value_columns.len()];
        for (key, mut cols) in std::mem::take(&mut self.groups) {
            let held = cols.iter().map(Column::bytes).sum::<usize>();
            if self.rows.full_in_natural_order() {
                self.reservation.shrink(held);
                continue;
            }
            keys.push(key);
            for col in &mut cols {
                col.sort(&mut self.reservation)?;
            }
            merge_group(keys.len() - 1, &cols, &mut cells, &mut self.rows, &keys)?;
            drop(cols);
            self.reservation.shrink(held);
        }
        self.rows.finish(&keys, true);
        Ok(keys)
    }
}

/// Full outer join of the time-sorted columns of one group into `rows`
/// (stopping once a natural-order `LIMIT` is reached).
fn merge_group(
    group: usize,
    cols: &[Column],
    cells: &mut [Option<Num>],
    rows: &mut Rows,
    keys: &[Vec<String>],
) -> Result<()> {
    let mut at = vec![0usize; cols.len()];
    while !rows.full_in_natural_order() {
        let next = cols
            .iter()
            .zip(&at)
            .filter_map(|(c, &i)| c.times.get(i).copied())
            .min();
        let Some(time) = next else {
            return Ok(());
        };
        for (k, c) in cols.iter().enumerate() {
            if c.times.get(at[k]) == Some(&time) {
                cells[k] = c.values[at[k]];
                at[k] += 1;
            } else {
                cells[k] = None;
            }
        }
        rows.push(group, time, cells, keys)?;
    }
    Ok(())
}

fn to_batch(
    schema: &SchemaRef,
    rows: &[Row],
    keys: &[Vec<String>],
    (n_tags, n_values): (usize, usize),
    joined: &Rows,
) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(1 + n_tags + n_values);
    let times: TimestampNanosecondArray = rows.iter().map(|r| Some(r.time)).collect();
    columns.push(Arc::new(times.with_timezone(TIME_ZONE)));
    columns.extend((0..n_tags).map(|t| -> ArrayRef {
        let tags: StringArray = rows
            .iter()
            .map(|r| Some(keys[r.group][t].as_str()))
            .collect();
        Arc::new(tags)
    }));
    columns.extend((0..n_values).map(|v| -> ArrayRef {
        let values: Float64Array = rows
            .iter()
            .map(|r| joined.value(r, v).map(Num::to_f64))
            .collect();
        Arc::new(values)
    }));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use tsq_engine::{SeriesInfo, SeriesRegistry};

    use super::*;
    use crate::ast::Name;
    use crate::error::Pos;

    #[test]
    fn result_times_format_without_a_time_zone_database() {
        use arrow::util::display::{ArrayFormatter, FormatOptions};
        // arrow's formatter needs chrono-tz for a named zone ("UTC"), not
        // for the fixed offset the result uses (whether chrono-tz is on
        // depends on the build: a workspace build with DataFusion has it)
        let schema = result_schema(&[], &["v".to_string()]);
        assert_eq!(
            schema.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
        );
        let times =
            TimestampNanosecondArray::from(vec![0, 61_500_000_000]).with_timezone(TIME_ZONE);
        let f = ArrayFormatter::try_new(&times, &FormatOptions::default()).unwrap();
        assert_eq!(f.value(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(f.value(1).to_string(), "1970-01-01T00:01:01.500Z");
    }

    /// `n` points of series 0 (host `h`) from time `start`, value
    /// `(t * 7919) % 100_003`.
    fn batch(registry: &Arc<SeriesRegistry>, start: i64, n: usize) -> TimelineBatch {
        let times: Vec<i64> = (start..start + n as i64).collect();
        let values = times
            .iter()
            .map(|t| ((t * 7919) % 100_003) as f64)
            .collect();
        TimelineBatch::from_columns(vec![0; n], times, values, None, Arc::clone(registry)).unwrap()
    }

    fn order_by_desc(column: &str) -> Vec<OrderItem> {
        vec![OrderItem {
            column: Name {
                value: column.into(),
                pos: Pos::new(1, 1),
            },
            descending: true,
        }]
    }

    #[test]
    fn order_by_limit_keeps_a_top_k_not_every_row() {
        let registry = Arc::new(SeriesRegistry::new(vec![SeriesInfo::new(
            "cpu",
            &[("host", "h")],
            "v",
        )]));
        let pool = MemoryPool::new(usize::MAX);
        let cols = (vec!["host".to_string()], vec!["v".to_string()]);
        let order = order_by_desc("v");
        let mut b = ResultBuilder::with(cols.0, cols.1, Vec::new(), &order, Some(5), &pool);
        let total = 200_000;
        for start in (0..total).step_by(4096) {
            let n = 4096.min(total - start) as usize;
            b.add(0, &batch(&registry, start, n)).unwrap();
        }
        let (_, batches) = b.finish(1024).unwrap();
        // the naive reference: every (value, time), best five by value desc
        let mut all: Vec<(f64, i64)> = (0..total)
            .map(|t| (((t * 7919) % 100_003) as f64, t))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let want: Vec<(f64, i64)> = all[..5].to_vec();
        let got: Vec<(f64, i64)> = batches
            .iter()
            .flat_map(|rb| {
                let t = rb
                    .column(0)
                    .as_any()
                    .downcast_ref::<TimestampNanosecondArray>()
                    .unwrap();
                let v = rb
                    .column(2)
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap();
                (0..rb.num_rows())
                    .map(|i| (v.value(i), t.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(got, want);
        // at most 2 × 1024 rows of 48 bytes (+ one key) were ever held; all
        // 200,000 rows would be 9.6 MB
        assert!(pool.peak() < 2 * 1024 * 48 * 2, "peak {}", pool.peak());
        assert_eq!(pool.used(), 0);
    }

    #[test]
    fn the_join_reserves_what_it_holds_and_fails_over_budget() {
        let registry = Arc::new(SeriesRegistry::new(vec![SeriesInfo::new(
            "cpu",
            &[("host", "h")],
            "v",
        )]));
        // 100,000 points of one column without a limit: 24 bytes each in
        // the column, then 48 per joined row: over a 2 MB budget
        let pool = MemoryPool::new(2 << 20);
        let mut b = ResultBuilder::new(vec!["host".into()], vec!["v".into()], &pool);
        let mut failed = None;
        for start in (0..100_000).step_by(4096) {
            if let Err(e) = b.add(0, &batch(&registry, start, 4096)) {
                failed = Some(e);
                break;
            }
        }
        let err = match failed {
            Some(e) => e,
            None => b.finish(4096).unwrap_err(),
        };
        match err {
            crate::TsqError::Execution(tsq_engine::EngineError::ResourcesExhausted {
                operator,
                budget,
                ..
            }) => assert_eq!((operator.as_str(), budget), (RESULT_JOIN, 2 << 20)),
            other => panic!("{other:?}"),
        }
    }
}
