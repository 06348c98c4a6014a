//! One input of the merge join: a cursor over the timeline runs of one
//! pipeline, each run tagged with its group key (the values of the result's
//! tag columns) and read point by point.
//!
//! The merge needs every input in (group key, time) order. Pipelines emit
//! their timelines in ascending series id (aggregators: group id), and
//! adapters number series in key order, so the order holds whenever the
//! series' ids ascend with their keys: checked on the registry of the first
//! batch, in O(series), without allocating. When they do not (a raw select
//! or `GROUP BY *` over series with different tag sets, where a missing tag
//! sorts as the empty string), the input is read whole first, grouped by key
//! and sorted by time, as the materializing join did: correct, with memory
//! that grows with that input, reserved as `ResultJoin`. Each run is also
//! checked as it comes (its key and first time after the previous run's);
//! an input that breaks the order later fails the query, naming its column.
//!
//! Values keep the column's type (`Float64`, `Int64`, `UInt64`,
//! `docs/semantics.md` §11); a batch of another type than the column's is
//! cast once when it arrives.
//!
//! ```text
//!   Source ─▶ batch ─▶ runs ─▶ Run { key, times, values, pos..end } ─▶ merge
//!         (unordered registry: every batch ─▶ BTreeMap<key, Column> ─▶ sorted runs)
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, UInt64Array};
use arrow::buffer::ScalarBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, TimestampNanosecondType};
use tsq_engine::memory::MemoryReservation;
use tsq_engine::{EngineError, Operator, SeriesInfo, SeriesRegistry, TaskContext, TimelineBatch};

use super::cell::Num;
use super::keys::{cmp_keys, Keys};
use super::output::{Key, OutputBuilder};
use super::source::{Held, Source};
use super::{join_reservation, key_bytes, Column};
use crate::error::Result;

/// Points of one timeline run (or one sorted group) with its key.
pub(super) struct Run {
    key: Key,
    times: ScalarBuffer<i64>,
    values: RunValues,
    pos: usize,
    end: usize,
}

/// The values of a run's batch, downcast once to the column's type.
#[derive(Clone)]
pub(super) enum RunValues {
    Float(Float64Array),
    Int(Int64Array),
    UInt(UInt64Array),
}

impl RunValues {
    /// `values` (a `Float64`, `Int64` or `UInt64` array) cast to
    /// `data_type` if it has another type.
    pub(super) fn new(values: &ArrayRef, data_type: &DataType) -> Result<Self> {
        let cast_to;
        let values = if values.data_type() == data_type {
            values
        } else {
            cast_to = cast(values, data_type)?;
            &cast_to
        };
        Ok(match data_type {
            DataType::Int64 => RunValues::Int(values.as_primitive().clone()),
            DataType::UInt64 => RunValues::UInt(values.as_primitive().clone()),
            _ => match values.as_primitive_opt::<Float64Type>() {
                Some(floats) => RunValues::Float(floats.clone()),
                None => RunValues::Float(cast(values, &DataType::Float64)?.as_primitive().clone()),
            },
        })
    }

    /// Value `i` (`None` when null).
    #[inline]
    pub(super) fn cell(&self, i: usize) -> Option<Num> {
        match self {
            RunValues::Float(a) => a.is_valid(i).then(|| Num::Float(a.value(i))),
            RunValues::Int(a) => a.is_valid(i).then(|| Num::Int(a.value(i))),
            RunValues::UInt(a) => a.is_valid(i).then(|| Num::UInt(a.value(i))),
        }
    }
}

/// Where the runs come from.
enum Feed {
    /// Straight from the pipeline's batches.
    Stream,
    /// The whole input, grouped and sorted (its registry is not in key
    /// order); the reservation holds it until the input ends.
    Sorted {
        runs: std::vec::IntoIter<Run>,
        _reserved: MemoryReservation,
    },
}

/// The key and last time of the previous run, for the order check.
struct Last {
    registry: Arc<SeriesRegistry>,
    series: u32,
    key: Key,
    time: i64,
}

