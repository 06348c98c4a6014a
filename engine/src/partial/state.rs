//! [`PartialStates`]: the partial aggregate of one aggregator, one row per
//! (group, bucket) that received input, and its Arrow form.
//!
//! Schema of [`PartialStates::to_record_batch`] (built by
//! [`partial_schema`]); the schema's metadata key
//! [`AGGREGATOR_METADATA_KEY`] names the aggregator (`sum`, `p95`, ...):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `group` | `Dictionary(UInt32, Utf8)` | group id; the dictionary holds the group keys (`cpu,dc=a#sum(usage)`) |
//! | `time` | `Timestamp(ns)` | bucket start |
//! | `count` | `UInt64` | input values that were neither null nor NaN |
//! | `nan` | `Boolean` | a NaN input was seen |
//! | `sum` | `Float64` | sum, avg, zimsum, pfsum |
//! | `min` / `max` | `Float64` | min, mimmin / max, mimmax |
//! | `first`, `first_time`, `first_series` | `Float64`, `Timestamp(ns)`, `UInt32` | first: the value with the smallest (time, series id) |
//! | `last`, `last_time`, `last_series` | `Float64`, `Timestamp(ns)`, `UInt32` | last: the value with the largest (time, series id) |
//! | `mean`, `m2` | `Float64`, `Float64` | dev: Welford's running mean and sum of squared deviations |
//! | `values` | `List(Float64)` | percentiles: every counted value (exact) |
//!
//! `count` has no column of its own beyond `count`. Rows are sorted by
//! (group, time), unique. A row whose `count` is 0 finishes to NaN when
//! `nan` is set and to null otherwise (only null inputs), as
//! `docs/semantics.md` defines for every aggregate.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, ListArray, StringArray,
    TimestampNanosecondArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit, TimestampNanosecondType, UInt32Type,
    UInt64Type,
};
use arrow::record_batch::RecordBatch;

use crate::accumulator::percentile;
use crate::error::{EngineError, Result};
use crate::registry::SeriesRegistry;
use crate::spec::Aggregator;

/// The schema metadata key naming the aggregator of a partial batch.
pub const AGGREGATOR_METADATA_KEY: &str = "tsq.aggregator";

const WHERE: &str = "partial aggregate";

/// Which state columns an aggregator keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Sum,
    Min,
    Max,
    Count,
    First,
    Last,
    Dev,
    Values,
}

impl Kind {
    pub(super) fn of(agg: Aggregator) -> Kind {
        use Aggregator::*;
        match agg {
            Sum | Avg | ZimSum | PfSum => Kind::Sum,
            Min | MimMin => Kind::Min,
            Max | MimMax => Kind::Max,
            Count => Kind::Count,
            First => Kind::First,
            Last => Kind::Last,
            Dev => Kind::Dev,
            Percentile(_) => Kind::Values,
        }
    }
}

fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, None)
}

