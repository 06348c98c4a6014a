//! Metadata statements (`SHOW MEASUREMENTS`, `SHOW TAG KEYS`, `SHOW TAG
//! VALUES`, `SHOW FIELD KEYS`, `SHOW SERIES`), answered from the storage
//! adapter's index through its catalog methods
//! ([`StorageAdapter::measurements`], `tag_keys`, `tag_values`,
//! `field_types`, `series_keys`) and returned as result rows, so the
//! library, the REPL and a server get them the way they get a query's.
//!
//! | statement | columns |
//! |---|---|
//! | `SHOW MEASUREMENTS` | `name` |
//! | `SHOW TAG KEYS` | `measurement`, `tagKey` |
//! | `SHOW TAG VALUES ... WITH KEY = k` | `measurement`, `key`, `value` |
//! | `SHOW FIELD KEYS` | `measurement`, `fieldKey`, `fieldType` |
//! | `SHOW SERIES` | `key` (`cpu,host=a,region=eu`) |
//!
//! Rows are sorted by measurement, then by the listed name. The rows held
//! until they are returned are reserved on the query's memory budget as
//! `Show`.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::{MemoryPool, MemoryReservation};
use tsq_engine::registry::TagPairs;
use tsq_engine::{StorageAdapter, TagPredicate};

use crate::ast::{Filter, Name, Show, ShowKind};
use crate::error::{Result, TsqError};

/// The column names of `show`'s result.
fn column_names(show: &Show) -> &'static [&'static str] {
    match show.what {
        ShowKind::Measurements => &["name"],
        ShowKind::TagKeys => &["measurement", "tagKey"],
        ShowKind::TagValues(_) => &["measurement", "key", "value"],
        ShowKind::FieldKeys => &["measurement", "fieldKey", "fieldType"],
        ShowKind::Series => &["key"],
    }
}

/// The schema of `show`'s result: text columns.
pub fn schema(show: &Show) -> SchemaRef {
    let fields: Vec<Field> = column_names(show)
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, false))
        .collect();
    Arc::new(Schema::new(fields))
}

/// Notices for `show` (a `FROM` measurement that does not exist).
pub async fn notices(show: &Show, adapter: &dyn StorageAdapter) -> Result<Vec<String>> {
    let Some(m) = &show.from else {
        return Ok(Vec::new());
    };
    if adapter.measurements().await?.contains(&m.value) {
        return Ok(Vec::new());
    }
    Ok(vec![format!(
        "measurement '{}' does not exist: the result is empty",
        m.value
    )])
}

/// What the user can change when a listing does not fit the budget.
const SHOW_HINT: &str = "it holds the listed rows until they are returned: narrow the listing \
    with FROM, WHERE or (SHOW SERIES) LIMIT";

/// The rows of a listing, each reserved on the budget as it is added.
struct Listing {
    rows: Vec<Vec<String>>,
    reservation: MemoryReservation,
}

impl Listing {
    fn push(&mut self, row: Vec<String>) -> Result<()> {
        let bytes: usize = row.iter().map(|c| c.capacity() + 24).sum::<usize>() + 24;
        self.reservation.try_grow(bytes)?;
        self.rows.push(row);
        Ok(())
    }

    fn len(&self) -> usize {
        self.rows.len()
    }
}

/// Runs `show` against `adapter`: its rows in batches of at most
/// `batch_size` rows (none when the result is empty), what it holds
/// reserved on `pool`.
pub async fn execute(
    show: &Show,
    adapter: &dyn StorageAdapter,
    batch_size: usize,
    pool: &Arc<MemoryPool>,
) -> Result<Vec<RecordBatch>> {
    let measurements = match &show.from {
        Some(m) => vec![m.value.clone()],
        None => adapter.measurements().await?,
    };
    let mut rows = Listing {
        rows: Vec::new(),
        reservation: pool.reservation("Show", SHOW_HINT),
    };
    match &show.what {
        ShowKind::Measurements => {
            let all = adapter.measurements().await?;
            for m in all {
                rows.push(vec![m])?;
            }
        }
        ShowKind::TagKeys => {
            for m in &measurements {
                for k in adapter.tag_keys(m).await? {
                    rows.push(vec![m.clone(), k])?;
                }
            }
        }
        ShowKind::FieldKeys => {
            for m in &measurements {
                for (f, t) in adapter.field_types(m).await? {
                    rows.push(vec![m.clone(), f, t.name().to_string()])?;
                }
            }
        }
        ShowKind::TagValues(key) => {
            for m in &measurements {
                for v in tag_values(show, m, key, adapter).await? {
                    rows.push(vec![m.clone(), key.value.clone(), v])?;
                }
            }
        }
        ShowKind::Series => {
            'all: for m in &measurements {
                let predicate = predicate(show, m, adapter).await?;
                for tags in adapter.series_keys(m, &predicate).await? {
                    if show.limit.is_some_and(|n| rows.len() >= n) {
                        break 'all;
                    }
                    rows.push(vec![series_key(m, &tags)])?;
                }
            }
        }
    }
    to_batches(show, &rows.rows, batch_size)
}

