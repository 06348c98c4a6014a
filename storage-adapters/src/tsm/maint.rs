//! Deletes and retention. A delete is logged in the WAL (so replay re-applies
//! it), written as tombstones against every file holding the series and
//! applied to the cache. Retention drops whole expired shards: their files
//! leave the file set at once and are deleted when the last query holding
//! them finishes; cached points of those shards are dropped too.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tsq_engine::{TagPredicate, TimeRange};

use super::error::Result;
use super::shard::shard_start;
use super::store::{nanos, Inner, Store};
use super::wal::WalEntry;
use crate::sync::{lock, read, write};

/// The current time in ns since the Unix epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Store {
    /// Deletes the points of `measurement` whose series match `predicate`
    /// (all fields) within `range`; returns the number of series affected.
    /// Durable when it returns.
    pub fn delete(
        &self,
        measurement: &str,
        predicate: &TagPredicate,
        range: TimeRange,
    ) -> Result<usize> {
        self.inner.check_writable("delete")?;
        if range.is_empty() {
            return Ok(0);
        }
        let min = range.start.unwrap_or(i64::MIN);
        let max = range.end.map_or(i64::MAX, |e| e - 1);
        let mut w = self.inner.lock_writer_idle();
        let _m = lock(&self.inner.maint);
        let (series, keys) = {
            let index = read(&self.inner.index);
            let mut ids = Vec::new();
            for (field, _) in index.fields(measurement) {
                ids.extend(index.select(measurement, &field, predicate));
            }
            let found: Vec<_> = ids.iter().filter_map(|&id| index.series(id)).collect();
            let series: Vec<_> = found.iter().map(|s| s.0.clone()).collect();
            let keys: Vec<String> = found.iter().map(|s| s.2.to_string()).collect();
            (series, keys)
        };
        if keys.is_empty() {
            return Ok(0);
        }
        w.wal.append(&WalEntry::Delete { series, min, max })?;
        self.inner.apply_delete(&keys, min, max)?;
        Ok(keys.len())
    }

    /// Drops every shard that ended before `now - retention`; returns the
    /// number of files dropped. A no-op without a retention period.
    pub fn enforce_retention(&self, now: i64) -> Result<usize> {
        self.inner.check_writable("enforce retention")?;
        self.inner.enforce_retention(now)
    }
}

impl Inner {
    pub(crate) fn enforce_retention(&self, now: i64) -> Result<usize> {
        let Some(retention) = self.options.retention else {
            return Ok(0);
        };
        let dur = nanos(self.options.shard_duration);
        let cutoff = now.saturating_sub(nanos(retention));
        // A shard [s, s + dur) is expired when s + dur <= cutoff.
        let first_kept = shard_start(cutoff, dur);
        let _w = self.lock_writer_idle();
        let _m = lock(&self.maint);
        let mut state = write(&self.state);
        let (kept, dropped) = state.files.without_shards_before(first_kept);
        state.files = Arc::new(kept);
        state.cache.drop_before(first_kept);
        for f in &dropped {
            f.retire();
        }
        Ok(dropped.len())
    }
}
