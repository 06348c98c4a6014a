//! Grouping of timelines for cross-timeline aggregation.
//!
//! [`Grouping`] maps every series of a registry to a dense group id. Group ids
//! ascend with the group key (the values of the `GROUP BY` tags, in the order
//! written; a missing tag counts as the empty string), so emitting groups in id
//! order gives the result order of `docs/query-language.md` (group key, then time). Ordered
//! scans deliver timelines by `(group id, series id)`; [`Grouping::scan_order`]
//! is that order, shared by adapters and tests.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::Result;
use crate::memory::MemoryReservation;
use crate::registry::{SeriesInfo, SeriesRegistry, TagPairs};
use crate::spec::GroupBy;

/// What an operator says when its group table does not fit the budget.
pub(crate) const GROUPS_HINT: &str = "it keeps a table of every group and series: use fewer \
    GROUP BY tags, narrow the tag filter, or raise the memory budget";

/// Most series of a registry whose groupings it remembers (a copy of the
/// series → group table is kept per grouping: 4 bytes a series).
pub const MEMO_SERIES: usize = 1 << 16;

/// Groupings remembered per registry.
const MEMO_ENTRIES: usize = 4;

/// The groupings a [`SeriesRegistry`] remembers, newest last: the `GROUP
/// BY`, the output field and the grouping. Not part of the registry's
/// value: clones start empty and every memo compares equal.
#[derive(Default)]
pub(crate) struct GroupingMemo(std::sync::Mutex<Vec<(GroupBy, Arc<str>, Grouping)>>);

impl GroupingMemo {
    /// The grouping by `by` named `output_field`, if remembered.
    fn get(&self, by: &GroupBy, output_field: &str) -> Option<Grouping> {
        let memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        memo.iter()
            .find(|(b, f, _)| b == by && &**f == output_field)
            .map(|(_, _, g)| g.clone())
    }

    /// A remembered grouping by `by` under any output field (the newest).
    fn any_name(&self, by: &GroupBy) -> Option<Grouping> {
        let memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        memo.iter()
            .rev()
            .find(|(b, _, _)| b == by)
            .map(|(_, _, g)| g.clone())
    }

    /// Remembers `grouping`, forgetting the oldest beyond [`MEMO_ENTRIES`].
    fn put(&self, by: &GroupBy, output_field: &str, grouping: &Grouping) {
        let mut memo = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if memo.len() >= MEMO_ENTRIES {
            memo.remove(0);
        }
        memo.push((by.clone(), Arc::from(output_field), grouping.clone()));
    }
}

impl Clone for GroupingMemo {
    fn clone(&self) -> Self {
        GroupingMemo::default()
    }
}

impl PartialEq for GroupingMemo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for GroupingMemo {}

impl std::fmt::Debug for GroupingMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupingMemo")
    }
}

/// Series → group assignment over one registry.
#[derive(Debug, Clone)]
pub struct Grouping {
    group_of: Vec<u32>,
    groups: Arc<SeriesRegistry>,
}

impl Grouping {
    /// Groups the series of `registry` by `by`. Each group is described by a
    /// [`SeriesInfo`] with the group's tags and `output_field` as its field.
    /// A registry remembers its last few groupings (up to
    /// [`MEMO_SERIES`] series): the same grouping again is a copy, and
    /// the same `GROUP BY` under another output field is that copy with the
    /// groups renamed (no hashing: the partitions of a query group the
    /// series for their scans' masks, then for their aggregations).
    pub fn new(registry: &SeriesRegistry, by: &GroupBy, output_field: &str) -> Self {
        let memo = registry.groupings();
        if let Some(g) = memo.get(by, output_field) {
            return g;
        }
        let g = match memo.any_name(by) {
            Some(other) => other.with_field(output_field),
            None => Self::build(registry, by, output_field),
        };
        if registry.len() <= MEMO_SERIES {
            memo.put(by, output_field, &g);
        }
        g
    }

