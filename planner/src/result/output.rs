//! Result rows into Arrow: [`OutputBuilder`] appends joined rows (a group
//! key, a time, one cell per value column), or runs of rows column by
//! column (the times, a slice of values per column), and cuts them into
//! `RecordBatch`es of the result schema. A group's key is stored once per
//! run of rows, not per row: the key the join built, or the series of a
//! registry whose tag values are read when the batch is cut (the runs a
//! join of one input copies whole, [`push_series_runs`](OutputBuilder::push_series_runs));
//! tag columns are `Utf8`, or
//! `Dictionary(Int32, Utf8)` when the session asks for dictionary tags
//! (`SessionConfig::with_dictionary_tags`), each batch with its own
//! dictionary of the values it holds. Value columns have the types of the
//! schema (`Float64`, `Int64`, `UInt64`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, DictionaryArray, Float64Builder, Int32Array, Int64Builder,
    PrimitiveArray, PrimitiveBuilder, StringArray, StringBuilder, TimestampNanosecondArray,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Int32Type, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryReservation;
use tsq_engine::SeriesRegistry;

use super::cell::Num;
use super::input::RunValues;
use super::keys::same_key;
use crate::error::Result;

/// A group key: the values of the result's tag columns.
pub(crate) type Key = Arc<[String]>;

/// The group key of a run of rows: built by the join, or the tag values of
/// a series of a registry, read when the batch is cut.
#[derive(Debug, Clone)]
enum RunKey {
    Key(Key),
    Series(Arc<SeriesRegistry>, u32),
}

impl RunKey {
    /// The value of tag column `t`, named `name`.
    fn tag<'a>(&'a self, t: usize, name: &str) -> &'a str {
        match self {
            RunKey::Key(key) => &key[t],
            RunKey::Series(registry, id) => {
                registry.get(*id).and_then(|s| s.tag(name)).unwrap_or("")
            }
        }
    }
}

/// The tag column of the registry of the last run read
/// ([`SeriesRegistry::tag_column`]): the runs of a batch come from one or a
/// few registries, whose laid-out tag values are read by id instead of
/// through each series.
#[derive(Default)]
struct TagColumnOf<'a> {
    last: Option<(&'a Arc<SeriesRegistry>, Option<&'a StringArray>)>,
}

impl<'a> TagColumnOf<'a> {
    /// Tag column `t`, named `name`, of run key `key`.
    fn tag(&mut self, key: &'a RunKey, t: usize, name: &str) -> &'a str {
        let RunKey::Series(registry, id) = key else {
            return key.tag(t, name);
        };
        let column = match self.last {
            Some((r, column)) if Arc::ptr_eq(r, registry) => column,
            _ => {
                let column = registry.tag_column(name);
                self.last = Some((registry, column));
                column
            }
        };
        match column {
            Some(c) if (*id as usize) < c.len() => c.value(*id as usize),
            _ => key.tag(t, name),
        }
    }
}

/// Rows reserved at a time while a batch is built.
const RESERVE_ROWS: usize = 1024;

/// Joined rows on their way into result batches.
pub(crate) struct OutputBuilder {
    schema: SchemaRef,
    n_tags: usize,
    dictionary: bool,
    times: Vec<i64>,
    values: Vec<ValueBuilder>,
    /// Which value columns [`push_runs`](Self::push_runs) filled.
    filled: Vec<bool>,
    /// `(key, rows)` runs, in row order.
    runs: Vec<(RunKey, usize)>,
    /// Bytes of the rows being built.
    reservation: MemoryReservation,
    reserved_rows: usize,
}

impl OutputBuilder {
    /// A builder of batches of `schema`, whose tag columns are dictionary
    /// encoded when the schema says so.
    pub(crate) fn new(schema: SchemaRef, n_tags: usize, reservation: MemoryReservation) -> Self {
        let dictionary = schema
            .fields()
            .get(1)
            .is_some_and(|f| n_tags > 0 && matches!(f.data_type(), DataType::Dictionary(..)));
        let values: Vec<ValueBuilder> = schema.fields()[1 + n_tags..]
            .iter()
            .map(|f| ValueBuilder::new(f.data_type()))
            .collect();
        OutputBuilder {
            schema,
            n_tags,
            dictionary,
            times: Vec::new(),
            filled: vec![false; values.len()],
            values,
            runs: Vec::new(),
            reservation,
            reserved_rows: 0,
        }
    }

    /// Bytes reserved for the rows being built.
    pub(crate) fn reserved(&self) -> usize {
        self.reservation.size()
    }