/// A cursor over one pipeline's output.
pub(super) struct JoinInput {
    /// The result column (output index) this input fills.
    pub(super) column: usize,
    /// The column's name, for errors.
    name: String,
    /// The column's type.
    data_type: DataType,
    /// The values of `batch`, in the column's type.
    batch_values: Option<RunValues>,
    source: Source,
    feed: Feed,
    tags: Arc<[String]>,
    batch: Option<Held>,
    next_run: usize,
    /// First row of the next run of `batch`.
    next_row: usize,
    run: Option<Run>,
    checked: Option<Arc<SeriesRegistry>>,
    /// Whether the series ids of `checked` ascend with their keys: checked
    /// for the first registry, declared for a later one
    /// (`SeriesRegistry::key_order`); without it the runs of that registry
    /// are taken one by one, each checked.
    checked_in_order: bool,
    last: Option<Last>,
    done: bool,
    /// The runs [`copy_following_runs`](Self::copy_following_runs) takes,
    /// `(series id, rows)` (kept to reuse the allocation).
    following: Vec<(u32, usize)>,
    /// Points taken from the pipeline.
    pub(super) rows_in: u64,
    ctx: TaskContext,
}

impl JoinInput {
    /// A cursor over `source`, which computes result column `column`.
    pub(super) fn new(
        column: usize,
        (name, data_type): (String, DataType),
        source: Source,
        tags: Arc<[String]>,
        ctx: &TaskContext,
    ) -> Self {
        JoinInput {
            column,
            name,
            data_type,
            batch_values: None,
            source,
            feed: Feed::Stream,
            tags,
            batch: None,
            next_run: 0,
            next_row: 0,
            run: None,
            checked: None,
            checked_in_order: false,
            last: None,
            done: false,
            following: Vec::new(),
            rows_in: 0,
            ctx: ctx.clone(),
        }
    }

    /// True once every point was taken.
    pub(super) fn is_done(&self) -> bool {
        self.done
    }

    /// Makes sure the cursor is on a point, or done; the key of a new run
    /// comes from `keys`.
    pub(super) async fn ready(&mut self, keys: &mut Keys) -> Result<()> {
        while !self.done && self.run.as_ref().is_none_or(|r| r.pos >= r.end) {
            self.run = self.next_run(keys).await?;
            if self.run.is_none() {
                self.done = true;
                self.batch = None;
                self.feed = Feed::Stream;
            }
        }
        Ok(())
    }

    /// The key of the current point (call after [`ready`](Self::ready),
    /// when not done).
    pub(super) fn key(&self) -> &Key {
        &self.current().key
    }

    /// The time of the current point.
    pub(super) fn time(&self) -> i64 {
        let r = self.current();
        r.times[r.pos]
    }

    /// Takes the current point's value and moves on; true when the run
    /// still has a point (false: call `ready` before looking again).
    pub(super) fn take(&mut self) -> (Option<Num>, bool) {
        let Some(r) = self.run.as_mut() else {
            return (None, false);
        };
        let v = r.values.cell(r.pos);
        r.pos += 1;
        (v, r.pos < r.end)
    }

    /// The times of the points left in the current run (empty when there
    /// is none).
    pub(super) fn run_times(&self) -> &[i64] {
        self.run.as_ref().map_or(&[], |r| &r.times[r.pos..r.end])
    }

    /// The values of the current run's batch and the index of the current
    /// point in them (call after [`ready`](Self::ready), when not done).
    pub(super) fn run_values(&self) -> (&RunValues, usize) {
        let r = self.current();
        (&r.values, r.pos)
    }

    /// Moves on by `n` points of the current run (at most the points left).
    pub(super) fn advance(&mut self, n: usize) {
        if let Some(r) = self.run.as_mut() {
            r.pos = (r.pos + n).min(r.end);
        }
    }

