//! The group table of a [`LastPointsOp`](super::LastPointsOp): for every
//! group (the values of the `GROUP BY` tags) and every value column, which
//! newest point is the group's `last`. A point is a row of one of the
//! column's batches ("parts": the split lookups, in ascending series id);
//! the last valid one in arrival order wins, as `PipeAggOp`'s `last` over
//! the timelines of a group does (`docs/semantics.md` §1: ascending series
//! id, nulls skipped, a group whose points are all null gives null).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef};
use arrow::compute::interleave;
use arrow::datatypes::DataType;

use crate::batch::TimelineBatch;
use crate::columns::ColumnsBatch;
use crate::error::Result;
use crate::group::Grouping;
use crate::registry::{SeriesInfo, SeriesRegistry};
use crate::spec::GroupBy;

/// What a group holds in one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell {
    /// No point of the group in this column.
    Absent,
    /// Points, all null.
    Null,
    /// The last valid point: row `row` of part `part`.
    Value { part: u32, row: u32 },
}

/// One group: its tags as a series identity. Its key is the `GROUP BY`
/// tags' values (`""` where a series has none), read from them.
#[derive(Debug, Clone)]
struct Group {
    info: SeriesInfo,
}

/// Groups and, per column, each group's last point; see the module docs.
#[derive(Debug)]
pub(super) struct GroupTable {
    measurement: Arc<str>,
    /// The `GROUP BY` tags (none: one group).
    by: Vec<String>,
    /// The same as a `GroupBy`.
    group_by: GroupBy,
    /// The groups by key, made when a key is first looked up: the groups
    /// `..indexed` are in it.
    index: HashMap<String, u32, foldhash::fast::RandomState>,
    indexed: usize,
    groups: Vec<Group>,
    /// `cells[column][group]`.
    cells: Vec<Vec<Cell>>,
    /// `parts[column]`: the value arrays the cells point into.
    parts: Vec<Vec<ArrayRef>>,
    /// A scratch key.
    scratch: String,
    /// The last registry grouped whole, its `Grouping` and the table's
    /// group of each of its groups (`u32::MAX`: not met yet): the columns of
    /// one lookup share a registry, so the keys are made once, not once per
    /// column.
    memo: Option<(Arc<SeriesRegistry>, Grouping, Vec<u32>)>,
    /// The groups of the first `Grouping` met (its `groups()` registry) and
    /// the table's group of each: another registry grouped into the same
    /// groups (each field of a measurement has its own registry, the same
    /// series and so the same groups) reuses the mapping after a comparison
    /// of the groups' tags, without making or hashing a key.
    known: Option<(Arc<SeriesRegistry>, Vec<u32>)>,
}

impl GroupTable {
    /// An empty table of `columns` columns grouping by the tags `by`.
    pub(super) fn new(measurement: &str, by: &[String], columns: usize) -> Self {
        GroupTable {
            measurement: Arc::from(measurement),
            by: by.to_vec(),
            group_by: if by.is_empty() {
                GroupBy::None
            } else {
                GroupBy::Tags(by.to_vec())
            },
            index: HashMap::default(),
            indexed: 0,
            groups: Vec::new(),
            cells: vec![Vec::new(); columns],
            parts: vec![Vec::new(); columns],
            scratch: String::new(),
            memo: None,
            known: None,
        }
    }

    /// Forgets every point of `column` (its lookup is replaced).
    pub(super) fn clear_column(&mut self, column: usize) {
        self.cells[column]
            .iter_mut()
            .for_each(|c| *c = Cell::Absent);
        self.parts[column].clear();
    }

    /// Adds the points of `batch` to `column`, after its earlier parts.
    pub(super) fn add(&mut self, column: usize, batch: &TimelineBatch) {
        if batch.is_empty() {
            // nothing to point at (and an empty batch may be typed Float64
            // where the field's points are integers)
            return;
        }
        let part = self.parts[column].len() as u32;
        self.parts[column].push(Arc::clone(batch.value_column()));
        let values = batch.value_column();
        let registry = batch.registry();
        // Group the registry's series with `Grouping`, which a registry
        // remembers (the same query again is a copy), and make a key per
        // group only, once for all the columns of the registry; a few
        // points of a large registry met first: a key per point.
        let memo_fits = matches!(&self.memo, Some((r, ..)) if Arc::ptr_eq(r, registry));
        if !memo_fits && batch.num_rows() * 16 <= registry.len() {
            for (row, &id) in batch.series_ids().iter().enumerate() {
                let group = self.group_of(registry.get(id)) as usize;
                self.set(column, group, part, row, values.is_valid(row));
            }
            return;
        }
        let (_, grouping, mut global) = match self.memo.take() {
            Some(memo) if memo_fits => memo,
            _ => {
                let grouping = Grouping::new(registry, &self.group_by, "");
                let global = self.known_groups(grouping.groups());
                (Arc::clone(registry), grouping, global)
            }
        };
        for (row, &id) in batch.series_ids().iter().enumerate() {
            let local = grouping.group_of(id) as usize;
            if global[local] == u32::MAX {
                global[local] = self.group_of(grouping.groups().get(local as u32));
            }
            self.set(
                column,
                global[local] as usize,
                part,
                row,
                values.is_valid(row),
            );
        }
        self.remember_groups(grouping.groups(), &global);
        self.memo = Some((Arc::clone(registry), grouping, global));
    }

