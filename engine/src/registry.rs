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
    key_order: KeyOrder,
}

/// The tags whose values a registry's ids are declared to ascend with
/// ([`SeriesRegistry::with_key_order`]). A declaration about the series,
/// not part of the registry's value: every one compares equal.
#[derive(Debug, Clone, Default)]
struct KeyOrder(Option<Arc<[String]>>);

impl PartialEq for KeyOrder {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for KeyOrder {}

impl SeriesRegistry {
    /// A registry whose ids are the positions in `series`.
    pub fn new(series: Vec<SeriesInfo>) -> Self {
        SeriesRegistry {
            series,
            groupings: GroupingMemo::default(),
            key_order: KeyOrder::default(),
        }
    }

    /// This registry, declared to have ids that ascend strictly with the
    /// values of `tags` (in that order; a missing tag counts as the empty
    /// string): a grouping's registry of groups, numbered in key order
    /// ([`Grouping`](crate::group::Grouping)). A reader that needs that
    /// order (the result join) then trusts it without comparing the
    /// series' keys.
    pub fn with_key_order(mut self, tags: &[String]) -> Self {
        self.key_order = KeyOrder(Some(tags.iter().cloned().collect()));
        self
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
