//! Timeline batches: the unit of data every operator passes on.
//!
//! A [`TimelineBatch`] is one Arrow [`RecordBatch`] with the columns
//! `series_id: UInt32`, `time: Timestamp(ns)`, `value` (nullable; `Float64`,
//! or `Int64` / `UInt64` for integer fields, see [`crate::value`]), sorted by `(series_id run, time)`: the rows of one timeline are contiguous
//! and strictly increasing in time. Next to the record batch it keeps the start
//! offset of each timeline run and a shared handle to the [`SeriesRegistry`].
//!
//! ```text
//!   offsets: [0,          3,        5]   (+ num_rows)
//!   series_id  7  7  7  |  9  9  |  12 ...
//!   time       0 10 20  |  0 10  |  30
//!   value     .. .. ..  | .. ..  |  ..
//! ```
//!
//! A timeline may continue in the next batch (its id is then the last run of
//! one batch and the first run of the next); operators must handle that.
//! Runs are ordered as the producer chose (ascending id for plain scans, by
//! group key for ordered scans), not necessarily by id.
//!
//! Operators that compute in f64 read any batch through the f64 accessors
//! ([`TimelineBatch::values`], [`TimelineBatch::timelines`]): an integer
//! batch is converted once, on first use, and the conversion kept with the
//! batch. Operators that keep integers exact read the typed column
//! ([`TimelineBatch::typed_timelines`]).

use std::sync::{Arc, OnceLock};

use arrow::array::BooleanBufferBuilder;
use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, PrimitiveArray, TimestampNanosecondArray, UInt32Array,
};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit, UInt64Type,
};
use arrow::record_batch::RecordBatch;

use crate::error::{EngineError, Result};
use crate::registry::SeriesRegistry;
use crate::storage::ValueType;
use crate::value::TimelineValue;

/// Default number of rows per batch produced by scans and operators.
pub const DEFAULT_BATCH_SIZE: usize = 4096;

/// The Arrow schema of timeline batches with `Float64` values.
pub fn timeline_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| make_schema(DataType::Float64)))
}

/// The Arrow schema of timeline batches whose values have type `value`
/// (`Float64` for floats and booleans, `Int64`, `UInt64`); the float
/// schema for strings, which no batch holds.
pub fn timeline_schema_of(value: ValueType) -> SchemaRef {
    static INT: OnceLock<SchemaRef> = OnceLock::new();
    static UINT: OnceLock<SchemaRef> = OnceLock::new();
    match value {
        ValueType::Integer => Arc::clone(INT.get_or_init(|| make_schema(DataType::Int64))),
        ValueType::Unsigned => Arc::clone(UINT.get_or_init(|| make_schema(DataType::UInt64))),
        _ => timeline_schema(),
    }
}

fn make_schema(value: DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::UInt32, false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        ),
        Field::new("value", value, true),
    ]))
}

/// Many timelines in one Arrow record batch; see the module docs.
#[derive(Debug, Clone)]
pub struct TimelineBatch {
    batch: RecordBatch,
    /// Start row of each timeline run, followed by `num_rows`.
    offsets: Arc<[u32]>,
    registry: Arc<SeriesRegistry>,
    /// The values as f64, made on first use when they are integers.
    float: OnceLock<Float64Array>,
}

/// A borrowed view of one timeline run inside a batch, with values of type
/// `V` (f64 unless read through [`TimelineBatch::typed_timelines`]).
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a, V = f64> {
    /// Series id (index into the batch's registry).
    pub series_id: u32,
    /// Timestamps in ns, strictly increasing.
    pub times: &'a [i64],
    /// Values; a slot is meaningful only where [`Timeline::is_valid`] holds.
    pub values: &'a [V],
    nulls: Option<&'a NullBuffer>,
    offset: usize,
}