    /// This grouping with `output_field` as the field of every group.
    fn with_field(&self, output_field: &str) -> Self {
        let field: Arc<str> = Arc::from(output_field);
        let groups = self
            .groups
            .iter()
            .map(|(_, g)| SeriesInfo {
                measurement: Arc::clone(&g.measurement),
                tags: g.tags.clone(),
                field: Arc::clone(&field),
            })
            .collect();
        Grouping {
            group_of: self.group_of.clone(),
            groups: Arc::new(match self.groups.key_order() {
                Some(tags) => SeriesRegistry::new(groups)
                    .with_key_order(tags)
                    .sharing_tag_columns(&self.groups),
                None => SeriesRegistry::new(groups),
            }),
        }
    }

    /// [`Grouping::new`] computed.
    fn build(registry: &SeriesRegistry, by: &GroupBy, output_field: &str) -> Self {
        // Keys borrow the registry's strings and are looked up from one
        // reused buffer: a series allocates nothing, a group its key once.
        // Groups are numbered as first seen, then renumbered in key order.
        let mut index: HashMap<Vec<(&str, &str)>, u32, foldhash::fast::RandomState> =
            HashMap::default();
        let mut keys: Vec<Vec<(&str, &str)>> = Vec::new();
        let mut first_member: Vec<u32> = Vec::new();
        let mut group_of = vec![0u32; registry.len()];
        let mut scratch: Vec<(&str, &str)> = Vec::new();
        for (id, s) in registry.iter() {
            scratch.clear();
            group_key_into(s, by, &mut scratch);
            let g = match index.get(scratch.as_slice()) {
                Some(&g) => g,
                None => {
                    let g = keys.len() as u32;
                    index.insert(scratch.clone(), g);
                    keys.push(scratch.clone());
                    first_member.push(id);
                    g
                }
            };
            group_of[id as usize] = g;
        }
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
        let mut rank = vec![0u32; keys.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old as usize] = new as u32;
        }
        for g in &mut group_of {
            *g = rank[*g as usize];
        }
        let measurement: Arc<str> = registry
            .get(0)
            .map_or_else(|| Arc::from(""), |s| Arc::clone(&s.measurement));
        let field: Arc<str> = Arc::from(output_field);
        let empty: Arc<str> = Arc::from("");
        let names: Vec<Arc<str>> = match by {
            GroupBy::Tags(tags) => tags.iter().map(|t| Arc::from(t.as_str())).collect(),
            GroupBy::None | GroupBy::All => Vec::new(),
        };
        let groups = order
            .iter()
            .map(|&old| {
                // The group's tags share the strings of its first member.
                let member = registry.get(first_member[old as usize]);
                let mut tags: TagPairs = match (by, member) {
                    (GroupBy::All, Some(s)) => s.tags.clone(),
                    (GroupBy::Tags(_), Some(s)) => names
                        .iter()
                        .map(|name| {
                            let value = s.tag_arc(name).unwrap_or(&empty);
                            (Arc::clone(name), Arc::clone(value))
                        })
                        .collect(),
                    _ => TagPairs::new(),
                };
                tags.sort();
                SeriesInfo {
                    measurement: Arc::clone(&measurement),
                    tags,
                    field: Arc::clone(&field),
                }
            })
            .collect();
        Grouping {
            group_of,
            // numbered in key order (strictly: distinct groups, distinct keys)
            groups: Arc::new(match by {
                GroupBy::Tags(tags) => SeriesRegistry::new(groups)
                    .with_key_order(tags)
                    .with_tag_columns(tags),
                GroupBy::None | GroupBy::All => SeriesRegistry::new(groups),
            }),
        }
    }

    /// [`Grouping::reserved`] under a new reservation of `operator` (with
    /// the hint every aggregation operator gives when the group table does
    /// not fit), returned with it.
    pub fn reserved_for(
        operator: &'static str,
        pool: &Arc<crate::memory::MemoryPool>,
        registry: &SeriesRegistry,
        by: &GroupBy,
        output_field: &str,
    ) -> Result<(Self, MemoryReservation)> {
        let mut reservation = pool.reservation(operator, GROUPS_HINT);
        let grouping = Self::reserved(registry, by, output_field, &mut reservation)?;
        Ok((grouping, reservation))
    }

    /// [`Grouping::new`] under `reservation`, which holds the group table
    /// alone: the build's per-series tables (the series → group ids and the
    /// members of each key) are reserved before they are allocated, then the
    /// reservation is resized to [`memory_size`](Self::memory_size). The
    /// table stays reserved until the reservation is dropped or freed.
    pub fn reserved(
        registry: &SeriesRegistry,
        by: &GroupBy,
        output_field: &str,
        reservation: &mut MemoryReservation,
    ) -> Result<Self> {
        // group_of (u32) + the member id (u32) + the borrowed key (a Vec of
        // (&str, &str)) of every series, while the key map is built.
        let per_series = 2 * std::mem::size_of::<u32>() + std::mem::size_of::<Vec<(&str, &str)>>();
        let pairs = match by {
            GroupBy::None => 0,
            GroupBy::All => registry.iter().map(|(_, s)| s.tags.len()).sum(),
            GroupBy::Tags(tags) => tags.len().saturating_mul(registry.len()),
        };
        let build = registry
            .len()
            .saturating_mul(per_series)
            .saturating_add(pairs.saturating_mul(std::mem::size_of::<(&str, &str)>()));
        reservation.try_grow(build)?;
        let grouping = Self::new(registry, by, output_field);
        reservation.try_resize(grouping.memory_size())?;
        Ok(grouping)
    }

    /// Bytes held by the table: the series → group ids and, per group, its
    /// entry with its tag strings (the measurement and field are shared).
    pub fn memory_size(&self) -> usize {
        let arc = 2 * std::mem::size_of::<usize>();
        let groups: usize = self
            .groups
            .iter()
            .map(|(_, g)| {
                std::mem::size_of::<SeriesInfo>()
                    + g.tags
                        .iter()
                        .map(|(k, v)| {
                            2 * (std::mem::size_of::<Arc<str>>() + arc) + k.len() + v.len()
                        })
                        .sum::<usize>()
            })
            .sum();
        self.group_of.capacity() * std::mem::size_of::<u32>()
            + groups
            + self.groups.tag_columns_size()
    }

    /// The group of series `id`.
    #[inline]
    pub fn group_of(&self, series_id: u32) -> u32 {
        self.group_of[series_id as usize]
    }

    /// Number of series grouped (the registry's).
    pub fn num_series(&self) -> usize {
        self.group_of.len()
    }

    /// Number of groups.
    pub fn num_groups(&self) -> usize {
        self.groups.len()
    }

    /// One entry per group, in group-id (= result) order.
    pub fn groups(&self) -> &Arc<SeriesRegistry> {
        &self.groups
    }

    /// Series ids ordered by `(group id, series id)`: the order of an
    /// ordered-by-group scan.
    pub fn scan_order(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..self.group_of.len() as u32).collect();
        ids.sort_by_key(|&id| (self.group_of[id as usize], id));
        ids
    }
}

