//! Wide rows from tall timelines: the merge behind [`TsqScanExec`].
//!
//! A tsq adapter scans one field at a time and delivers its timelines in
//! ascending series order, i.e. ascending tag set (the measurement and the
//! field being fixed), each time-sorted. A table row is one (tag set, time)
//! with a column per field, so the scans of the fields are merged on
//! `(tag set, time)` like sorted runs:
//!
//! ```text
//!  usage_user  (a,1)=5  (a,2)=6           (b,1)=7
//!  usage_idle  (a,1)=90          (a,3)=80 (b,1)=91
//!  ──────────▶ (a,1): 5, 90 | (a,2): 6, NULL | (a,3): NULL, 80 | (b,1): 7, 91
//! ```
//!
//! Tag sets are numbered once, when the scans open, from the scans'
//! registries; the merge then compares `(u32, i64)` keys only, and each tag
//! column is a dictionary whose keys come from that number. Memory is one
//! adapter batch per field plus the output batch being built.
//!
//! [`TsqScanExec`]: crate::TsqScanExec

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, DictionaryArray, Float64Builder, Int32Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{Int32Type, SchemaRef};
use tsq_engine::registry::TagPairs;
use tsq_engine::{EngineError, SeriesRegistry, SeriesScan, TimelineBatch};

use crate::error::Result;
use crate::schema::Column;

/// One field's scan and where its head row is.
pub(crate) struct FieldInput {
    scan: Box<dyn SeriesScan>,
    /// The output field column this input fills, if it is projected (else
    /// it only says which rows exist).
    slot: Option<usize>,
    batch: Option<TimelineBatch>,
    row: usize,
    done: bool,
    /// The registry `tagset_of` was built from, and series id → tag set.
    mapped: Option<Arc<SeriesRegistry>>,
    tagset_of: Vec<u32>,
}

impl FieldInput {
    /// An input filling output field column `slot` (or none).
    pub(crate) fn new(scan: Box<dyn SeriesScan>, slot: Option<usize>) -> Self {
        FieldInput {
            scan,
            slot,
            batch: None,
            row: 0,
            done: false,
            mapped: None,
            tagset_of: Vec::new(),
        }
    }
}

/// Counters the scan node reports.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    /// Points read from the adapter.
    pub(crate) points: usize,
}

/// Merges the field scans of one measurement into wide record batches.
pub(crate) struct RowMerger {
    inputs: Vec<FieldInput>,
    tagsets: Vec<TagPairs>,
    /// Per projected tag: its dictionary values and, per tag set, the key.
    tag_dictionaries: Vec<(Arc<StringArray>, Vec<Option<i32>>)>,
    projection: Vec<Column>,
    field_slots: usize,
    schema: SchemaRef,
    batch_size: usize,
    remaining: Option<usize>,
    counts: Counts,
}