impl<V: Copy> Timeline<'_, V> {
    /// Number of points in this run.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True when the run holds no points.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// True when point `i` has a (possibly NaN) value, false when it is null.
    #[inline]
    pub fn is_valid(&self, i: usize) -> bool {
        self.nulls.is_none_or(|n| n.is_valid(self.offset + i))
    }

    /// True when no point of the run is null.
    pub fn all_valid(&self) -> bool {
        match self.nulls {
            None => true,
            Some(n) if n.null_count() == 0 => true,
            Some(n) => {
                let start = n.offset() + self.offset;
                n.buffer().count_set_bits_offset(start, self.len()) == self.len()
            }
        }
    }

    /// The value of point `i`, `None` when null.
    #[inline]
    pub fn value(&self, i: usize) -> Option<V> {
        self.is_valid(i).then(|| self.values[i])
    }
}

impl<'a, V> Timeline<'a, V> {
    /// Points `start..end` of this run, as a run of the same series (for
    /// operators that fold a run segment by segment).
    pub fn slice(&self, start: usize, end: usize) -> Timeline<'a, V> {
        Timeline {
            series_id: self.series_id,
            times: &self.times[start..end],
            values: &self.values[start..end],
            nulls: self.nulls,
            offset: self.offset + start,
        }
    }
}

impl TimelineBatch {
    /// Wraps a record batch with a timeline schema ([`timeline_schema_of`]),
    /// checking that each timeline run is strictly increasing in time.
    pub fn try_new(batch: RecordBatch, registry: Arc<SeriesRegistry>) -> Result<Self> {
        let value_type = batch
            .schema()
            .fields()
            .get(2)
            .and_then(|f| ValueType::of_timeline_data_type(f.data_type()));
        if value_type.is_none_or(|t| batch.schema() != timeline_schema_of(t)) {
            return Err(EngineError::InvalidArgument(format!(
                "timeline batch has schema {:?}, expected (series_id, time, value: \
                 Float64 | Int64 | UInt64)",
                batch.schema()
            )));
        }
        let ids = batch.column(0).as_any().downcast_ref::<UInt32Array>();
        let times = batch
            .column(1)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>();
        let (Some(ids), Some(times)) = (ids, times) else {
            return Err(EngineError::InvalidArgument(
                "timeline batch columns have the wrong types".into(),
            ));
        };
        let ids = ids.values();
        let times = times.values();
        let mut offsets = Vec::new();
        for i in 0..ids.len() {
            if i == 0 || ids[i] != ids[i - 1] {
                if ids[i] as usize >= registry.len() {
                    return Err(EngineError::InvalidArgument(format!(
                        "series id {} at row {i} is not in the registry ({} series)",
                        ids[i],
                        registry.len()
                    )));
                }
                offsets.push(i as u32);
            } else if times[i] <= times[i - 1] {
                return Err(EngineError::InvalidArgument(format!(
                    "timeline {} is not strictly increasing in time at row {i} ({} after {})",
                    ids[i],
                    times[i],
                    times[i - 1]
                )));
            }
        }
        offsets.push(ids.len() as u32);
        Ok(TimelineBatch {
            batch,
            offsets: offsets.into(),
            registry,
            float: OnceLock::new(),
        })
    }

    /// Builds a batch from columns (validated like [`TimelineBatch::try_new`]).
    pub fn from_columns(
        series_ids: Vec<u32>,
        times: Vec<i64>,
        values: Vec<f64>,
        nulls: Option<NullBuffer>,
        registry: Arc<SeriesRegistry>,
    ) -> Result<Self> {
        Self::from_typed_columns(series_ids, times, values, nulls, registry)
    }

    /// [`from_columns`](Self::from_columns) with values of type `V`.
    pub fn from_typed_columns<V: TimelineValue>(
        series_ids: Vec<u32>,
        times: Vec<i64>,
        values: Vec<V>,
        nulls: Option<NullBuffer>,
        registry: Arc<SeriesRegistry>,
    ) -> Result<Self> {
        let ids: ArrayRef = Arc::new(UInt32Array::new(ScalarBuffer::from(series_ids), None));
        let times: ArrayRef = Arc::new(TimestampNanosecondArray::new(
            ScalarBuffer::from(times),
            None,
        ));
        let values: ArrayRef = Arc::new(PrimitiveArray::<V::Arrow>::new(
            ScalarBuffer::from(values),
            nulls,
        ));
        let schema = timeline_schema_of(V::VALUE_TYPE);
        let batch = RecordBatch::try_new(schema, vec![ids, times, values])?;
        Self::try_new(batch, registry)
    }

