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
//! | `min` / `max` | `Float64` (`Int64`, `UInt64`) | min, mimmin / max, mimmax |
//! | `first`, `first_time`, `first_series` | `Float64` (`Int64`, `UInt64`), `Timestamp(ns)`, `UInt32` | first: the value with the smallest (time, series id) |
//! | `last`, `last_time`, `last_series` | `Float64` (`Int64`, `UInt64`), `Timestamp(ns)`, `UInt32` | last: the value with the largest (time, series id) |
//! | `mean`, `m2` | `Float64`, `Float64` | dev: Welford's running mean and sum of squared deviations |
//! | `values` | `List(Float64)` | percentiles: every counted value (exact) |
//!
//! The selectors' value column (`min`, `max`, `first`, `last`) has the type
//! of the values selected: `Int64` / `UInt64` over an integer field, kept
//! exactly (`docs/semantics.md` §12; [`PartialStates::typed`]), else
//! `Float64`. `count` has no column of its own beyond `count`. Rows are sorted by
//! (group, time), unique. A row whose `count` is 0 finishes to NaN when
//! `nan` is set and to null otherwise (only null inputs), as
//! `docs/semantics.md` defines for every aggregate.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, ListArray,
    StringArray, TimestampNanosecondArray, UInt32Array, UInt64Array,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampNanosecondType,
    UInt32Type, UInt64Type,
};
use arrow::record_batch::RecordBatch;

use crate::accumulator::percentile;
use crate::error::{EngineError, Result};
use crate::registry::SeriesRegistry;
use crate::spec::Aggregator;
use crate::storage::ValueType;
use crate::value::{selects, TimelineValue};

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

/// The Arrow schema of the partial states of `agg` over f64 values (see
/// the module docs).
pub fn partial_schema(agg: Aggregator) -> SchemaRef {
    partial_schema_of(agg, ValueType::Float)
}