    /// The table's group of each group of `groups` (a `Grouping`'s groups)
    /// already known (`u32::MAX` where not met yet): those of the first
    /// grouping met when `groups` are the same; all of them, made in their
    /// (key) order without a key each, when the table has no group yet.
    fn known_groups(&mut self, groups: &Arc<SeriesRegistry>) -> Vec<u32> {
        match &self.known {
            Some((known, global)) if same_groups(known, groups) => global.clone(),
            _ if self.groups.is_empty() => self.adopt(groups),
            _ => vec![u32::MAX; groups.len()],
        }
    }

    /// Makes the groups of an empty table those of `groups` (a
    /// `Grouping`'s, whose tags are the `GROUP BY` tags, `""` where a series
    /// has none, as [`group_of`](Self::group_of) makes them), in order.
    fn adopt(&mut self, groups: &SeriesRegistry) -> Vec<u32> {
        let empty: Arc<str> = Arc::from("");
        self.groups.reserve(groups.len());
        for (_, g) in groups.iter() {
            let mut tags = g.tags.clone();
            tags.dedup_by(|a, b| a.0 == b.0);
            self.groups.push(Group {
                info: SeriesInfo {
                    measurement: Arc::clone(&self.measurement),
                    tags,
                    field: Arc::clone(&empty),
                },
            });
        }
        for cells in &mut self.cells {
            cells.resize(self.groups.len(), Cell::Absent);
        }
        (0..self.groups.len() as u32).collect()
    }

    /// Keeps `global` (the table's group of each of `groups`) for the
    /// registries grouped after: the first grouping met, and what later
    /// ones with the same groups added to it.
    fn remember_groups(&mut self, groups: &Arc<SeriesRegistry>, global: &[u32]) {
        match &mut self.known {
            Some((known, mine)) if same_groups(known, groups) => mine.copy_from_slice(global),
            Some(_) => {}
            None => self.known = Some((Arc::clone(groups), global.to_vec())),
        }
    }

    /// Records row `row` of part `part` (`valid`: not null) as the newest
    /// point of `group` in `column` so far.
    fn set(&mut self, column: usize, group: usize, part: u32, row: usize, valid: bool) {
        let cell = &mut self.cells[column][group];
        if valid {
            *cell = Cell::Value {
                part,
                row: row as u32,
            };
        } else if *cell == Cell::Absent {
            *cell = Cell::Null;
        }
    }

    /// Adds the groups and points of `other` (a later part of every
    /// column) after this table's.
    pub(super) fn absorb(&mut self, other: GroupTable) {
        let GroupTable {
            groups,
            cells,
            parts,
            ..
        } = other;
        let mapped: Vec<u32> = groups.into_iter().map(|g| self.group_by_key(g)).collect();
        for (column, (cells, parts)) in cells.into_iter().zip(parts).enumerate() {
            let base = self.parts[column].len() as u32;
            self.parts[column].extend(parts);
            for (g, cell) in cells.into_iter().enumerate() {
                let mine = &mut self.cells[column][mapped[g] as usize];
                match cell {
                    Cell::Absent => {}
                    Cell::Null if *mine != Cell::Absent => {}
                    Cell::Null => *mine = Cell::Null,
                    Cell::Value { part, row } => {
                        *mine = Cell::Value {
                            part: base + part,
                            row,
                        }
                    }
                }
            }
        }
    }