    /// Wraps ready Arrow buffers without copying them: `offsets` are the
    /// start rows of the timeline runs followed by the number of rows, as
    /// the producer knows them (zero-copy scans of the in-memory adapter).
    ///
    /// Checked here, in O(runs): the column lengths, the offsets (from 0,
    /// strictly increasing, ending at the row count), that each run starts
    /// and ends with the same id and the next run starts with another, and
    /// that the ids are in the registry. That every row of a run has its id
    /// and that times increase within runs is the caller's guarantee, as for
    /// [`TimelineBatchBuilder::push_slice`]; it is checked in debug builds.
    pub fn from_sorted_runs<V: TimelineValue>(
        series_ids: ScalarBuffer<u32>,
        times: ScalarBuffer<i64>,
        values: ScalarBuffer<V>,
        offsets: Vec<u32>,
        registry: Arc<SeriesRegistry>,
    ) -> Result<Self> {
        let values: ArrayRef = Arc::new(PrimitiveArray::<V::Arrow>::new(values, None));
        Self::from_sorted_run_arrays(series_ids, times, values, offsets, registry)
    }

    /// [`from_sorted_runs`](Self::from_sorted_runs) with the values as an
    /// Arrow array of any timeline value type (`Float64`, `Int64`,
    /// `UInt64`; nulls allowed), for producers that keep their values
    /// type-erased.
    pub fn from_sorted_run_arrays(
        series_ids: ScalarBuffer<u32>,
        times: ScalarBuffer<i64>,
        values: ArrayRef,
        offsets: Vec<u32>,
        registry: Arc<SeriesRegistry>,
    ) -> Result<Self> {
        check_runs(&series_ids, times.len(), values.len(), &offsets, &registry)?;
        let Some(value_type) = ValueType::of_timeline_data_type(values.data_type()) else {
            return Err(EngineError::InvalidArgument(format!(
                "timeline values must be Float64, Int64 or UInt64, not {}",
                values.data_type()
            )));
        };
        let ids: ArrayRef = Arc::new(UInt32Array::new(series_ids, None));
        let times: ArrayRef = Arc::new(TimestampNanosecondArray::new(times, None));
        let schema = timeline_schema_of(value_type);
        let batch = RecordBatch::try_new(schema, vec![ids, times, values])?;
        if cfg!(debug_assertions) {
            let checked = TimelineBatch::try_new(batch, Arc::clone(&registry))?;
            debug_assert_eq!(&checked.offsets[..], &offsets[..]);
            return Ok(checked);
        }
        Ok(TimelineBatch {
            batch,
            offsets: offsets.into(),
            registry,
            float: OnceLock::new(),
        })
    }

    /// An empty batch over `registry`.
    pub fn empty(registry: Arc<SeriesRegistry>) -> Self {
        Self::empty_of(ValueType::Float, registry)
    }

    /// An empty batch over `registry` whose values have type `value`.
    pub fn empty_of(value: ValueType, registry: Arc<SeriesRegistry>) -> Self {
        TimelineBatch {
            batch: RecordBatch::new_empty(timeline_schema_of(value)),
            offsets: vec![0u32].into(),
            registry,
            float: OnceLock::new(),
        }
    }

    /// The type of the `value` column: `Float`, `Integer` or `Unsigned`.
    pub fn value_type(&self) -> ValueType {
        match self.batch.column(2).data_type() {
            DataType::Int64 => ValueType::Integer,
            DataType::UInt64 => ValueType::Unsigned,
            _ => ValueType::Float,
        }
    }

    /// The `value` column as it is stored (`Float64`, `Int64` or `UInt64`).
    pub fn value_column(&self) -> &ArrayRef {
        self.batch.column(2)
    }