/// The values of `key` among the series of `m` matching the `WHERE`.
async fn tag_values(
    show: &Show,
    m: &str,
    key: &Name,
    adapter: &dyn StorageAdapter,
) -> Result<Vec<String>> {
    if show.filter.is_none() {
        return Ok(adapter.tag_values(m, &key.value).await?);
    }
    let predicate = predicate(show, m, adapter).await?;
    let values: BTreeSet<String> = adapter
        .series_keys(m, &predicate)
        .await?
        .iter()
        .filter_map(|tags| {
            tags.iter()
                .find(|(k, _)| **k == *key.value)
                .map(|(_, v)| v.to_string())
        })
        .collect();
    Ok(values.into_iter().collect())
}

/// The `WHERE` of `show` as a tag predicate over measurement `m`: only tag
/// tests; with `FROM`, every key must be a tag of the measurement.
async fn predicate(show: &Show, m: &str, adapter: &dyn StorageAdapter) -> Result<TagPredicate> {
    let Some(filter) = &show.filter else {
        return Ok(TagPredicate::True);
    };
    check_tag_tests_only(filter)?;
    let tag_keys = if show.from.is_some() {
        Some(adapter.tag_keys(m).await?)
    } else {
        None
    };
    let check = |n: &Name| match &tag_keys {
        Some(keys) if !keys.is_empty() && !keys.contains(&n.value) => Err(TsqError::plan(
            n.pos,
            format!(
                "unknown tag '{}' in measurement '{m}' (tags: {})",
                n.value,
                keys.join(", ")
            ),
        )),
        _ => Ok(()),
    };
    crate::optimizer::tag_predicate(filter, &check)
}

/// Errors at the first time bound or value comparison of `f`.
fn check_tag_tests_only(f: &Filter) -> Result<()> {
    match f {
        Filter::And(items) | Filter::Or(items) => items.iter().try_for_each(check_tag_tests_only),
        Filter::Not(inner, _) => check_tag_tests_only(inner),
        Filter::Tag(_) => Ok(()),
        Filter::Time(b) => Err(TsqError::plan(
            b.pos,
            "SHOW ... WHERE takes tag tests only, not time bounds (the index has no time)",
        )),
        Filter::Value(t) => Err(TsqError::plan(
            t.field.pos,
            "SHOW ... WHERE takes tag tests only, not value comparisons",
        )),
        Filter::Arith(t) => Err(TsqError::plan(
            t.pos,
            "SHOW ... WHERE takes tag tests only, not value comparisons",
        )),
    }
}

/// The series key `m,k1=v1,k2=v2` (tags sorted by key) with line
/// protocol's escapes: `\,` and `\ ` everywhere, `\=` in keys and values.
pub fn series_key(m: &str, tags: &TagPairs) -> String {
    let escape = |s: &str, equals: bool| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if c == ',' || c == ' ' || (equals && c == '=') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    let mut key = escape(m, false);
    for (k, v) in tags {
        key.push(',');
        key.push_str(&escape(k, true));
        key.push('=');
        key.push_str(&escape(v, true));
    }
    key
}

fn to_batches(show: &Show, rows: &[Vec<String>], batch_size: usize) -> Result<Vec<RecordBatch>> {
    let schema = schema(show);
    let width = schema.fields().len();
    rows.chunks(batch_size.max(1))
        .map(|chunk| {
            let columns: Vec<ArrayRef> = (0..width)
                .map(|c| -> ArrayRef {
                    Arc::new(StringArray::from_iter_values(
                        chunk.iter().map(|r| r[c].as_str()),
                    ))
                })
                .collect();
            Ok(RecordBatch::try_new(Arc::clone(&schema), columns)?)
        })
        .collect()
}

#[cfg(test)]
mod tests;