    /// Once the current run is taken, the whole runs that follow it in the
    /// current batch, up to `max` rows, go to `out` in one step (the join
    /// of this one input, `MergeJoin::copy_runs`): their times and values
    /// as one slice each, their tag values read from the batch's registry
    /// when `out` cuts its batch, so no key is built per group. They are in
    /// order without comparing keys: the registry was checked to be in key
    /// order, so ascending series ids are ascending keys. Stops before a
    /// run that does not fit in `max` or whose id does not ascend (the run
    /// by run path takes it, and checks it). Returns the rows appended.
    pub(super) fn copy_following_runs(
        &mut self,
        max: usize,
        out: &mut OutputBuilder,
        keys: &mut Keys,
    ) -> Result<usize> {
        if self.run.as_ref().is_some_and(|r| r.pos < r.end) {
            return Ok(0);
        }
        let (Some(held), Some(last), Some(values)) = (&self.batch, &self.last, &self.batch_values)
        else {
            return Ok(0);
        };
        let batch = &held.batch;
        let registry = batch.registry();
        let checked = self
            .checked
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, registry));
        if !checked || !self.checked_in_order || !Arc::ptr_eq(&last.registry, registry) {
            return Ok(0);
        }
        let (offsets, ids) = (batch.run_offsets(), batch.series_ids());
        let first = self.next_row;
        let (mut series, mut rows, mut next) = (last.series, 0, self.next_run);
        self.following.clear();
        while next < batch.num_timelines() {
            let (start, end) = (offsets[next] as usize, offsets[next + 1] as usize);
            let id = ids[start];
            if id <= series || rows + end - start > max {
                break;
            }
            self.following.push((id, end - start));
            (series, rows, next) = (id, rows + end - start, next + 1);
        }
        if rows == 0 {
            return Ok(0);
        }
        let times = &batch.times()[first..first + rows];
        out.push_series_runs(
            registry,
            &self.following,
            times,
            self.column,
            (values, first),
        )?;
        self.last = Some(Last {
            registry: Arc::clone(registry),
            series,
            key: keys.key(registry, series, &self.tags),
            time: times[rows - 1],
        });
        self.next_run = next;
        self.next_row += rows;
        Ok(rows)
    }

    fn current(&self) -> &Run {
        self.run
            .as_ref()
            .expect("ready() put the cursor on a point")
    }

    /// Stops the pipeline and hands its root back.
    pub(super) async fn stop(self) -> Box<dyn Operator> {
        self.source.stop().await
    }

    /// The next run: from the current batch, the next batch, or the sorted
    /// input.
    async fn next_run(&mut self, keys: &mut Keys) -> Result<Option<Run>> {
        loop {
            if let Feed::Sorted { runs, .. } = &mut self.feed {
                return Ok(runs.next());
            }
            if let Some(held) = &self.batch {
                if self.next_run < held.batch.num_timelines() {
                    let run = self.run_of(self.next_run, keys)?;
                    self.next_run += 1;
                    return Ok(Some(run));
                }
            }
            self.batch = None;
            let Some(held) = self.source.next().await? else {
                return Ok(None);
            };
            if held.batch.is_empty() {
                continue;
            }
            self.rows_in += held.batch.num_rows() as u64;
            let registry = held.batch.registry();
            if !self
                .checked
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, registry))
            {
                // the first registry is checked (O(series)); a later one
                // only counts as ordered when it declares it, and is read
                // run by run (each run checked) otherwise
                let ordered = match self.last {
                    None => keys.in_key_order(registry, &self.tags),
                    Some(_) => registry.key_order() == Some(&self.tags[..]),
                };
                if self.last.is_none() && !ordered {
                    self.sort_whole_input(held).await?;
                    continue;
                }
                self.checked = Some(Arc::clone(registry));
                self.checked_in_order = ordered;
            }
            self.batch_values = Some(RunValues::new(held.batch.value_column(), &self.data_type)?);
            self.batch = Some(held);
            self.next_run = 0;
            self.next_row = 0;
        }
    }

    /// Run `i` of the current batch, checked to follow the previous run,
    /// with its key from `keys`.
    fn run_of(&mut self, i: usize, keys: &mut Keys) -> Result<Run> {
        let held = self.batch.as_ref().expect("a current batch");
        let batch = &held.batch;
        let tl = batch.timeline(i);
        let registry = batch.registry();
        let first = tl.times[0];
        let key = match &self.last {
            Some(l) if l.series == tl.series_id && Arc::ptr_eq(&l.registry, registry) => {
                Arc::clone(&l.key)
            }
            _ => keys.key(registry, tl.series_id, &self.tags),
        };
        if let Some(l) = &self.last {
            let order = cmp_keys(&key, &l.key).then(first.cmp(&l.time));
            if order != Ordering::Greater {
                return Err(EngineError::execution(
                    super::RESULT_JOIN,
                    format!(
                        "the pipeline of '{}' did not emit its rows ordered by (group, time): \
                         {:?} at {first} after {:?} at {}",
                        self.name, key, l.key, l.time
                    ),
                )
                .into());
            }
        }
        let start = self.next_row;
        self.next_row += tl.len();
        self.last = Some(Last {
            registry: Arc::clone(registry),
            series: tl.series_id,
            key: Arc::clone(&key),
            time: tl.times[tl.len() - 1],
        });
        let Some(values) = self.batch_values.clone() else {
            return Err(EngineError::execution(
                super::RESULT_JOIN,
                format!("the input of '{}' lost its batch's values", self.name),
            )
            .into());
        };
        Ok(Run {
            key,
            times: times_buffer(batch),
            values,
            pos: start,
            end: start + tl.len(),
        })
    }

    /// Reads the whole input (from `first` on), groups its points by key
    /// and sorts each group by time, reserving what it holds.
    async fn sort_whole_input(&mut self, first: Held) -> Result<()> {
        let mut reservation = join_reservation(&self.ctx.memory);
        let mut groups: BTreeMap<Key, Column> = BTreeMap::new();
        let mut held = Some(first);
        while let Some(h) = held.take() {
            let values = RunValues::new(h.batch.value_column(), &self.data_type)?;
            add_batch(&mut groups, &h.batch, &values, &self.tags, &mut reservation)?;
            drop(h);
            held = self.source.next().await?;
            if let Some(h) = &held {
                self.rows_in += h.batch.num_rows() as u64;
            }
        }
        let mut runs = Vec::with_capacity(groups.len());
        for (key, mut col) in groups {
            col.sort(&mut reservation)?;
            let end = col.times.len();
            runs.push(Run {
                key,
                times: ScalarBuffer::from(col.times),
                values: column_values(col.values, &self.data_type),
                pos: 0,
                end,
            });
        }
        self.feed = Feed::Sorted {
            runs: runs.into_iter(),
            _reserved: reservation,
        };
        Ok(())
    }
}