    /// The `value` column as `V`, `None` when it has another type.
    pub fn typed_values<V: TimelineValue>(&self) -> Option<&PrimitiveArray<V::Arrow>> {
        self.batch.column(2).as_primitive_opt::<V::Arrow>()
    }

    /// This batch with its values converted to f64 (itself when they are
    /// floats already).
    pub fn to_float(&self) -> TimelineBatch {
        if self.value_type() == ValueType::Float {
            return self.clone();
        }
        let (ids, times) = (self.batch.column(0), self.batch.column(1));
        let values: ArrayRef = Arc::new(self.values().clone());
        let batch = RecordBatch::try_new(
            timeline_schema(),
            vec![Arc::clone(ids), Arc::clone(times), values],
        )
        .expect("same columns, float values");
        TimelineBatch {
            batch,
            offsets: Arc::clone(&self.offsets),
            registry: Arc::clone(&self.registry),
            float: OnceLock::new(),
        }
    }

    /// The underlying Arrow record batch.
    pub fn record_batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// The registry the series ids refer to.
    pub fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    /// Number of points.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// True when the batch holds no points.
    pub fn is_empty(&self) -> bool {
        self.num_rows() == 0
    }

    /// Number of timeline runs.
    pub fn num_timelines(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The start row of each timeline run, followed by the number of rows
    /// (`num_timelines() + 1` entries, ascending): run `i` is the rows
    /// `offsets[i]..offsets[i + 1]`, all of series `series_ids()[offsets[i]]`.
    pub fn run_offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// The `series_id` column as a slice.
    pub fn series_ids(&self) -> &[u32] {
        self.batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .expect("validated at construction")
            .values()
    }

    /// The `time` column as a slice of ns timestamps.
    pub fn times(&self) -> &[i64] {
        self.batch
            .column(1)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .expect("validated at construction")
            .values()
    }

    /// The `value` column as f64: the column itself for floats; integers
    /// are converted (to nearest, `docs/semantics.md` §12) on the first call
    /// and the conversion kept.
    pub fn values(&self) -> &Float64Array {
        let column = self.batch.column(2);
        if let Some(floats) = column.as_primitive_opt() {
            return floats;
        }
        self.float.get_or_init(|| match column.data_type() {
            DataType::Int64 => column
                .as_primitive::<Int64Type>()
                .unary::<_, Float64Type>(|v| v as f64),
            _ => column
                .as_primitive::<UInt64Type>()
                .unary::<_, Float64Type>(|v| v as f64),
        })
    }

    /// Timeline run `i` (0-based, in batch order).
    pub fn timeline(&self, i: usize) -> Timeline<'_> {
        let (start, end) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        let values = self.values();
        Timeline {
            series_id: self.series_ids()[start],
            times: &self.times()[start..end],
            values: &values.values()[start..end],
            nulls: values.nulls(),
            offset: start,
        }
    }

