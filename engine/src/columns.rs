//! [`ColumnsBatch`]: rows of several value columns at once, one row per
//! group, for the operators that compute every value column of a query
//! together (`LastPointsOp`, `docs/architecture.md` "Last point as one
//! operator") instead of one timeline batch per column.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef};

use crate::error::{EngineError, Result};
use crate::registry::SeriesRegistry;

/// Rows of several value columns: row `i` is the group `groups[i]` (its
/// tags) at `times[i]`, with one value in each of `columns` (`Float64`,
/// `Int64` or `UInt64`; null where the group has none).
#[derive(Debug, Clone)]
pub struct ColumnsBatch {
    groups: Arc<SeriesRegistry>,
    times: Vec<i64>,
    columns: Vec<ArrayRef>,
}

impl ColumnsBatch {
    /// The rows of `groups` (one entry per row) at `times`, with `columns`;
    /// an error unless every column has one value per row.
    pub fn try_new(
        groups: Arc<SeriesRegistry>,
        times: Vec<i64>,
        columns: Vec<ArrayRef>,
    ) -> Result<Self> {
        let rows = times.len();
        if groups.len() != rows || columns.iter().any(|c| c.len() != rows) {
            return Err(EngineError::InvalidArgument(format!(
                "a columns batch needs one group, one time and one value per column for each \
                 of its {rows} rows (groups: {}, column lengths: {:?})",
                groups.len(),
                columns.iter().map(|c| c.len()).collect::<Vec<_>>()
            )));
        }
        Ok(ColumnsBatch {
            groups,
            times,
            columns,
        })
    }

    /// The group of each row (its tags), in row order.
    pub fn groups(&self) -> &Arc<SeriesRegistry> {
        &self.groups
    }

    /// The time of each row.
    pub fn times(&self) -> &[i64] {
        &self.times
    }

    /// The value columns, in the operator's column order.
    pub fn columns(&self) -> &[ArrayRef] {
        &self.columns
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.times.len()
    }

    /// Bytes held by the times and values.
    pub fn memory_size(&self) -> usize {
        self.times.len() * 8
            + self
                .columns
                .iter()
                .map(|c| c.get_array_memory_size())
                .sum::<usize>()
    }
}