/// The Arrow schema of the partial states of `agg` (see the module docs).
pub fn partial_schema(agg: Aggregator) -> SchemaRef {
    let f = |name: &str, ty: DataType| Field::new(name, ty, false);
    let mut fields = vec![
        f(
            "group",
            DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8)),
        ),
        f("time", time_type()),
        f("count", DataType::UInt64),
        f("nan", DataType::Boolean),
    ];
    match Kind::of(agg) {
        Kind::Sum => fields.push(f("sum", DataType::Float64)),
        Kind::Min => fields.push(f("min", DataType::Float64)),
        Kind::Max => fields.push(f("max", DataType::Float64)),
        Kind::Count => {}
        Kind::First | Kind::Last => {
            let name = if Kind::of(agg) == Kind::First {
                "first"
            } else {
                "last"
            };
            fields.push(f(name, DataType::Float64));
            fields.push(f(&format!("{name}_time"), time_type()));
            fields.push(f(&format!("{name}_series"), DataType::UInt32));
        }
        Kind::Dev => {
            fields.push(f("mean", DataType::Float64));
            fields.push(f("m2", DataType::Float64));
        }
        Kind::Values => fields.push(f(
            "values",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
        )),
    }
    let metadata = HashMap::from([(AGGREGATOR_METADATA_KEY.to_string(), agg.to_string())]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// The partial aggregate of `agg` over some of a query's timelines: one row
/// per (group, bucket start) that received input, sorted by (group, time).
/// See the module docs for the state columns.
#[derive(Debug, Clone)]
pub struct PartialStates {
    pub(super) agg: Aggregator,
    pub(super) groups: Arc<SeriesRegistry>,
    pub(super) group: Vec<u32>,
    pub(super) time: Vec<i64>,
    pub(super) count: Vec<u64>,
    pub(super) nan: Vec<bool>,
    /// sum, min, max, first, last or the running mean (dev); 0 for count
    /// and the percentiles.
    pub(super) value: Vec<f64>,
    /// dev: M2; empty otherwise.
    pub(super) m2: Vec<f64>,
    /// first / last: (time, series id) of the kept value; empty otherwise.
    pub(super) tie: Vec<(i64, u32)>,
    /// percentiles: the counted values; empty otherwise.
    pub(super) values: Vec<Vec<f64>>,
}

impl PartialStates {
    /// No rows yet, for `agg` over the groups `groups` (group id = position).
    pub fn new(agg: Aggregator, groups: Arc<SeriesRegistry>) -> Self {
        PartialStates {
            agg,
            groups,
            group: Vec::new(),
            time: Vec::new(),
            count: Vec::new(),
            nan: Vec::new(),
            value: Vec::new(),
            m2: Vec::new(),
            tie: Vec::new(),
            values: Vec::new(),
        }
    }

    /// The aggregator.
    pub fn aggregator(&self) -> Aggregator {
        self.agg
    }

    /// The groups (group id = position), as the final batches name them.
    pub fn groups(&self) -> &Arc<SeriesRegistry> {
        &self.groups
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// `(group id, bucket start)` of row `row`.
    pub fn key(&self, row: usize) -> (u32, i64) {
        (self.group[row], self.time[row])
    }

    /// Bytes held by the rows.
    pub fn memory_size(&self) -> usize {
        let values: usize = self.values.iter().map(|v| v.capacity() * 8 + 24).sum();
        self.group.capacity() * 4
            + self.time.capacity() * 8
            + self.count.capacity() * 8
            + self.nan.capacity()
            + (self.value.capacity() + self.m2.capacity()) * 8
            + self.tie.capacity() * 16
            + values
    }

    /// Folds one input into row `(group, time)`: the last row when the key
    /// is the same, else a new row, which must sort after the last one.
    /// `at` is the input's (time, series id), which decides `first` and
    /// `last`; `None` is a null input. This is the slow, general way to build
    /// states (one value at a time); operators fold whole timelines.
    pub fn fold(
        &mut self,
        group: u32,
        time: i64,
        at: (i64, u32),
        value: Option<f64>,
    ) -> Result<()> {
        let last = self.len().checked_sub(1).map(|r| self.key(r));
        if last != Some((group, time)) {
            if last.is_some_and(|k| k > (group, time)) {
                return Err(EngineError::InvalidArgument(format!(
                    "{WHERE}: row (group {group}, time {time}) comes after {last:?}; rows must \
                     ascend by (group, time)"
                )));
            }
            self.push_empty(group, time);
        }
        let r = self.len() - 1;
        let Some(v) = value else {
            return Ok(());
        };
        if v.is_nan() {
            self.nan[r] = true;
            return Ok(());
        }
        let n = self.count[r];
        match Kind::of(self.agg) {
            Kind::Sum => self.value[r] += v,
            Kind::Min if n == 0 || v < self.value[r] => self.value[r] = v,
            Kind::Max if n == 0 || v > self.value[r] => self.value[r] = v,
            Kind::First if n == 0 || at < self.tie[r] => (self.value[r], self.tie[r]) = (v, at),
            Kind::Last if n == 0 || at > self.tie[r] => (self.value[r], self.tie[r]) = (v, at),
            Kind::Dev => {
                let delta = v - self.value[r];
                self.value[r] += delta / (n + 1) as f64;
                self.m2[r] += delta * (v - self.value[r]);
            }
            Kind::Values => self.values[r].push(v),
            _ => {}
        }
        self.count[r] = n + 1;
        Ok(())
    }

    /// Appends an empty row (no input yet).
    fn push_empty(&mut self, group: u32, time: i64) {
        let kind = Kind::of(self.agg);
        self.group.push(group);
        self.time.push(time);
        self.count.push(0);
        self.nan.push(false);
        self.value.push(0.0);
        match kind {
            Kind::Dev => self.m2.push(0.0),
            Kind::First | Kind::Last => self.tie.push((time, 0)),
            Kind::Values => self.values.push(Vec::new()),
            _ => {}
        }
    }

    /// Appends a row from an accumulator's raw state
    /// ([`Accumulators::raw`](crate::accumulator::Accumulators::raw)) and,
    /// for first / last, the (time, series) of its value.
    pub(crate) fn push_raw(
        &mut self,
        key: (u32, i64),
        state: (u32, bool, f64, f64),
        tie: (i64, u32),
    ) {
        let (n, nan, a, b) = state;
        self.push_empty(key.0, key.1);
        let r = self.len() - 1;
        self.count[r] = n as u64;
        self.nan[r] = nan;
        if n > 0 {
            self.value[r] = a;
            match Kind::of(self.agg) {
                Kind::Dev => self.m2[r] = b,
                Kind::First | Kind::Last => self.tie[r] = tie,
                _ => {}
            }
        }
    }

    /// The final value of row `row`: NaN when only NaN (and null) inputs
    /// were counted, null (`None`) when only null inputs were.
    pub fn result(&self, row: usize) -> Option<f64> {
        let n = self.count[row];
        if n == 0 {
            return self.nan[row].then_some(f64::NAN);
        }
        let a = self.value[row];
        Some(match self.agg {
            Aggregator::Avg => a / n as f64,
            Aggregator::Count => n as f64,
            Aggregator::Dev => (self.m2[row] / n as f64).sqrt(),
            Aggregator::Percentile(_) => {
                let mut values = self.values[row].clone();
                percentile(&mut values, self.agg.quantile().unwrap_or(0.5))?
            }
            _ => a,
        })
    }

    /// The states as an Arrow batch of [`partial_schema`]`(agg)`.
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let keys: Vec<String> = self.groups.iter().map(|(_, g)| g.key()).collect();
        let group = DictionaryArray::<UInt32Type>::try_new(
            UInt32Array::from(self.group.clone()),
            Arc::new(StringArray::from(keys)),
        )?;
        let times = |v: Vec<i64>| Arc::new(TimestampNanosecondArray::from(v)) as ArrayRef;
        let floats = |v: &[f64]| Arc::new(Float64Array::from(v.to_vec())) as ArrayRef;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(group),
            times(self.time.clone()),
            Arc::new(UInt64Array::from(self.count.clone())),
            Arc::new(BooleanArray::from(self.nan.clone())),
        ];
        match Kind::of(self.agg) {
            Kind::Count => {}
            Kind::Sum | Kind::Min | Kind::Max => columns.push(floats(&self.value)),
            Kind::First | Kind::Last => {
                columns.push(floats(&self.value));
                columns.push(times(self.tie.iter().map(|t| t.0).collect()));
                let series: Vec<u32> = self.tie.iter().map(|t| t.1).collect();
                columns.push(Arc::new(UInt32Array::from(series)));
            }
            Kind::Dev => {
                columns.push(floats(&self.value));
                columns.push(floats(&self.m2));
            }
            Kind::Values => {
                columns.push(Arc::new(
                    ListArray::from_iter_primitive::<Float64Type, _, _>(
                        self.values.iter().map(|v| Some(v.iter().map(|&x| Some(x)))),
                    ),
                ))
            }
        }
        Ok(RecordBatch::try_new(partial_schema(self.agg), columns)?)
    }

    /// Reads a batch written by [`to_record_batch`](Self::to_record_batch)
    /// for `agg`. `groups` are the receiver's groups of the same query: the
    /// batch's group dictionary must name the same key at every id it uses.
    /// Fails, saying which column or row, on another aggregator, another
    /// schema, nulls, unknown or mismatched groups, or rows out of order.
    pub fn from_record_batch(
        batch: &RecordBatch,
        agg: Aggregator,
        groups: Arc<SeriesRegistry>,
    ) -> Result<Self> {
        let expected = partial_schema(agg);
        let named = batch
            .schema()
            .metadata()
            .get(AGGREGATOR_METADATA_KEY)
            .cloned();
        if named.as_deref() != Some(agg.to_string().as_str()) {
            return Err(EngineError::InvalidArgument(format!(
                "{WHERE}: the batch holds states of {}, expected {agg}",
                named.unwrap_or_else(|| "no named aggregator".into())
            )));
        }
        if batch.schema().fields() != expected.fields() {
            return Err(EngineError::InvalidArgument(format!(
                "{WHERE}: schema {:?} is not the partial schema of {agg}",
                batch.schema().fields()
            )));
        }
        if let Some(i) = (0..batch.num_columns()).find(|&i| batch.column(i).null_count() > 0) {
            return Err(EngineError::InvalidArgument(format!(
                "{WHERE}: column {} has nulls",
                expected.field(i).name()
            )));
        }
        let mut out = PartialStates::new(agg, groups);
        out.group = read_groups(batch.column(0), &out.groups)?;
        out.time = batch
            .column(1)
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .to_vec();
        out.count = batch
            .column(2)
            .as_primitive::<UInt64Type>()
            .values()
            .to_vec();
        let nan = batch.column(3).as_boolean();
        out.nan = (0..nan.len()).map(|i| nan.value(i)).collect();
        let float = |i: usize| {
            batch
                .column(i)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        };
        let rows = batch.num_rows();
        out.value = vec![0.0; rows];
        match Kind::of(agg) {
            Kind::Count => {}
            Kind::Sum | Kind::Min | Kind::Max => out.value = float(4),
            Kind::First | Kind::Last => {
                out.value = float(4);
                let t = batch
                    .column(5)
                    .as_primitive::<TimestampNanosecondType>()
                    .values();
                let s = batch.column(6).as_primitive::<UInt32Type>().values();
                out.tie = t.iter().copied().zip(s.iter().copied()).collect();
            }
            Kind::Dev => {
                out.value = float(4);
                out.m2 = float(5);
            }
            Kind::Values => {
                let list = batch.column(4).as_list::<i32>();
                out.values = (0..rows)
                    .map(|r| {
                        list.value(r)
                            .as_primitive::<Float64Type>()
                            .values()
                            .to_vec()
                    })
                    .collect();
            }
        }
        if let Some(r) = (1..rows).find(|&r| out.key(r - 1) >= out.key(r)) {
            return Err(EngineError::InvalidArgument(format!(
                "{WHERE}: row {r} {:?} does not sort after row {} {:?}; rows must ascend by \
                 (group, time), each key once",
                out.key(r),
                r - 1,
                out.key(r - 1)
            )));
        }
        Ok(out)
    }
}

/// The group ids of a `group` column, each checked against `groups`.
fn read_groups(column: &ArrayRef, groups: &SeriesRegistry) -> Result<Vec<u32>> {
    let dict = column.as_dictionary::<UInt32Type>();
    let keys = dict.values().as_string::<i32>();
    let mut checked = vec![false; keys.len()];
    let ids = dict.keys().values().to_vec();
    for (row, &id) in ids.iter().enumerate() {
        let k = id as usize;
        if checked.get(k).copied().unwrap_or(false) {
            continue;
        }
        let theirs = (k < keys.len()).then(|| keys.value(k));
        let ours = groups.get(id).map(|g| g.key());
        if theirs.is_none() || theirs != ours.as_deref() {
            return Err(EngineError::InvalidArgument(format!(
                "{WHERE}: row {row} has group {id} ({}), which is {} here",
                theirs.unwrap_or("not in the dictionary"),
                ours.unwrap_or_else(|| "not a group".into())
            )));
        }
        checked[k] = true;
    }
    Ok(ids)
}