    /// Iterates the timeline runs in batch order (the columns are looked up
    /// once, not per run).
    pub fn timelines(&self) -> impl Iterator<Item = Timeline<'_>> {
        self.runs(self.values())
    }

    /// The timeline runs over `values`, one of this batch's value columns
    /// (the f64 view or the typed column).
    fn runs<'a, V: TimelineValue>(
        &'a self,
        values: &'a PrimitiveArray<V::Arrow>,
    ) -> impl Iterator<Item = Timeline<'a, V>> {
        let (ids, times) = (self.series_ids(), self.times());
        let (nulls, slots) = (values.nulls(), &values.values()[..]);
        self.offsets.windows(2).map(move |w| {
            let (start, end) = (w[0] as usize, w[1] as usize);
            Timeline {
                series_id: ids[start],
                times: &times[start..end],
                values: &slots[start..end],
                nulls,
                offset: start,
            }
        })
    }

    /// Iterates the timeline runs with their values as `V`; `None` when the
    /// `value` column has another type.
    pub fn typed_timelines<V: TimelineValue>(
        &self,
    ) -> Option<impl Iterator<Item = Timeline<'_, V>>> {
        Some(self.runs(self.typed_values::<V>()?))
    }

    /// Timeline run `i` with its values as `V`, as
    /// [`timelines_as`](Self::timelines_as) reads them (`None` for a batch
    /// of another integer type).
    pub fn timeline_as<V: TimelineValue>(&self, i: usize) -> Option<Timeline<'_, V>> {
        let values = self.values_as::<V>()?;
        let (start, end) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        Some(Timeline {
            series_id: self.series_ids()[start],
            times: &self.times()[start..end],
            values: &values.values()[start..end],
            nulls: values.nulls(),
            offset: start,
        })
    }

    /// The values as `V`: f64 from any batch, an integer type from a batch
    /// of that type.
    fn values_as<V: TimelineValue>(&self) -> Option<&PrimitiveArray<V::Arrow>> {
        match V::VALUE_TYPE {
            ValueType::Float => (self.values() as &dyn Array).as_primitive_opt::<V::Arrow>(),
            _ => self.typed_values::<V>(),
        }
    }

    /// Iterates the timeline runs with their values as `V`: for f64 every
    /// batch (integers through the f64 view of [`values`](Self::values)),
    /// for an integer type only a batch of that type (`None` otherwise).
    /// Code generic over the value type reads batches with it.
    pub fn timelines_as<V: TimelineValue>(&self) -> Option<impl Iterator<Item = Timeline<'_, V>>> {
        Some(self.runs(self.values_as::<V>()?))
    }

    /// Bytes held by the arrays of this batch.
    pub fn memory_size(&self) -> usize {
        self.batch.get_array_memory_size() + self.offsets.len() * 4
    }
}

/// Checks the run structure given to [`TimelineBatch::from_sorted_runs`].
fn check_runs(
    ids: &[u32],
    num_times: usize,
    num_values: usize,
    offsets: &[u32],
    registry: &SeriesRegistry,
) -> Result<()> {
    let rows = ids.len();
    if num_times != rows || num_values != rows {
        return Err(EngineError::InvalidArgument(format!(
            "timeline batch columns differ in length: {rows} ids, {num_times} times, \
             {num_values} values"
        )));
    }
    let bad = |what: String| Err(EngineError::InvalidArgument(what));
    if offsets.first() != Some(&0) || offsets.last() != Some(&(rows as u32)) {
        return bad(format!(
            "timeline batch offsets must run from 0 to {rows}, got {offsets:?}"
        ));
    }
    for (r, w) in offsets.windows(2).enumerate() {
        let (start, end) = (w[0] as usize, w[1] as usize);
        if end <= start {
            return bad(format!(
                "timeline run {r} is empty or reversed ({start}..{end})"
            ));
        }
        let id = ids[start];
        if id as usize >= registry.len() {
            return bad(format!(
                "series id {id} at row {start} is not in the registry ({} series)",
                registry.len()
            ));
        }
        if ids[end - 1] != id || (end < rows && ids[end] == id) {
            return bad(format!(
                "timeline run {r} ({start}..{end}) does not hold exactly one series id"
            ));
        }
    }
    Ok(())
}

/// Appends points timeline by timeline and cuts [`TimelineBatch`]es.
///
/// The builder tracks timeline runs as it goes, so `finish` needs no second
/// pass over the rows (the run structure is re-validated only in debug
/// builds), and it allocates a validity bitmap only once a null is pushed.
#[derive(Debug)]
pub struct TimelineBatchBuilder<V: TimelineValue = f64> {
    registry: Arc<SeriesRegistry>,
    series_ids: Vec<u32>,
    times: Vec<i64>,
    values: Vec<V>,
    /// Validity bits, created at the first null.
    validity: Option<BooleanBufferBuilder>,
    /// Start row of each run so far.
    offsets: Vec<u32>,
}

impl TimelineBatchBuilder<f64> {
    /// A builder of f64 values over `registry` with room for `capacity`
    /// points.
    pub fn new(registry: Arc<SeriesRegistry>, capacity: usize) -> Self {
        Self::typed(registry, capacity)
    }
}

