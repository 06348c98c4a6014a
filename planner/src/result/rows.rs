//! The rows of a result before they are cut into batches: [`Rows`] appends
//! joined rows (a group, a time, one cell per joined column), drops those a
//! value filter rejects, and, with a `LIMIT n`, keeps only the best `n` rows
//! under the result order (a top-k): whenever it holds `2n` rows it selects
//! the best `n` in linear time and forgets the rest, so a query with
//! `ORDER BY ... LIMIT n` holds O(n) rows however many it ranks. Every byte
//! it holds is reserved on the query's memory budget.
//!
//! ```text
//!   push ──filters──▶ rows (≤ 2n) ──select_nth──▶ best n ──sort──▶ result
//! ```

use std::cmp::Ordering;

use tsq_engine::memory::MemoryReservation;

use super::cell::Num;
use crate::ast::OrderItem;
use crate::error::Result;
use crate::plan::ValueFilter;

/// Bytes of one [`Row`].
const ROW_BYTES: usize = std::mem::size_of::<Row>();
/// Bytes of one cell.
const CELL_BYTES: usize = std::mem::size_of::<Option<Num>>();
/// Rows kept before a top-k compaction, at least (amortizes small limits).
const MIN_TOP_K_SLACK: usize = 1024;

/// One result row; its values are `cells[at * width .. (at + 1) * width]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    /// Index of the group key in the key list.
    pub(super) group: usize,
    /// The row's time.
    pub(super) time: i64,
    /// Index of its cells.
    pub(super) at: usize,
    /// Arrival number (the last tie-break of the order).
    seq: usize,
}

/// How rows are ordered: the `ORDER BY` items resolved to columns, then
/// group key and time.
#[derive(Debug, Clone, Default)]
pub(super) struct RowOrder {
    /// `(what, descending)` per `ORDER BY` item.
    items: Vec<(SortKey, bool)>,
}

#[derive(Debug, Clone, Copy)]
enum SortKey {
    Time,
    Tag(usize),
    Value(usize),
    /// A name that is none of the columns (the planner rejects those).
    Nothing,
}

impl RowOrder {
    /// The order of `order_by` over these tag and (visible) value columns.
    pub(super) fn new(order_by: &[OrderItem], tags: &[String], values: &[String]) -> Self {
        let items = order_by
            .iter()
            .map(|item| {
                let name = item.column.value.as_str();
                let key = if name == "time" {
                    SortKey::Time
                } else if let Some(t) = tags.iter().position(|t| t == name) {
                    SortKey::Tag(t)
                } else if let Some(v) = values.iter().position(|v| v == name) {
                    SortKey::Value(v)
                } else {
                    SortKey::Nothing
                };
                (key, item.descending)
            })
            .collect();
        RowOrder { items }
    }

    /// True when the order is the natural one (group key, then time).
    pub(super) fn is_natural(&self) -> bool {
        self.items.is_empty()
    }
}

/// The joined rows and their cells, ranked when a limit is set.
#[derive(Debug)]
pub(super) struct Rows {
    pub(super) rows: Vec<Row>,
    cells: Vec<Option<Num>>,
    width: usize,
    filters: Vec<ValueFilter>,
    order: RowOrder,
    limit: Option<usize>,
    /// Rows pushed so far (passing the filters).
    arrived: usize,
    reservation: MemoryReservation,
}

impl Rows {
    /// Rows of `width` cells, filtered by `filters`, at most `limit` of them
    /// kept under `order`; their bytes are reserved on `reservation`.
    pub(super) fn new(
        width: usize,
        filters: Vec<ValueFilter>,
        order: RowOrder,
        limit: Option<usize>,
        reservation: MemoryReservation,
    ) -> Self {
        Rows {
            rows: Vec::new(),
            cells: Vec::new(),
            width,
            filters,
            order,
            limit,
            arrived: 0,
            reservation,
        }
    }

    /// A cell of a row.
    pub(super) fn value(&self, row: &Row, column: usize) -> Option<Num> {
        self.cells[row.at * self.width + column]
    }

    /// True when no later row can enter the result: the order is natural,
    /// rows arrive in it, and `LIMIT` rows are already kept.
    pub(super) fn full_in_natural_order(&self) -> bool {
        self.order.is_natural() && self.limit.is_some_and(|n| self.rows.len() >= n)
    }