impl RowMerger {
    /// A merger of `inputs` producing `projection` (columns of the table)
    /// as `schema`, at most `limit` rows in batches of `batch_size`.
    pub(crate) fn new(
        inputs: Vec<FieldInput>,
        tag_keys: &[String],
        projection: Vec<Column>,
        schema: SchemaRef,
        batch_size: usize,
        limit: Option<usize>,
    ) -> Self {
        let tagsets: Vec<TagPairs> = inputs
            .iter()
            .flat_map(|i| i.scan.registry().iter().map(|(_, s)| s.tags.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let tag_dictionaries = projection
            .iter()
            .filter_map(|c| match c {
                Column::Tag(t) => Some(dictionary(&tagsets, &tag_keys[*t])),
                _ => None,
            })
            .collect();
        let field_slots = inputs.iter().filter(|i| i.slot.is_some()).count();
        RowMerger {
            inputs,
            tagsets,
            tag_dictionaries,
            projection,
            field_slots,
            schema,
            batch_size: batch_size.max(1),
            remaining: limit,
            counts: Counts::default(),
        }
    }

    /// What was read so far.
    pub(crate) fn counts(&self) -> Counts {
        self.counts
    }

    /// The next batch of rows, or `None` when every scan is exhausted (or
    /// the limit reached).
    pub(crate) async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let want = match self.remaining {
            Some(0) => return Ok(None),
            Some(r) => r.min(self.batch_size),
            None => self.batch_size,
        };
        let mut out = OutBatch::new(want, self.field_slots);
        while out.times.len() < want {
            self.fill_heads().await?;
            let Some(key) = self.min_key() else { break };
            let aligned = self.aligned_rows(key, want - out.times.len());
            if aligned > 0 {
                self.copy_aligned(aligned, key.0, &mut out);
            } else {
                self.merge_one(key, &mut out);
            }
        }
        if out.times.is_empty() {
            return Ok(None);
        }
        if let Some(r) = &mut self.remaining {
            *r -= out.times.len();
        }
        self.build(out).map(Some)
    }

    /// Makes sure every unfinished input has a head row.
    async fn fill_heads(&mut self) -> Result<()> {
        for input in &mut self.inputs {
            while !input.done
                && input
                    .batch
                    .as_ref()
                    .is_none_or(|b| input.row >= b.num_rows())
            {
                match input.scan.next_batch(self.batch_size).await? {
                    Some(batch) => {
                        self.counts.points += batch.num_rows();
                        map_registry(input, batch.registry(), &self.tagsets)?;
                        check_ids(input, &batch)?;
                        input.batch = Some(batch);
                        input.row = 0;
                    }
                    None => {
                        input.done = true;
                        input.batch = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// One row at `key`: every input whose head is there fills its column
    /// and moves on; the others leave NULL.
    fn merge_one(&mut self, key: (u32, i64), out: &mut OutBatch) {
        out.times.push(key.1);
        out.tagsets.push(key.0);
        for slot in &mut out.values {
            slot.append_null();
        }
        for input in &mut self.inputs {
            if head(input) != Some(key) {
                continue;
            }
            if let (Some(slot), Some(batch)) = (input.slot, input.batch.as_ref()) {
                let values = batch.values();
                let v = values.is_valid(input.row).then(|| values.value(input.row));
                out.values[slot].set_last(v);
            }
            input.row += 1;
        }
    }

    /// The dense case, where every field has a point at every time: how
    /// many rows from `key` on (at most `max`) have all inputs on the same
    /// series with the same times, so they can be copied as slices. Zero
    /// when some input is elsewhere (then rows are merged one by one).
    fn aligned_rows(&self, key: (u32, i64), max: usize) -> usize {
        let mut runs = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            let Some(batch) = input.batch.as_ref().filter(|_| head(input) == Some(key)) else {
                return 0;
            };
            let ids = &batch.series_ids()[input.row..];
            let run = ids.iter().take(max).take_while(|&&id| id == ids[0]).count();
            runs.push(&batch.times()[input.row..input.row + run]);
        }
        let Some(first) = runs.first() else { return 0 };
        let n = runs.iter().map(|r| r.len()).min().unwrap_or(0);
        (0..n)
            .take_while(|&i| runs.iter().all(|r| r[i] == first[i]))
            .count()
    }

    /// Copies `n` aligned rows of tag set `tagset` (see `aligned_rows`).
    fn copy_aligned(&mut self, n: usize, tagset: u32, out: &mut OutBatch) {
        let mut copied_times = false;
        for input in &mut self.inputs {
            let Some(batch) = input.batch.as_ref() else {
                continue;
            };
            let range = input.row..input.row + n;
            if !copied_times {
                out.times.extend_from_slice(&batch.times()[range.clone()]);
                out.tagsets.extend(std::iter::repeat_n(tagset, n));
                copied_times = true;
            }
            if let Some(slot) = input.slot {
                let values = batch.values();
                let column = &mut out.values[slot];
                column
                    .values
                    .extend_from_slice(&values.values()[range.clone()]);
                column.valid.extend(range.map(|r| values.is_valid(r)));
            }
            input.row += n;
        }
    }

    fn min_key(&self) -> Option<(u32, i64)> {
        self.inputs.iter().filter_map(head).min()
    }

    fn build(&self, out: OutBatch) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.projection.len());
        let mut values = out.values.into_iter().map(|mut b| b.finish());
        let mut dictionaries = self.tag_dictionaries.iter();
        let mut times = Some(out.times);
        for column in &self.projection {
            let array: ArrayRef = match column {
                Column::Time => Arc::new(
                    TimestampNanosecondArray::from(times.take().unwrap_or_default())
                        .with_timezone(tsq_planner::TIME_ZONE),
                ),
                Column::Tag(_) => {
                    let (dict, keys) = dictionaries.next().expect("one dictionary per tag");
                    let keys: Int32Array = out.tagsets.iter().map(|&t| keys[t as usize]).collect();
                    let dict: ArrayRef = Arc::clone(dict) as ArrayRef;
                    Arc::new(DictionaryArray::<Int32Type>::try_new(keys, dict)?)
                }
                Column::Field(_) => Arc::new(values.next().expect("one builder per field")),
            };
            columns.push(array);
        }
        let options = datafusion::arrow::array::RecordBatchOptions::new()
            .with_row_count(Some(out.tagsets.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?)
    }
}

/// The rows of one output batch as they are gathered.
struct OutBatch {
    times: Vec<i64>,
    tagsets: Vec<u32>,
    values: Vec<NullableColumn>,
}

impl OutBatch {
    fn new(rows: usize, fields: usize) -> Self {
        OutBatch {
            times: Vec::with_capacity(rows),
            tagsets: Vec::with_capacity(rows),
            values: (0..fields).map(|_| NullableColumn::new(rows)).collect(),
        }
    }
}

/// A Float64 column whose last cell can be set after it was appended.
struct NullableColumn {
    values: Vec<f64>,
    valid: Vec<bool>,
}

impl NullableColumn {
    fn new(rows: usize) -> Self {
        NullableColumn {
            values: Vec::with_capacity(rows),
            valid: Vec::with_capacity(rows),
        }
    }

    fn append_null(&mut self) {
        self.values.push(0.0);
        self.valid.push(false);
    }

    fn set_last(&mut self, v: Option<f64>) {
        if let (Some(slot), Some(valid)) = (self.values.last_mut(), self.valid.last_mut()) {
            *slot = v.unwrap_or(0.0);
            *valid = v.is_some();
        }
    }

    fn finish(&mut self) -> datafusion::arrow::array::Float64Array {
        let mut b = Float64Builder::with_capacity(self.values.len());
        b.append_values(&self.values, &self.valid);
        b.finish()
    }
}

/// The `(tag set, time)` of an input's head row.
fn head(input: &FieldInput) -> Option<(u32, i64)> {
    let batch = input.batch.as_ref()?;
    if input.row >= batch.num_rows() {
        return None;
    }
    let series = batch.series_ids()[input.row] as usize;
    Some((input.tagset_of[series], batch.times()[input.row]))
}

/// Refuses a batch naming a series its registry does not hold (the merge
/// indexes by series id).
fn check_ids(input: &FieldInput, batch: &TimelineBatch) -> Result<()> {
    match batch
        .series_ids()
        .iter()
        .find(|&&id| id as usize >= input.tagset_of.len())
    {
        Some(id) => Err(EngineError::execution(
            "TsqScanExec",
            format!(
                "the adapter delivered series id {id} but its registry holds {} series",
                input.tagset_of.len()
            ),
        )
        .into()),
        None => Ok(()),
    }
}

/// Numbers the series of `registry` by tag set (once per registry).
fn map_registry(
    input: &mut FieldInput,
    registry: &Arc<SeriesRegistry>,
    tagsets: &[TagPairs],
) -> Result<()> {
    if input
        .mapped
        .as_ref()
        .is_some_and(|m| Arc::ptr_eq(m, registry))
    {
        return Ok(());
    }
    input.tagset_of = registry
        .iter()
        .map(|(_, s)| {
            tagsets.binary_search(&s.tags).map(|i| i as u32).map_err(|_| {
                EngineError::execution(
                    "TsqScanExec",
                    format!("the adapter delivered series {s} that its scan's registry did not list"),
                )
            })
        })
        .collect::<std::result::Result<_, _>>()?;
    input.mapped = Some(Arc::clone(registry));
    Ok(())
}

/// The distinct values of tag `key` over `tagsets` (sorted) and, per tag
/// set, the index of its value (`None` where the tag is missing).
fn dictionary(tagsets: &[TagPairs], key: &str) -> (Arc<StringArray>, Vec<Option<i32>>) {
    let value_of = |tags: &TagPairs| -> Option<Arc<str>> {
        tags.binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| Arc::clone(&tags[i].1))
    };
    let distinct: Vec<Arc<str>> = tagsets
        .iter()
        .filter_map(value_of)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let keys = tagsets
        .iter()
        .map(|tags| {
            let v = value_of(tags)?;
            distinct.binary_search(&v).ok().map(|i| i as i32)
        })
        .collect();
    let values = StringArray::from_iter_values(distinct.iter().map(|v| v.as_ref()));
    (Arc::new(values), keys)
}