impl<V: TimelineValue> TimelineBatchBuilder<V> {
    /// A builder of `V` values over `registry` with room for `capacity`
    /// points.
    pub fn typed(registry: Arc<SeriesRegistry>, capacity: usize) -> Self {
        TimelineBatchBuilder {
            registry,
            series_ids: Vec::with_capacity(capacity),
            times: Vec::with_capacity(capacity),
            values: Vec::with_capacity(capacity),
            validity: None,
            offsets: Vec::new(),
        }
    }

    #[inline]
    fn note_run(&mut self, series_id: u32) {
        if self.series_ids.last() != Some(&series_id) {
            self.offsets.push(self.series_ids.len() as u32);
        }
    }

    /// Appends one point; `None` is a null value.
    #[inline(always)]
    pub fn push(&mut self, series_id: u32, time: i64, value: Option<V>) {
        self.note_run(series_id);
        match (value, &mut self.validity) {
            (Some(_), None) => {}
            (Some(_), Some(bits)) => bits.append(true),
            (None, validity) => {
                let bits = validity.get_or_insert_with(|| {
                    let mut bits = BooleanBufferBuilder::new(self.values.capacity());
                    bits.append_n(self.values.len(), true);
                    bits
                });
                bits.append(false);
            }
        }
        self.series_ids.push(series_id);
        self.times.push(time);
        self.values.push(value.unwrap_or_default());
    }

    /// Appends a run of non-null points of one series.
    pub fn push_slice(&mut self, series_id: u32, times: &[i64], values: &[V]) {
        debug_assert_eq!(times.len(), values.len());
        if times.is_empty() {
            return;
        }
        self.note_run(series_id);
        self.series_ids
            .extend(std::iter::repeat_n(series_id, times.len()));
        self.times.extend_from_slice(times);
        self.values.extend_from_slice(values);
        if let Some(bits) = &mut self.validity {
            bits.append_n(times.len(), true);
        }
    }