/// Appends every timeline of `batch` to the column of its key.
fn add_batch(
    groups: &mut BTreeMap<Key, Column>,
    batch: &TimelineBatch,
    values: &RunValues,
    tags: &[String],
    reservation: &mut MemoryReservation,
) -> Result<()> {
    let mut row = 0;
    for tl in batch.timelines() {
        let start = row;
        row += tl.len();
        let key = key_of(batch.registry().get(tl.series_id), tags);
        let new = !groups.contains_key(&key);
        let bytes = if new {
            key_bytes(&key) + std::mem::size_of::<Column>()
        } else {
            0
        };
        let col = groups.entry(key).or_default();
        let before = col.bytes();
        col.times.extend_from_slice(tl.times);
        col.values.extend((start..row).map(|i| values.cell(i)));
        reservation.try_grow(bytes + col.bytes() - before)?;
    }
    Ok(())
}

/// A sorted group's cells as the values of a run of `data_type`.
fn column_values(cells: Vec<Option<Num>>, data_type: &DataType) -> RunValues {
    match data_type {
        DataType::Int64 => RunValues::Int(
            cells
                .into_iter()
                .map(|c| match c {
                    Some(Num::Int(v)) => Some(v),
                    other => other.map(|n| n.to_f64() as i64),
                })
                .collect(),
        ),
        DataType::UInt64 => RunValues::UInt(
            cells
                .into_iter()
                .map(|c| match c {
                    Some(Num::UInt(v)) => Some(v),
                    other => other.map(|n| n.to_f64() as u64),
                })
                .collect(),
        ),
        _ => RunValues::Float(cells.into_iter().map(|c| c.map(Num::to_f64)).collect()),
    }
}