/// The Arrow schema of the partial states of `agg` over values of type
/// `value`: the selectors' value column has that type (`Int64`, `UInt64`
/// or `Float64`), every other column is as [`partial_schema`]'s.
pub fn partial_schema_of(agg: Aggregator, value: ValueType) -> SchemaRef {
    let selected = match value {
        ValueType::Integer | ValueType::Unsigned if selects(agg) => {
            value.timeline_data_type().unwrap_or(DataType::Float64)
        }
        _ => DataType::Float64,
    };
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
        Kind::Min => fields.push(f("min", selected)),
        Kind::Max => fields.push(f("max", selected)),
        Kind::Count => {}
        Kind::First | Kind::Last => {
            let name = if Kind::of(agg) == Kind::First {
                "first"
            } else {
                "last"
            };
            fields.push(f(name, selected));
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
    /// and the percentiles, and for the selectors over integers, whose
    /// values are in `exact`.
    pub(super) value: Vec<f64>,
    /// The selected integers of `min`, `max`, `first`, `last` over an
    /// integer field (one per row); `Float` otherwise.
    pub(super) exact: Exact,
    /// dev: M2; empty otherwise.
    pub(super) m2: Vec<f64>,
    /// first / last: (time, series id) of the kept value; empty otherwise.
    pub(super) tie: Vec<(i64, u32)>,
    /// percentiles: the counted values; empty otherwise.
    pub(super) values: Vec<Vec<f64>>,
}

/// The exact selected values of the partial states of a selector over an
/// integer field.
#[derive(Debug, Clone, PartialEq)]
pub enum Exact {
    /// Values are f64 (the `value` column).
    Float,
    /// Values are i64.
    Int(Vec<i64>),
    /// Values are u64.
    UInt(Vec<u64>),
}

impl Exact {
    /// The type of the values.
    pub fn value_type(&self) -> ValueType {
        match self {
            Exact::Float => ValueType::Float,
            Exact::Int(_) => ValueType::Integer,
            Exact::UInt(_) => ValueType::Unsigned,
        }
    }

    /// Empty, for `agg` over values of type `value`.
    fn of(agg: Aggregator, value: ValueType) -> Exact {
        match value {
            ValueType::Integer if selects(agg) => Exact::Int(Vec::new()),
            ValueType::Unsigned if selects(agg) => Exact::UInt(Vec::new()),
            _ => Exact::Float,
        }
    }

    fn push_zero(&mut self) {
        match self {
            Exact::Float => {}
            Exact::Int(v) => v.push(0),
            Exact::UInt(v) => v.push(0),
        }
    }

    fn capacity_bytes(&self) -> usize {
        match self {
            Exact::Float => 0,
            Exact::Int(v) => v.capacity() * 8,
            Exact::UInt(v) => v.capacity() * 8,
        }
    }
}

/// A value type whose states [`PartialStates`] keep: f64 in `value`, the
/// integers in [`Exact`] (selectors only).
pub trait StateValue: TimelineValue {
    /// Sets the value of row `row`.
    fn set(states: &mut PartialStates, row: usize, v: Self);
    /// The final value of row `row` (as [`PartialStates::result`]), `None`
    /// when the states do not hold values of this type.
    fn result(states: &PartialStates, row: usize) -> Option<Option<Self>>;
}

impl StateValue for f64 {
    fn set(states: &mut PartialStates, row: usize, v: f64) {
        states.value[row] = v;
    }

    fn result(states: &PartialStates, row: usize) -> Option<Option<f64>> {
        Some(states.result(row))
    }
}

macro_rules! exact_state_value {
    ($t:ty, $variant:ident) => {
        impl StateValue for $t {
            fn set(states: &mut PartialStates, row: usize, v: $t) {
                if let Exact::$variant(values) = &mut states.exact {
                    values[row] = v;
                }
            }

            fn result(states: &PartialStates, row: usize) -> Option<Option<$t>> {
                let Exact::$variant(values) = &states.exact else {
                    return None;
                };
                Some((states.count[row] > 0).then(|| values[row]))
            }
        }
    };
}

exact_state_value!(i64, Int);
exact_state_value!(u64, UInt);

impl PartialStates {
    /// No rows yet, for `agg` over the groups `groups` (group id = position).
    pub fn new(agg: Aggregator, groups: Arc<SeriesRegistry>) -> Self {
        Self::typed(agg, groups, ValueType::Float)
    }

    /// [`new`](Self::new) for values of type `value`: a selector over an
    /// integer type keeps its values exactly, as that type.
    pub fn typed(agg: Aggregator, groups: Arc<SeriesRegistry>, value: ValueType) -> Self {
        PartialStates {
            agg,
            groups,
            group: Vec::new(),
            time: Vec::new(),
            count: Vec::new(),
            nan: Vec::new(),
            exact: Exact::of(agg, value),
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

    /// The type of the values: `Integer` / `Unsigned` for a selector over
    /// integers, `Float` otherwise.
    pub fn value_type(&self) -> ValueType {
        self.exact.value_type()
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
            + self.exact.capacity_bytes()
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
        if self.exact != Exact::Float {
            return Err(EngineError::InvalidArgument(format!(
                "{WHERE}: fold takes f64 values, these states hold {} values",
                self.value_type()
            )));
        }
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
        self.exact.push_zero();
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
    pub(crate) fn push_raw<V: StateValue>(
        &mut self,
        key: (u32, i64),
        state: (u32, bool, V, f64),
        tie: (i64, u32),
    ) {
        let (n, nan, a, b) = state;
        self.push_empty(key.0, key.1);
        let r = self.len() - 1;
        self.count[r] = n as u64;
        self.nan[r] = nan;
        if n > 0 {
            V::set(self, r, a);
            match Kind::of(self.agg) {
                Kind::Dev => self.m2[r] = b,
                Kind::First | Kind::Last => self.tie[r] = tie,
                _ => {}
            }
        }
    }

    /// The final value of row `row` as f64 (exact integers rounded to
    /// nearest; [`StateValue::result`] keeps them): NaN when only NaN (and
    /// null) inputs were counted, null (`None`) when only null inputs were.
    pub fn result(&self, row: usize) -> Option<f64> {
        let n = self.count[row];
        if n == 0 {
            return self.nan[row].then_some(f64::NAN);
        }
        let a = match &self.exact {
            Exact::Float => self.value[row],
            Exact::Int(v) => v[row] as f64,
            Exact::UInt(v) => v[row] as f64,
        };
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
        let selected = || -> ArrayRef {
            match &self.exact {
                Exact::Float => floats(&self.value),
                Exact::Int(v) => Arc::new(Int64Array::from(v.clone())),
                Exact::UInt(v) => Arc::new(UInt64Array::from(v.clone())),
            }
        };
        match Kind::of(self.agg) {
            Kind::Count => {}
            Kind::Sum => columns.push(floats(&self.value)),
            Kind::Min | Kind::Max => columns.push(selected()),
            Kind::First | Kind::Last => {
                columns.push(selected());
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
        let schema = partial_schema_of(self.agg, self.value_type());
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Reads a batch written by [`to_record_batch`](Self::to_record_batch)
    /// for `agg`, over f64 values or, for a selector, over the integer type
    /// of its value column. `groups` are the receiver's groups of the same
    /// query: the batch's group dictionary must name the same key at every
    /// id it uses.
    /// Fails, saying which column or row, on another aggregator, another
    /// schema, nulls, unknown or mismatched groups, or rows out of order.
    pub fn from_record_batch(
        batch: &RecordBatch,
        agg: Aggregator,
        groups: Arc<SeriesRegistry>,
    ) -> Result<Self> {
        let value_type = batch
            .schema()
            .fields()
            .get(4)
            .and_then(|f| ValueType::of_timeline_data_type(f.data_type()))
            .filter(|_| selects(agg))
            .unwrap_or(ValueType::Float);
        let expected = partial_schema_of(agg, value_type);
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
        let mut out = PartialStates::typed(agg, groups, value_type);
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
        // A selector's value column (there is one: the schema matched).
        let exact = |i: usize| {
            batch
                .column(i)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        };
        let unsigned = |i: usize| {
            batch
                .column(i)
                .as_primitive::<UInt64Type>()
                .values()
                .to_vec()
        };
        out.exact = match out.exact {
            Exact::Float => Exact::Float,
            Exact::Int(_) => Exact::Int(exact(4)),
            Exact::UInt(_) => Exact::UInt(unsigned(4)),
        };
        let selected = |out: &mut PartialStates| {
            if out.exact == Exact::Float {
                out.value = float(4);
            }
        };
        match Kind::of(agg) {
            Kind::Count => {}
            Kind::Sum => out.value = float(4),
            Kind::Min | Kind::Max => selected(&mut out),
            Kind::First | Kind::Last => {
                selected(&mut out);
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