    /// Number of points appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// True when nothing was appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The registry the builder's batches refer to.
    pub fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    /// Cuts a batch of everything appended so far and resets the builder.
    pub fn finish(&mut self) -> Result<TimelineBatch> {
        let cap = self.times.capacity();
        let nulls = self
            .validity
            .take()
            .map(|mut bits| NullBuffer::new(bits.finish()));
        let mut offsets = std::mem::take(&mut self.offsets);
        offsets.push(self.times.len() as u32);
        let series_ids = std::mem::replace(&mut self.series_ids, Vec::with_capacity(cap));
        let times = std::mem::replace(&mut self.times, Vec::with_capacity(cap));
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(cap));
        if let Some(&bad) = series_ids.iter().max() {
            if bad as usize >= self.registry.len() {
                return Err(EngineError::InvalidArgument(format!(
                    "series id {bad} is not in the registry ({} series)",
                    self.registry.len()
                )));
            }
        }
        let ids: ArrayRef = Arc::new(UInt32Array::new(ScalarBuffer::from(series_ids), None));
        let times: ArrayRef = Arc::new(TimestampNanosecondArray::new(
            ScalarBuffer::from(times),
            None,
        ));
        let values: ArrayRef = Arc::new(PrimitiveArray::<V::Arrow>::new(
            ScalarBuffer::from(values),
            nulls,
        ));
        let schema = timeline_schema_of(V::VALUE_TYPE);
        let batch = RecordBatch::try_new(schema, vec![ids, times, values])?;
        if cfg!(debug_assertions) {
            // Full validation (time order within runs) in debug builds.
            let checked = TimelineBatch::try_new(batch, Arc::clone(&self.registry))?;
            debug_assert_eq!(&checked.offsets[..], &offsets[..]);
            return Ok(checked);
        }
        Ok(TimelineBatch {
            batch,
            offsets: offsets.into(),
            registry: Arc::clone(&self.registry),
            float: OnceLock::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SeriesInfo;

    fn registry(n: usize) -> Arc<SeriesRegistry> {
        Arc::new(SeriesRegistry::new(
            (0..n)
                .map(|i| SeriesInfo::new("m", &[("host", &format!("h{i}"))], "v"))
                .collect(),
        ))
    }

    #[test]
    fn runs_are_split_on_series_change() {
        let mut b = TimelineBatchBuilder::new(registry(3), 8);
        b.push_slice(2, &[0, 10, 20], &[1.0, 2.0, 3.0]);
        b.push(0, 5, None);
        b.push(0, 6, Some(f64::NAN));
        let batch = b.finish().unwrap();
        assert_eq!(batch.num_rows(), 5);
        assert_eq!(batch.num_timelines(), 2);
        let t0 = batch.timeline(0);
        assert_eq!((t0.series_id, t0.times), (2, &[0i64, 10, 20][..]));
        let t1 = batch.timeline(1);
        assert_eq!(t1.series_id, 0);
        assert_eq!(t1.value(0), None);
        assert!(t1.value(1).unwrap().is_nan());
        assert!(b.is_empty());
    }

    #[test]
    fn unsorted_time_is_rejected() {
        let err = TimelineBatch::from_columns(
            vec![0, 0],
            vec![10, 10],
            vec![1.0, 2.0],
            None,
            registry(1),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not strictly increasing"), "{err}");
    }

    #[test]
    fn sorted_runs_are_wrapped_and_checked() {
        let ok = TimelineBatch::from_sorted_runs(
            vec![1, 1, 0].into(),
            vec![5, 6, 1].into(),
            vec![1.0, 2.0, 3.0].into(),
            vec![0, 2, 3],
            registry(2),
        )
        .unwrap();
        assert_eq!(ok.num_timelines(), 2);
        assert_eq!(
            (ok.timeline(1).series_id, ok.timeline(1).times),
            (0, &[1i64][..])
        );
        let bad = |ids: Vec<u32>, times: Vec<i64>, offsets: Vec<u32>| {
            let values = vec![0.0; times.len()];
            TimelineBatch::from_sorted_runs(
                ids.into(),
                times.into(),
                values.into(),
                offsets,
                registry(2),
            )
            .unwrap_err()
            .to_string()
        };
        let err = bad(vec![1, 1, 0], vec![5, 6, 1], vec![0, 3]);
        assert!(
            err.contains("run 0 (0..3) does not hold exactly one"),
            "{err}"
        );
        let err = bad(vec![1, 1], vec![5, 6], vec![0, 1, 2]);
        assert!(
            err.contains("run 0 (0..1) does not hold exactly one"),
            "{err}"
        );
        let err = bad(vec![4], vec![5], vec![0, 1]);
        assert!(
            err.contains("series id 4 at row 0 is not in the registry"),
            "{err}"
        );
        let err = bad(vec![0, 0], vec![5, 6], vec![0, 1]);
        assert!(err.contains("must run from 0 to 2"), "{err}");
        let err = bad(vec![0, 0], vec![5, 6], vec![0, 0, 2]);
        assert!(err.contains("run 0 is empty"), "{err}");
        let err = bad(vec![0, 0], vec![5], vec![0, 2]);
        assert!(err.contains("2 ids, 1 times"), "{err}");
    }

    #[test]
    fn all_valid_looks_at_the_run_only() {
        // rows: s0 = [1, null], s1 = [3, 4]
        let nulls = NullBuffer::from(vec![true, false, true, true]);
        let batch = TimelineBatch::from_columns(
            vec![0, 0, 1, 1],
            vec![1, 2, 1, 2],
            vec![1.0, 0.0, 3.0, 4.0],
            Some(nulls),
            registry(2),
        )
        .unwrap();
        let (t0, t1) = (batch.timeline(0), batch.timeline(1));
        assert!(!t0.all_valid() && t0.slice(0, 1).all_valid());
        assert!(t1.all_valid() && !t0.slice(1, 2).all_valid());
    }

    #[test]
    fn unknown_series_is_rejected() {
        let err = TimelineBatch::from_columns(vec![4], vec![1], vec![1.0], None, registry(1))
            .unwrap_err();
        assert!(err.to_string().contains("not in the registry"), "{err}");
    }
}