/// The `time` column of `batch` (a cheap clone of its buffer).
fn times_buffer(batch: &TimelineBatch) -> ScalarBuffer<i64> {
    batch
        .record_batch()
        .column(1)
        .as_primitive::<TimestampNanosecondType>()
        .values()
        .clone()
}

/// The group key of a series: its value of each tag column, the empty
/// string where it has none (an id outside the registry: all empty).
pub(super) fn key_of(info: Option<&SeriesInfo>, tags: &[String]) -> Key {
    tags.iter()
        .map(|t| info.and_then(|s| s.tag(t)).unwrap_or("").to_string())
        .collect()
}

/// True when the keys of `registry`'s series strictly ascend with their
/// ids, so that id order is key order.
pub(super) fn in_key_order(registry: &SeriesRegistry, tags: &[String]) -> bool {
    // a grouping's registry of groups declares it (no string compared)
    if registry.key_order() == Some(tags) {
        return true;
    }
    let mut previous: Option<&SeriesInfo> = None;
    for (_, s) in registry.iter() {
        if let Some(p) = previous {
            let order = tags
                .iter()
                .map(|t| p.tag(t).unwrap_or("").cmp(s.tag(t).unwrap_or("")))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal);
            if order != Ordering::Less {
                return false;
            }
        }
        previous = Some(s);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_order_is_key_order_only_when_keys_strictly_ascend() {
        let tags: Vec<String> = vec!["dc".into(), "host".into()];
        let ordered = SeriesRegistry::new(vec![
            SeriesInfo::new("m", &[("dc", "a"), ("host", "x")], "v"),
            SeriesInfo::new("m", &[("dc", "a"), ("host", "y")], "v"),
            SeriesInfo::new("m", &[("dc", "b"), ("host", "a")], "v"),
        ]);
        assert!(in_key_order(&ordered, &tags));
        // canonical (tag pairs) order puts {dc=b, host=a} before {host=a},
        // whose key ("", "a") is smaller
        let (missing, _) = SeriesRegistry::sorted(vec![
            SeriesInfo::new("m", &[("host", "a")], "v"),
            SeriesInfo::new("m", &[("dc", "b"), ("host", "a")], "v"),
        ]);
        assert!(!in_key_order(&missing, &tags));
        // two series with one key (a tag that is not a column)
        let same = SeriesRegistry::new(vec![
            SeriesInfo::new("m", &[("dc", "a"), ("host", "x"), ("r", "1")], "v"),
            SeriesInfo::new("m", &[("dc", "a"), ("host", "x"), ("r", "2")], "v"),
        ]);
        assert!(!in_key_order(&same, &tags));
        // declared in key order by the tags asked for: trusted; by other
        // tags: checked (and out of order here)
        assert!(in_key_order(&same.clone().with_key_order(&tags), &tags));
        let other: Vec<String> = vec!["r".into()];
        assert!(!in_key_order(
            &missing.clone().with_key_order(&other),
            &tags
        ));
        assert_eq!(
            &key_of(missing.get(0), &tags)[..],
            &["b".to_string(), "a".to_string()]
        );
        assert_eq!(
            &key_of(missing.get(1), &tags)[..],
            &[String::new(), "a".into()]
        );
    }
}