    /// Rows appended since the last batch.
    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    /// The schema of the batches.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends a row; `cells` holds at least the result's value columns.
    pub(crate) fn push(&mut self, key: &Key, time: i64, cells: &[Option<Num>]) -> Result<()> {
        if self.times.len() == self.reserved_rows {
            self.reservation.try_grow(RESERVE_ROWS * self.row_bytes())?;
            self.reserved_rows += RESERVE_ROWS;
        }
        self.times.push(time);
        for (builder, cell) in self.values.iter_mut().zip(cells) {
            builder.append(*cell);
        }
        match self.runs.last_mut() {
            Some((RunKey::Key(k), rows)) if same_key(k, key) => *rows += 1,
            _ => self.runs.push((RunKey::Key(Arc::clone(key)), 1)),
        }
        Ok(())
    }

    /// Appends one row per time of `times`, column by column: value
    /// column `c` of an entry `(c, values, start)` of `runs` takes
    /// `values[start..start + times.len()]`, every other value column nulls
    /// (entries of hidden columns are ignored). The rows the row loop would
    /// push one by one, without the loop.
    pub(super) fn push_runs<'a>(
        &mut self,
        key: &Key,
        times: &[i64],
        runs: impl Iterator<Item = (usize, (&'a RunValues, usize))>,
    ) -> Result<()> {
        let n = times.len();
        self.append_rows(times, runs)?;
        match self.runs.last_mut() {
            Some((RunKey::Key(k), rows)) if same_key(k, key) => *rows += n,
            _ => self.runs.push((RunKey::Key(Arc::clone(key)), n)),
        }
        Ok(())
    }

    /// Appends the whole timeline runs `runs`, `(series id, rows)` of
    /// `registry`, whose times are `times` back to back: value column
    /// `column` takes `values[start..start + times.len()]`, every other
    /// value column nulls. No key is built: the runs' tag values are read
    /// from `registry` when the batch is cut.
    pub(crate) fn push_series_runs(
        &mut self,
        registry: &Arc<SeriesRegistry>,
        runs: &[(u32, usize)],
        times: &[i64],
        column: usize,
        values: (&RunValues, usize),
    ) -> Result<()> {
        self.append_rows(times, std::iter::once((column, values)))?;
        self.runs.extend(
            runs.iter()
                .map(|&(id, n)| (RunKey::Series(Arc::clone(registry), id), n)),
        );
        Ok(())
    }

    /// The times and value columns of [`push_runs`](Self::push_runs),
    /// reserving their bytes.
    fn append_rows<'a>(
        &mut self,
        times: &[i64],
        runs: impl Iterator<Item = (usize, (&'a RunValues, usize))>,
    ) -> Result<()> {
        let n = times.len();
        while self.times.len() + n > self.reserved_rows {
            self.reservation.try_grow(RESERVE_ROWS * self.row_bytes())?;
            self.reserved_rows += RESERVE_ROWS;
        }
        self.times.extend_from_slice(times);
        self.filled.fill(false);
        for (column, (values, start)) in runs {
            if let Some(builder) = self.values.get_mut(column) {
                builder.append_run(values, start, n);
                self.filled[column] = true;
            }
        }
        for (builder, _) in self
            .values
            .iter_mut()
            .zip(&self.filled)
            .filter(|(_, f)| !**f)
        {
            builder.append_nulls(n);
        }
        Ok(())
    }

    /// Bytes one row takes while the batch is built (time, values with
    /// validity, and at most one run entry).
    fn row_bytes(&self) -> usize {
        8 + self.values.len() * 9 + std::mem::size_of::<(RunKey, usize)>()
    }

    /// The rows appended so far as one batch (`None` when there is none).
    pub(crate) fn take(&mut self) -> Result<Option<RecordBatch>> {
        if self.times.is_empty() {
            return Ok(None);
        }
        let rows = self.times.len();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        let times = TimestampNanosecondArray::from(std::mem::take(&mut self.times));
        columns.push(Arc::new(times.with_timezone(crate::result::TIME_ZONE)));
        for t in 0..self.n_tags {
            let name = self.schema.field(1 + t).name();
            let mut of = TagColumnOf::default();
            let values: Vec<(&str, usize)> = self
                .runs
                .iter()
                .map(|(k, n)| (of.tag(k, t, name), *n))
                .collect();
            columns.push(if self.dictionary {
                dictionary_column(&values)
            } else {
                string_column(&values, t, rows)?
            });
        }
        for builder in &mut self.values {
            columns.push(builder.finish());
        }
        self.runs.clear();
        self.reservation.free();
        self.reserved_rows = 0;
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.schema),
            columns,
        )?))
    }
}

/// The builder of one value column, of the column's type.
enum ValueBuilder {
    Float(Float64Builder),
    Int(Int64Builder),
    UInt(UInt64Builder),
}