    /// Appends a row if it passes the value filters; ranks the rows when
    /// twice the limit are held. `keys` are the group keys by index.
    pub(super) fn push(
        &mut self,
        group: usize,
        time: i64,
        cells: &[Option<Num>],
        keys: &[impl AsRef<[String]>],
    ) -> Result<()> {
        debug_assert_eq!(cells.len(), self.width);
        if !super::passes(cells, &self.filters) {
            return Ok(());
        }
        if let Some(n) = self.limit {
            if self.rows.len() >= n.saturating_mul(2).max(MIN_TOP_K_SLACK) {
                self.keep_best(n, keys);
            }
        }
        let at = self.cells.len() / self.width.max(1);
        let (rows_cap, cells_cap) = (self.rows.capacity(), self.cells.capacity());
        self.rows.push(Row {
            group,
            time,
            at,
            seq: self.arrived,
        });
        self.arrived += 1;
        self.cells.extend_from_slice(cells);
        if self.rows.capacity() != rows_cap || self.cells.capacity() != cells_cap {
            self.reservation.try_resize(self.held())?;
        }
        Ok(())
    }

    /// Bytes held by the rows and cells.
    fn held(&self) -> usize {
        self.rows.capacity() * ROW_BYTES + self.cells.capacity() * CELL_BYTES
    }

    /// Keeps the best `n` rows (unordered) and compacts their cells.
    fn keep_best(&mut self, n: usize, keys: &[impl AsRef<[String]>]) {
        if self.rows.len() <= n {
            return;
        }
        let (order, cells, width) = (&self.order, &self.cells, self.width);
        let cmp = |a: &Row, b: &Row| compare(a, b, order, keys, cells, width);
        if n == 0 {
            self.rows.clear();
        } else {
            self.rows.select_nth_unstable_by(n - 1, cmp);
            self.rows.truncate(n);
        }
        let mut compact = Vec::with_capacity(self.cells.capacity());
        for (i, row) in self.rows.iter_mut().enumerate() {
            compact.extend_from_slice(&self.cells[row.at * width..(row.at + 1) * width]);
            row.at = i;
        }
        self.cells = compact;
    }

    /// Applies the limit and sorts the kept rows into the result order.
    pub(super) fn finish(&mut self, keys: &[impl AsRef<[String]>], presorted: bool) {
        if let Some(n) = self.limit {
            if !(presorted && self.order.is_natural()) {
                self.keep_best(n, keys);
            }
        }
        if !(presorted && self.order.is_natural()) {
            let (order, cells, width) = (&self.order, &self.cells, self.width);
            self.rows
                .sort_unstable_by(|a, b| compare(a, b, order, keys, cells, width));
        }
        if let Some(n) = self.limit {
            self.rows.truncate(n);
        }
    }

    /// Rows held (passing the filters, not yet dropped by the top-k).
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Bytes reserved for the rows and cells.
    pub(super) fn reserved(&self) -> usize {
        self.reservation.size()
    }

    /// Forgets the group keys no held row refers to: `keys` keeps the
    /// others in order and the rows are renumbered, so a top-k over many
    /// groups holds O(limit) keys, not one per group.
    pub(super) fn retain_groups<K>(&mut self, keys: &mut Vec<K>) {
        let mut index = vec![usize::MAX; keys.len()];
        for r in &self.rows {
            index[r.group] = 0;
        }
        for (kept, slot) in index.iter_mut().filter(|i| **i == 0).enumerate() {
            *slot = kept;
        }
        let mut at = 0;
        keys.retain(|_| {
            at += 1;
            index[at - 1] != usize::MAX
        });
        for r in &mut self.rows {
            r.group = index[r.group];
        }
    }

    /// Changes the order (before any row is pushed).
    pub(super) fn set_order(&mut self, order: RowOrder) {
        debug_assert!(self.rows.is_empty());
        self.order = order;
    }
}

/// The result order: the `ORDER BY` items, then group key, time and arrival
/// (a total order, so an unstable sort is deterministic).
fn compare<K: AsRef<[String]>>(
    a: &Row,
    b: &Row,
    order: &RowOrder,
    keys: &[K],
    cells: &[Option<Num>],
    width: usize,
) -> Ordering {
    let value = |r: &Row, v: usize| cells[r.at * width + v];
    for &(key, descending) in &order.items {
        let o = match key {
            SortKey::Time => a.time.cmp(&b.time),
            SortKey::Tag(t) => keys[a.group].as_ref()[t].cmp(&keys[b.group].as_ref()[t]),
            // nulls first, then by total order (NaN last)
            SortKey::Value(v) => match (value(a, v), value(b, v)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            },
            SortKey::Nothing => Ordering::Equal,
        };
        let o = if descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    keys[a.group]
        .as_ref()
        .cmp(keys[b.group].as_ref())
        .then(a.time.cmp(&b.time))
        .then(a.seq.cmp(&b.seq))
}