/// Appends the group key of one series to `key`: `(tag, value)` pairs in
/// `GROUP BY` order, borrowed from the series and from `by`.
fn group_key_into<'a>(s: &'a SeriesInfo, by: &'a GroupBy, key: &mut Vec<(&'a str, &'a str)>) {
    match by {
        GroupBy::None => {}
        GroupBy::All => key.extend(s.tags.iter().map(|(k, v)| (&**k, &**v))),
        GroupBy::Tags(tags) => {
            key.extend(tags.iter().map(|t| (t.as_str(), s.tag(t).unwrap_or(""))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_ascend_by_key_in_group_by_order() {
        let reg = SeriesRegistry::new(vec![
            SeriesInfo::new("cpu", &[("dc", "b"), ("host", "1")], "u"),
            SeriesInfo::new("cpu", &[("dc", "a"), ("host", "2")], "u"),
            SeriesInfo::new("cpu", &[("dc", "b"), ("host", "3")], "u"),
            SeriesInfo::new("cpu", &[("host", "4")], "u"),
        ]);
        let g = Grouping::new(&reg, &GroupBy::Tags(vec!["dc".into()]), "sum(u)");
        assert_eq!(g.num_groups(), 3);
        // "" < "a" < "b"
        assert_eq!(
            (0..4).map(|i| g.group_of(i)).collect::<Vec<_>>(),
            vec![2, 1, 2, 0]
        );
        assert_eq!(g.groups().get(1).unwrap().tag("dc"), Some("a"));
        assert_eq!(g.scan_order(), vec![3, 1, 0, 2]);
        let all = Grouping::new(&reg, &GroupBy::All, "x");
        assert_eq!(all.num_groups(), 4);
        let none = Grouping::new(&reg, &GroupBy::None, "x");
        assert_eq!(none.num_groups(), 1);
        assert_eq!(none.groups().get(0).unwrap().key(), "cpu#x");
    }

    #[test]
    fn a_grouping_by_tags_declares_its_groups_in_key_order() {
        let reg = SeriesRegistry::new(vec![
            SeriesInfo::new("cpu", &[("dc", "b"), ("host", "1")], "u"),
            SeriesInfo::new("cpu", &[("dc", "a"), ("host", "2")], "u"),
            SeriesInfo::new("cpu", &[("host", "4")], "u"),
            SeriesInfo::new("cpu", &[("dc", "a"), ("host", "1")], "u"),
        ]);
        let tags: Vec<String> = vec!["host".into(), "dc".into()];
        let g = Grouping::new(&reg, &GroupBy::Tags(tags.clone()), "sum(u)");
        assert_eq!(g.groups().key_order(), Some(&tags[..]));
        // what it declares holds: each group's (host, dc) values, a
        // missing tag as "", strictly after the previous group's
        let keys: Vec<Vec<&str>> = (0..g.num_groups() as u32)
            .map(|i| {
                let s = g.groups().get(i).unwrap();
                tags.iter().map(|t| s.tag(t).unwrap_or("")).collect()
            })
            .collect();
        assert_eq!(keys, [["1", "a"], ["1", "b"], ["2", "a"], ["4", ""]]);
        // the same values laid out by group id, one column per tag
        let column = |g: &Grouping, t: &str| -> Option<Vec<String>> {
            let c = g.groups().tag_column(t)?;
            Some(c.iter().map(|v| v.unwrap_or("null").to_string()).collect())
        };
        assert_eq!(column(&g, "host").unwrap(), ["1", "1", "2", "4"]);
        assert_eq!(column(&g, "dc").unwrap(), ["a", "b", "a", ""]);
        assert_eq!(column(&g, "rack"), None);
        // under another output name too; GROUP BY * and none declare nothing
        let named = Grouping::new(&reg, &GroupBy::Tags(tags.clone()), "max(u)");
        assert_eq!(named.groups().key_order(), Some(&tags[..]));
        assert_eq!(column(&named, "dc").unwrap(), ["a", "b", "a", ""]);
        assert_eq!(column(&Grouping::new(&reg, &GroupBy::All, "x"), "dc"), None);
        assert_eq!(
            Grouping::new(&reg, &GroupBy::All, "x").groups().key_order(),
            None
        );
        assert_eq!(
            Grouping::new(&reg, &GroupBy::None, "x")
                .groups()
                .key_order(),
            None
        );
    }

    #[test]
    fn a_registry_remembers_its_groupings() {
        let reg = SeriesRegistry::new(vec![
            SeriesInfo::new("cpu", &[("dc", "b"), ("host", "1")], "u"),
            SeriesInfo::new("cpu", &[("dc", "a"), ("host", "2")], "u"),
        ]);
        let dc = GroupBy::Tags(vec!["dc".into()]);
        let first = Grouping::new(&reg, &dc, "sum(u)");
        // the same grouping again: the remembered table, the same groups
        let again = Grouping::new(&reg, &dc, "sum(u)");
        assert!(Arc::ptr_eq(first.groups(), again.groups()));
        assert_eq!(again.group_of(0), 1);
        // another output name or GROUP BY is another grouping
        let named = Grouping::new(&reg, &dc, "max(u)");
        assert_eq!(named.groups().get(0).unwrap().key(), "cpu,dc=a#max(u)");
        let all = Grouping::new(&reg, &GroupBy::All, "sum(u)");
        assert_eq!((all.num_groups(), all.group_of(0)), (2, 1));
        // four are kept: the first was forgotten by the fifth
        for f in ["x", "y"] {
            Grouping::new(&reg, &dc, f);
        }
        let rebuilt = Grouping::new(&reg, &dc, "sum(u)");
        assert!(!Arc::ptr_eq(first.groups(), rebuilt.groups()));
        assert_eq!(rebuilt.groups().as_ref(), first.groups().as_ref());
        // a clone of the registry starts without
        let copy = reg.clone();
        let fresh = Grouping::new(&copy, &dc, "max(u)");
        assert!(!Arc::ptr_eq(fresh.groups(), named.groups()));
        assert_eq!(copy, reg);
    }

    #[test]
    fn another_output_field_renames_the_remembered_groups() {
        let reg = SeriesRegistry::new(vec![
            SeriesInfo::new("cpu", &[("dc", "b"), ("host", "1")], "u"),
            SeriesInfo::new("cpu", &[("dc", "a"), ("host", "2")], "u"),
            SeriesInfo::new("cpu", &[("host", "3")], "u"),
        ]);
        for by in [
            GroupBy::Tags(vec!["dc".into()]),
            GroupBy::Tags(vec!["host".into(), "dc".into()]),
            GroupBy::All,
            GroupBy::None,
        ] {
            // derived from the remembered plain grouping, and built afresh
            // over a clone (which remembers nothing): the same table
            let plain = Grouping::new(&reg, &by, "");
            let derived = Grouping::new(&reg, &by, "sum(u)");
            let built = Grouping::build(&reg.clone(), &by, "sum(u)");
            assert_eq!(derived.groups().as_ref(), built.groups().as_ref(), "{by}");
            let ids = |g: &Grouping| (0..3).map(|i| g.group_of(i)).collect::<Vec<_>>();
            assert_eq!(ids(&derived), ids(&built), "{by}");
            assert_eq!(ids(&plain), ids(&built), "{by}");
            assert!(derived.groups().iter().all(|(_, g)| &*g.field == "sum(u)"));
        }
    }

    #[test]
    fn the_table_is_reserved_by_its_size() {
        use crate::memory::MemoryPool;
        use std::mem::size_of;
        let reg = SeriesRegistry::new(vec![
            SeriesInfo::new("cpu", &[("dc", "b"), ("host", "1")], "u"),
            SeriesInfo::new("cpu", &[("dc", "a"), ("host", "2")], "u"),
            SeriesInfo::new("cpu", &[("dc", "b"), ("host", "3")], "u"),
            SeriesInfo::new("cpu", &[("host", "4")], "u"),
        ]);
        let by = GroupBy::Tags(vec!["dc".into()]);
        let pool = MemoryPool::new(1 << 20);
        let mut res = pool.reservation("PipeAggOp", "fewer groups");
        let g = Grouping::reserved(&reg, &by, "s", &mut res).unwrap();
        // 4 group ids; 3 groups with one tag pair each, dc = "", "a", "b":
        // two Arc<str> (pointer + length, and the two counts) per pair plus
        // the bytes of "dc" and of the value
        let pair = 2 * (size_of::<Arc<str>>() + 2 * size_of::<usize>());
        let table = 4 * 4 + 3 * size_of::<SeriesInfo>() + 3 * (pair + 2) + 2; // values: "" + "a" + "b"
                                                                              // and the groups' "dc" values laid out by group id, as Arrow sizes them
        use arrow::array::Array;
        let column = g.groups().tag_column("dc").expect("laid out");
        let values: Vec<&str> = column.iter().flatten().collect();
        assert_eq!(values, ["", "a", "b"]);
        let want = table + "dc".len() + column.get_array_memory_size();
        assert_eq!(g.memory_size(), want);
        assert_eq!((res.size(), pool.used()), (want, want));
        drop(res);
        assert_eq!(pool.used(), 0);
        // a budget below the build tables: nothing is built or held
        let tight = MemoryPool::new(16);
        let mut res = tight.reservation("GroupedAggOp", "fewer groups");
        match Grouping::reserved(&reg, &by, "s", &mut res).unwrap_err() {
            crate::error::EngineError::ResourcesExhausted {
                operator,
                requested,
                ..
            } => {
                assert_eq!(operator, "GroupedAggOp");
                // per series: group id, member id, the key Vec and one pair
                let per = 8 + size_of::<Vec<(&str, &str)>>() + size_of::<(&str, &str)>();
                assert_eq!(requested, 4 * per);
            }
            other => panic!("expected ResourcesExhausted, got {other}"),
        }
        assert_eq!(tight.used(), 0);
    }
}