impl ValueBuilder {
    /// A builder of `data_type` (`Int64`, `UInt64`, else `Float64`).
    fn new(data_type: &DataType) -> Self {
        match data_type {
            DataType::Int64 => ValueBuilder::Int(Int64Builder::new()),
            DataType::UInt64 => ValueBuilder::UInt(UInt64Builder::new()),
            _ => ValueBuilder::Float(Float64Builder::new()),
        }
    }

    /// Appends a cell (of the column's kind: the inputs cast their values
    /// to it, so the conversions below do not occur).
    #[inline]
    fn append(&mut self, cell: Option<Num>) {
        match (self, cell) {
            (ValueBuilder::Float(b), c) => b.append_option(c.map(Num::to_f64)),
            (ValueBuilder::Int(b), Some(Num::Int(v))) => b.append_value(v),
            (ValueBuilder::UInt(b), Some(Num::UInt(v))) => b.append_value(v),
            (ValueBuilder::Int(b), c) => b.append_option(c.map(|n| n.to_f64() as i64)),
            (ValueBuilder::UInt(b), c) => b.append_option(c.map(|n| n.to_f64() as u64)),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            ValueBuilder::Float(b) => b.append_nulls(n),
            ValueBuilder::Int(b) => b.append_nulls(n),
            ValueBuilder::UInt(b) => b.append_nulls(n),
        }
    }

    /// Appends `values[start..start + n]`, values of the column's type (of
    /// another type: cell by cell, converted as [`append`](Self::append)
    /// does).
    fn append_run(&mut self, values: &RunValues, start: usize, n: usize) {
        match (self, values) {
            (ValueBuilder::Float(b), RunValues::Float(a)) => append_slice(b, a, start, n),
            (ValueBuilder::Int(b), RunValues::Int(a)) => append_slice(b, a, start, n),
            (ValueBuilder::UInt(b), RunValues::UInt(a)) => append_slice(b, a, start, n),
            (b, values) => {
                for i in start..start + n {
                    b.append(values.cell(i));
                }
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ValueBuilder::Float(b) => Arc::new(b.finish()),
            ValueBuilder::Int(b) => Arc::new(b.finish()),
            ValueBuilder::UInt(b) => Arc::new(b.finish()),
        }
    }
}

/// Appends `a[start..start + n]` to `b`: the values as one slice, with
/// their validity when some are null.
fn append_slice<T: ArrowPrimitiveType>(
    b: &mut PrimitiveBuilder<T>,
    a: &PrimitiveArray<T>,
    start: usize,
    n: usize,
) {
    let values = &a.values()[start..start + n];
    match a.nulls().map(|nulls| nulls.slice(start, n)) {
        Some(nulls) if nulls.null_count() > 0 => {
            let valid: Vec<bool> = nulls.iter().collect();
            b.append_values(values, &valid);
        }
        _ => b.append_slice(values),
    }
}

/// Tag column `t` of every row as `Utf8`, from `(value, rows)` runs: an
/// error, not arrow's panic, when its
/// bytes do not fit the `i32` offsets. (Appending `&str`s skips the UTF-8
/// check that building the array from its buffers would make: fewer
/// instructions than writing the bytes and offsets by hand.)
fn string_column(runs: &[(&str, usize)], t: usize, rows: usize) -> Result<ArrayRef> {
    let bytes: usize = runs.iter().map(|(v, n)| v.len() * n).sum();
    if i32::try_from(bytes).is_err() {
        return Err(ArrowError::InvalidArgumentError(format!(
            "tag column {t} of a result batch holds {bytes} bytes, more than a Utf8 array can"
        ))
        .into());
    }
    let mut b = StringBuilder::with_capacity(rows, bytes);
    for (value, n) in runs {
        for _ in 0..*n {
            b.append_value(value);
        }
    }
    Ok(Arc::new(b.finish()))
}

/// A tag column of every row as `Dictionary(Int32, Utf8)`, from `(value,
/// rows)` runs: each distinct value
/// once in the dictionary, in order of first appearance.
fn dictionary_column(runs: &[(&str, usize)]) -> ArrayRef {
    let mut index: HashMap<&str, i32> = HashMap::new();
    let mut values: Vec<&str> = Vec::new();
    let mut keys: Vec<i32> = Vec::new();
    for &(value, n) in runs {
        let at = *index.entry(value).or_insert_with(|| {
            values.push(value);
            values.len() as i32 - 1
        });
        keys.extend(std::iter::repeat_n(at, n));
    }
    let dictionary = DictionaryArray::<Int32Type>::new(
        Int32Array::from(keys),
        Arc::new(StringArray::from(values)),
    );
    Arc::new(dictionary)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray, Float64Array};
    use tsq_engine::memory::MemoryPool;

    use super::*;
    use crate::result::result_schema_with;

    fn key(values: &[&str]) -> Key {
        values.iter().map(|s| s.to_string()).collect()
    }

