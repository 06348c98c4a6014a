//! The series registry: maps the dense `series_id` carried in every
//! [`TimelineBatch`](crate::TimelineBatch) row to the series' measurement, tag
//! set and field. Operators look tags up once per timeline, never per point.
//!
//! A registry is built per scan by the storage adapter and shared (`Arc`) by
//! every batch of that scan. Adapters number the series of a scan in ascending
//! series-key order, so "ascending id" is the canonical timeline order that all
//! aggregation paths agree on (it decides `first` / `last` across timelines).
//! Aggregators emit "group timelines" whose registry holds one entry per group.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, StringArray};

use crate::group::GroupingMemo;

/// Tag `(key, value)` pairs.
pub type TagPairs = Vec<(Arc<str>, Arc<str>)>;

/// Identity of one timeline: measurement, sorted tag set and field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesInfo {
    /// Measurement name (`cpu`).
    pub measurement: Arc<str>,
    /// Tag pairs, sorted by key, keys unique.
    pub tags: TagPairs,
    /// Field name (`usage_user`); for aggregator output, the aggregate's name.
    pub field: Arc<str>,
}

impl SeriesInfo {
    /// Builds a series identity, sorting the tags by key.
    pub fn new(measurement: &str, tags: &[(&str, &str)], field: &str) -> Self {
        let mut tags: TagPairs = tags
            .iter()
            .map(|(k, v)| (Arc::from(*k), Arc::from(*v)))
            .collect();
        tags.sort();
        tags.dedup_by(|a, b| a.0 == b.0);
        SeriesInfo {
            measurement: Arc::from(measurement),
            tags,
            field: Arc::from(field),
        }
    }

    /// The value of tag `key`, if the series has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.tags[i].1.as_ref())
    }

    /// The shared string of tag `key`'s value, if the series has the tag.
    pub fn tag_arc(&self, key: &str) -> Option<&Arc<str>> {
        self.tags
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| &self.tags[i].1)
    }

    /// The series key `measurement,k1=v1,k2=v2#field` (tags sorted by key).
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SeriesInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.measurement)?;
        for (k, v) in &self.tags {
            write!(f, ",{k}={v}")?;
        }
        write!(f, "#{}", self.field)
    }
}

/// Dense `series_id -> SeriesInfo` table shared by all batches of one scan.
/// It also remembers the last few groupings made of its series
/// ([`Grouping::new`](crate::group::Grouping::new)), so that a registry an
/// adapter shares between queries (the in-memory store's) is grouped once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesRegistry {
    series: Vec<SeriesInfo>,
    groupings: GroupingMemo,
    /// The tags whose values the ids are declared to ascend with
    /// ([`SeriesRegistry::with_key_order`]).
    key_order: NotCompared<[String]>,
    /// The values of some tags of every series, by id, one Arrow array per
    /// tag ([`SeriesRegistry::with_tag_columns`]).
    tag_columns: NotCompared<[(String, StringArray)]>,
}

/// What a registry knows about its series beyond the series themselves (a
/// declaration, or a layout derived from them): not part of the registry's
/// value, so every one compares equal.
#[derive(Debug)]
struct NotCompared<T: ?Sized>(Option<Arc<T>>);

impl<T: ?Sized> Default for NotCompared<T> {
    fn default() -> Self {
        NotCompared(None)
    }
}

impl<T: ?Sized> Clone for NotCompared<T> {
    fn clone(&self) -> Self {
        NotCompared(self.0.clone())
    }
}

impl<T: ?Sized> PartialEq for NotCompared<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T: ?Sized> Eq for NotCompared<T> {}

impl SeriesRegistry {
    /// A registry whose ids are the positions in `series`.
    pub fn new(series: Vec<SeriesInfo>) -> Self {
        SeriesRegistry {
            series,
            groupings: GroupingMemo::default(),
            key_order: NotCompared::default(),
            tag_columns: NotCompared::default(),
        }
    }

    /// This registry, declared to have ids that ascend strictly with the
    /// values of `tags` (in that order; a missing tag counts as the empty
    /// string): a grouping's registry of groups, numbered in key order
    /// ([`Grouping`](crate::group::Grouping)). A reader that needs that
    /// order (the result join) then trusts it without comparing the
    /// series' keys.
    pub fn with_key_order(mut self, tags: &[String]) -> Self {
        self.key_order = NotCompared(Some(tags.iter().cloned().collect()));
        self
    }

    /// This registry with the values of `tags` of every series laid out by
    /// id, one contiguous Arrow array per tag (a missing tag reads as the
    /// empty string): a grouping's registry of groups, whose tag values the
    /// result join copies into every result batch. Reading them from the
    /// series instead costs several cache misses per series once the
    /// query's scan has evicted the registry (`docs/architecture.md`, "How a
    /// batch flows"). Left out when a tag's values do not fit one array.
    pub fn with_tag_columns(mut self, tags: &[String]) -> Self {
        let columns: Option<Vec<(String, StringArray)>> = tags
            .iter()
            .map(|tag| {
                let values = self.series.iter().map(|s| s.tag(tag).unwrap_or(""));
                let bytes: usize = values.clone().map(str::len).sum();
                i32::try_from(bytes)
                    .ok()
                    .map(|_| (tag.clone(), StringArray::from_iter_values(values)))
            })
            .collect();
        self.tag_columns = NotCompared(columns.map(Into::into));
        self
    }

    /// This registry with the tag columns of `other`, whose series have
    /// the same tags by id (a grouping's groups under another output name).
    pub(crate) fn sharing_tag_columns(mut self, other: &SeriesRegistry) -> Self {
        self.tag_columns = other.tag_columns.clone();
        self
    }

    /// The values of tag `name` of every series, by id, when laid out
    /// ([`with_tag_columns`](Self::with_tag_columns)).
    pub fn tag_column(&self, name: &str) -> Option<&StringArray> {
        let columns = self.tag_columns.0.as_deref()?;
        columns.iter().find(|(t, _)| t == name).map(|(_, c)| c)
    }

    /// Bytes of the tag columns ([`with_tag_columns`](Self::with_tag_columns)).
    pub fn tag_columns_size(&self) -> usize {
        self.tag_columns.0.as_deref().map_or(0, |columns| {
            columns
                .iter()
                .map(|(t, c)| t.len() + c.get_array_memory_size())
                .sum()
        })
    }

    /// The tags whose values the ids ascend strictly with, when declared
    /// ([`with_key_order`](Self::with_key_order)).
    pub fn key_order(&self) -> Option<&[String]> {
        self.key_order.0.as_deref()
    }

    /// The groupings remembered for these series.
    pub(crate) fn groupings(&self) -> &GroupingMemo {
        &self.groupings
    }

    /// A registry with the series sorted by series key (the canonical order
    /// adapters use), returning it with the permutation applied:
    /// `order[new_id] = old index`.
    pub fn sorted(series: Vec<SeriesInfo>) -> (Self, Vec<usize>) {
        let mut order: Vec<usize> = (0..series.len()).collect();
        order.sort_by(|&a, &b| series[a].cmp(&series[b]));
        let sorted = order.iter().map(|&i| series[i].clone()).collect();
        (SeriesRegistry::new(sorted), order)
    }

    /// The series with this id.
    pub fn get(&self, id: u32) -> Option<&SeriesInfo> {
        self.series.get(id as usize)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when the registry holds no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// All series, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &SeriesInfo)> {
        self.series.iter().enumerate().map(|(i, s)| (i as u32, s))
    }
}