    /// The rows of every group at `time`, in group key order, cut into
    /// batches of at most `batch_size` rows.
    pub(super) fn finish(self, time: i64, batch_size: usize) -> Result<Vec<ColumnsBatch>> {
        let mut order: Vec<usize> = (0..self.groups.len())
            .filter(|&g| self.cells.iter().any(|c| c[g] != Cell::Absent))
            .collect();
        order.sort_by(|&a, &b| {
            let key = |g: usize| {
                let info = &self.groups[g].info;
                self.by.iter().map(move |t| info.tag(t).unwrap_or(""))
            };
            key(a).cmp(key(b))
        });
        let columns = self
            .cells
            .iter()
            .zip(&self.parts)
            .map(|(cells, parts)| column(cells, parts, &order))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let mut out = Vec::new();
        for start in (0..order.len()).step_by(batch_size.max(1)) {
            let len = batch_size.max(1).min(order.len() - start);
            let infos = order[start..start + len]
                .iter()
                .map(|&g| self.groups[g].info.clone())
                .collect();
            out.push(ColumnsBatch::try_new(
                Arc::new(SeriesRegistry::new(infos)),
                vec![time; len],
                columns.iter().map(|c| c.slice(start, len)).collect(),
            )?);
        }
        Ok(out)
    }

    /// The key of a series (with identity `info`) in `scratch`: the
    /// `GROUP BY` tags' values, each ended by `\u{1f}`.
    fn key_into_scratch(&mut self, info: Option<&SeriesInfo>) {
        self.scratch.clear();
        for t in &self.by {
            self.scratch
                .push_str(info.and_then(|s| s.tag(t)).unwrap_or(""));
            self.scratch.push('\u{1f}');
        }
    }

    /// Puts the groups not yet in `index` (made by [`adopt`](Self::adopt))
    /// into it.
    fn index_groups(&mut self) {
        while self.indexed < self.groups.len() {
            let info = self.groups[self.indexed].info.clone();
            self.key_into_scratch(Some(&info));
            self.index.insert(self.scratch.clone(), self.indexed as u32);
            self.indexed += 1;
        }
    }

    /// The group of a series (with identity `info`), made if new.
    fn group_of(&mut self, info: Option<&SeriesInfo>) -> u32 {
        self.index_groups();
        self.key_into_scratch(info);
        if let Some(&g) = self.index.get(self.scratch.as_str()) {
            return g;
        }
        let tags: Vec<(&str, &str)> = self
            .by
            .iter()
            .filter_map(|t| Some((t.as_str(), info?.tag(t)?)))
            .collect();
        let group = Group {
            info: SeriesInfo::new(&self.measurement, &tags, ""),
        };
        self.insert(group)
    }

    /// The index of `group` (by its key), inserted if new.
    fn group_by_key(&mut self, group: Group) -> u32 {
        self.index_groups();
        self.key_into_scratch(Some(&group.info));
        match self.index.get(self.scratch.as_str()) {
            Some(&g) => g,
            None => self.insert(group),
        }
    }

    /// Appends `group` under the key in `scratch` (every group before it
    /// indexed).
    fn insert(&mut self, group: Group) -> u32 {
        let g = self.groups.len() as u32;
        self.index.insert(self.scratch.clone(), g);
        self.indexed = self.groups.len() + 1;
        self.groups.push(group);
        for cells in &mut self.cells {
            cells.push(Cell::Absent);
        }
        g
    }
}

/// True when two `Grouping`s' groups are the same groups in the same
/// order: the same measurement and tags, group by group (the groups of a
/// grouping are in key order, so equal sets compare equal).
fn same_groups(a: &Arc<SeriesRegistry>, b: &Arc<SeriesRegistry>) -> bool {
    Arc::ptr_eq(a, b)
        || (a.len() == b.len()
            && a.iter()
                .zip(b.iter())
                .all(|((_, x), (_, y))| x.measurement == y.measurement && x.tags == y.tags))
}

/// One value column over the groups in `order`: each group's last point
/// taken from `parts`, null where it has none; in the parts' type
/// (`Float64` when there is no part).
fn column(cells: &[Cell], parts: &[ArrayRef], order: &[usize]) -> Result<ArrayRef> {
    let data_type = parts
        .first()
        .map_or(DataType::Float64, |p| p.data_type().clone());
    let null = new_null_array(&data_type, 1);
    let mut sources: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
    sources.push(null.as_ref());
    let null_source = parts.len();
    let indices: Vec<(usize, usize)> = order
        .iter()
        .map(|&g| match cells[g] {
            Cell::Value { part, row } => (part as usize, row as usize),
            Cell::Absent | Cell::Null => (null_source, 0),
        })
        .collect();
    Ok(interleave(&sources, &indices)?)
}