    /// Tag column 1 of `batch` as strings, plain or dictionary encoded.
    fn tag_strings(batch: &RecordBatch, dictionary: bool) -> Vec<String> {
        if dictionary {
            let d = batch.column(1).as_dictionary::<Int32Type>();
            let values = d.values().as_string::<i32>();
            d.keys()
                .values()
                .iter()
                .map(|&k| values.value(k as usize).to_string())
                .collect()
        } else {
            let s = batch.column(1).as_string::<i32>();
            (0..s.len()).map(|i| s.value(i).to_string()).collect()
        }
    }

    #[test]
    fn runs_of_series_take_their_tags_from_the_registry_when_cut() {
        use tsq_engine::SeriesInfo;
        let series = SeriesRegistry::new(vec![
            SeriesInfo::new("m", &[("host", "a")], "v"),
            SeriesInfo::new("m", &[("host", "b")], "v"),
            SeriesInfo::new("m", &[("rack", "r1")], "v"),
        ]);
        // a registry of other series, whose runs follow (laid out or not)
        let other = SeriesRegistry::new(vec![SeriesInfo::new("m", &[("host", "z")], "v")]);
        let host = ["host".to_string()];
        // tags read through each series, or from the registry's laid-out
        // tag columns, or both (runs from two registries, one of each)
        let cases = [
            (series.clone(), other.clone()),
            (series.clone().with_tag_columns(&host), other.clone()),
            (series.clone(), other.clone().with_tag_columns(&host)),
        ];
        for ((first, second), dictionary) in cases
            .into_iter()
            .flat_map(|c| [false, true].map(|d| (c.clone(), d)))
        {
            let (registry, other) = (Arc::new(first), Arc::new(second));
            let pool = MemoryPool::new(1 << 20);
            let schema = result_schema_with(&["host".into()], &["v".into()], dictionary);
            let mut out = OutputBuilder::new(schema, 1, pool.reservation("ResultJoin", ""));
            out.push(&key(&["a"]), 0, &[Some(Num::Float(1.0))]).unwrap();
            let values = RunValues::Float(Float64Array::from(vec![
                Some(9.0),
                Some(2.0),
                None,
                Some(4.0),
                Some(5.0),
            ]));
            // rows 1..5 of the values: series 1 (two rows), 2, then 0
            let runs = [(1, 2), (2, 1), (0, 1)];
            out.push_series_runs(&registry, &runs, &[0, 10, 0, 20], 0, (&values, 1))
                .unwrap();
            out.push_series_runs(&other, &[(0, 1)], &[30], 0, (&values, 0))
                .unwrap();
            let batch = out.take().unwrap().unwrap();
            assert_eq!(pool.used(), 0);
            // series 2 has no host: the empty string, as a built key has
            assert_eq!(
                tag_strings(&batch, dictionary),
                ["a", "b", "b", "", "a", "z"]
            );
            let v = batch
                .column(2)
                .as_primitive::<arrow::datatypes::Float64Type>();
            let cells: Vec<Option<f64>> =
                (0..6).map(|i| v.is_valid(i).then(|| v.value(i))).collect();
            assert_eq!(
                cells,
                [Some(1.0), Some(2.0), None, Some(4.0), Some(5.0), Some(9.0)]
            );
        }
    }

    #[test]
    fn rows_become_one_batch_with_plain_or_dictionary_tags() {
        for dictionary in [false, true] {
            let pool = MemoryPool::new(1 << 20);
            let schema = result_schema_with(&["host".into()], &["v".into()], dictionary);
            let mut out = OutputBuilder::new(schema, 1, pool.reservation("ResultJoin", ""));
            let (a, b) = (key(&["a"]), key(&["b"]));
            out.push(&a, 0, &[Some(Num::Float(1.0))]).unwrap();
            out.push(&a, 10, &[None]).unwrap();
            out.push(&b, 0, &[Some(Num::Float(3.0))]).unwrap();
            out.push(&key(&["a"]), 20, &[Some(Num::Float(4.0))])
                .unwrap();
            assert!(pool.used() > 0);
            let batch = out.take().unwrap().unwrap();
            assert_eq!(pool.used(), 0);
            assert!(out.take().unwrap().is_none());
            if dictionary {
                let d = batch.column(1).as_dictionary::<Int32Type>();
                // "a" and "b" once each in the dictionary
                assert_eq!(d.values().len(), 2);
                assert_eq!(d.keys().values(), &[0, 0, 1, 0]);
            }
            assert_eq!(tag_strings(&batch, dictionary), ["a", "a", "b", "a"]);
            let v = batch
                .column(2)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            assert_eq!(
                (0..4)
                    .map(|i| v.is_valid(i).then(|| v.value(i)))
                    .collect::<Vec<_>>(),
                [Some(1.0), None, Some(3.0), Some(4.0)]
            );
        }
    }
}
