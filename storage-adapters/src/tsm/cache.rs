//! The in-memory cache: every acknowledged point not yet in a TSM file.
//!
//! Points are appended per series id in write order; reads sort and
//! deduplicate a copy (the last write of a timestamp wins), so appends stay
//! cheap. When the active part passes the store's snapshot threshold the
//! store *freezes* it ([`Cache::freeze`]): the points move into an immutable
//! [`Frozen`] part, shared with the snapshot that writes them into TSM files,
//! and an empty active part takes the new writes. Reads see both parts (the
//! frozen one is older) until the snapshot's files are in the file set and
//! [`Cache::release_frozen`] drops it (docs/storage.md, "Snapshots").
//!
//! ```text
//! writes ──► active ──freeze──► frozen ──(files written, swapped in)──► released
//!              ▲                   │ snapshot failed
//!              └──────thaw─────────┘
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use super::value::{sort_dedup, Values};

/// The unflushed points of one series.
#[derive(Debug, Clone)]
struct Entry {
    times: Vec<i64>,
    values: Values,
}

/// Series id → its points (hashed with foldhash: a write touches one entry
/// per series it holds).
type Entries = HashMap<u32, Entry, foldhash::fast::RandomState>;

/// Unflushed points of every series: the active part that takes writes and,
/// while a snapshot runs, the frozen part it is writing.
#[derive(Debug, Default)]
pub struct Cache {
    entries: Entries,
    bytes: usize,
    frozen: Option<Arc<Frozen>>,
}

/// The points a snapshot is writing into TSM files: immutable, readable by
/// queries until the files are swapped in.
#[derive(Debug, Default)]
pub struct Frozen {
    entries: Entries,
    bytes: usize,
}

impl Frozen {
    /// Series ids held, ascending.
    pub fn ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.entries.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The points of series `id`, sorted and deduplicated (a copy).
    pub fn sorted(&self, id: u32) -> Option<(Vec<i64>, Values)> {
        let e = self.entries.get(&id)?;
        Some(sort_dedup(e.times.clone(), e.values.clone()))
    }

    /// Approximate bytes held.
    pub fn size_bytes(&self) -> usize {
        self.bytes
    }
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Self {
        Cache::default()
    }

    /// Approximate bytes held, frozen part included.
    pub fn size_bytes(&self) -> usize {
        self.bytes + self.frozen.as_ref().map_or(0, |f| f.bytes)
    }

    /// Approximate bytes of the active part (what triggers a snapshot).
    pub fn active_bytes(&self) -> usize {
        self.bytes
    }

    /// True when no point is cached, frozen part included.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.frozen.is_none()
    }

    /// True when the active part holds no point.
    pub fn active_is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True while a snapshot holds a frozen part.
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// Moves the active points into the frozen part and returns it, for a
    /// snapshot to write; `None` when a frozen part already exists (one
    /// snapshot at a time) or nothing is active.
    pub fn freeze(&mut self) -> Option<Arc<Frozen>> {
        if self.frozen.is_some() || self.entries.is_empty() {
            return None;
        }
        let frozen = Arc::new(Frozen {
            entries: std::mem::take(&mut self.entries),
            bytes: std::mem::take(&mut self.bytes),
        });
        self.frozen = Some(Arc::clone(&frozen));
        Some(frozen)
    }

    /// Drops the frozen part: its points are in TSM files of the file set.
    pub fn release_frozen(&mut self) {
        self.frozen = None;
    }

    /// Puts the frozen points back into the active part, before the points
    /// written since (a failed snapshot: they stay cached and in the WAL).
    pub fn thaw(&mut self) {
        let Some(frozen) = self.frozen.take() else {
            return;
        };
        let frozen = Arc::try_unwrap(frozen).unwrap_or_else(|shared| Frozen {
            entries: shared.entries.clone(),
            bytes: shared.bytes,
        });
        self.bytes += frozen.bytes;
        for (id, mut old) in frozen.entries {
            if let Some(newer) = self.entries.remove(&id) {
                old.times.extend_from_slice(&newer.times);
                old.values.extend_from(&newer.values);
                self.bytes -= 64; // one entry instead of two
            }
            self.entries.insert(id, old);
        }
    }

    /// The entries of series `id`, oldest part first.
    fn parts(&self, id: u32) -> impl Iterator<Item = &Entry> {
        let frozen = self.frozen.as_ref().and_then(|f| f.entries.get(&id));
        frozen.into_iter().chain(self.entries.get(&id))
    }

    /// A copy of the points of series `id` in write order (frozen part
    /// first), when cached.
    fn points(&self, id: u32) -> Option<(Vec<i64>, Values)> {
        let mut parts = self.parts(id);
        let first = parts.next()?;
        let (mut times, mut values) = (first.times.clone(), first.values.clone());
        for e in parts {
            times.extend_from_slice(&e.times);
            values.extend_from(&e.values);
        }
        Some((times, values))
    }

    /// Appends points to series `id` (the caller checked the type).
    pub fn insert(&mut self, id: u32, times: &[i64], values: &Values) {
        self.bytes += times.len() * 8 + values.heap_bytes();
        match self.entries.get_mut(&id) {
            Some(e) => {
                e.times.extend_from_slice(times);
                e.values.extend_from(values);
            }
            None => {
                self.bytes += 64;
                self.entries.insert(
                    id,
                    Entry {
                        times: times.to_vec(),
                        values: values.clone(),
                    },
                );
            }
        }
    }

    /// Appends points to series `id` (the caller checked the type), taking
    /// the vectors of a series new to the cache instead of copying them.
    pub fn append(&mut self, id: u32, times: Vec<i64>, values: Values) {
        match self.entries.get_mut(&id) {
            Some(e) => {
                self.bytes += times.len() * 8 + values.heap_bytes();
                e.times.extend_from_slice(&times);
                e.values.extend_from(&values);
            }
            None => {
                self.bytes += 64 + times.len() * 8 + values.heap_bytes();
                self.entries.insert(id, Entry { times, values });
            }
        }
    }

    /// The points of series `id` with `min <= t <= max`, sorted, deduplicated.
    pub fn read(&self, id: u32, min: i64, max: i64) -> Option<(Vec<i64>, Values)> {
        let (times, values) = self.points(id)?;
        let (t, v) = sort_dedup(times, values);
        let lo = t.partition_point(|&x| x < min);
        let hi = t.partition_point(|&x| x <= max);
        (lo < hi).then(|| (t[lo..hi].to_vec(), v.slice(lo, hi)))
    }

    /// The newest cached point of series `id` with `min <= t <= max` (the
    /// last write of a timestamp wins), without copying the others.
    pub fn last_in(&self, id: u32, min: i64, max: i64) -> Option<(Vec<i64>, Values)> {
        // Parts in write order: a later point of an equal time wins.
        let mut best: Option<(&Entry, usize)> = None;
        for e in self.parts(id) {
            for (i, &t) in e.times.iter().enumerate() {
                if t >= min && t <= max && best.is_none_or(|(b, j)| t >= b.times[j]) {
                    best = Some((e, i));
                }
            }
        }
        best.map(|(e, i)| (vec![e.times[i]], e.values.slice(i, i + 1)))
    }

    /// Smallest and largest cached timestamp of series `id` with
    /// `min <= t <= max`, without copying its points.
    pub fn span_in(&self, id: u32, min: i64, max: i64) -> Option<(i64, i64)> {
        let in_range = self
            .parts(id)
            .flat_map(|e| e.times.iter())
            .filter(|&&t| t >= min && t <= max);
        in_range.fold(None, |span, &t| {
            Some(span.map_or((t, t), |(lo, hi): (i64, i64)| (lo.min(t), hi.max(t))))
        })
    }

    /// Smallest and largest cached timestamp of series `id`.
    pub fn span(&self, id: u32) -> Option<(i64, i64)> {
        self.span_in(id, i64::MIN, i64::MAX)
    }

    /// Removes the points of `ids` with `min <= t <= max` from the active
    /// part (the store runs deletes only while nothing is frozen).
    pub fn delete(&mut self, ids: &[u32], min: i64, max: i64) {
        for id in ids {
            self.retain(*id, |t| t < min || t > max);
        }
    }

    /// Removes every active point with `t < cutoff` (retention; the store
    /// runs it only while nothing is frozen).
    pub fn drop_before(&mut self, cutoff: i64) {
        let ids: Vec<u32> = self.entries.keys().copied().collect();
        for id in ids {
            self.retain(id, |t| t >= cutoff);
        }
    }

    fn retain(&mut self, id: u32, keep: impl Fn(i64) -> bool) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        let idx: Vec<usize> = (0..e.times.len()).filter(|&i| keep(e.times[i])).collect();
        if idx.len() == e.times.len() {
            return;
        }
        let before = e.times.len() * 8 + e.values.heap_bytes();
        e.times = idx.iter().map(|&i| e.times[i]).collect();
        e.values = e.values.gather(&idx);
        let after = e.times.len() * 8 + e.values.heap_bytes();
        self.bytes -= before - after;
        if e.times.is_empty() {
            self.entries.remove(&id);
        }
    }

    /// Every series of the active part, sorted and deduplicated, in
    /// ascending id order.
    pub fn snapshot(&self) -> Vec<(u32, Vec<i64>, Values)> {
        let mut ids: Vec<u32> = self.entries.keys().copied().collect();
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| {
                let e = &self.entries[&id];
                let (t, v) = sort_dedup(e.times.clone(), e.values.clone());
                (id, t, v)
            })
            .collect()
    }

    /// Empties the cache, frozen part included.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        self.frozen = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_sorted_deduplicated_and_ranged() {
        let mut c = Cache::new();
        c.insert(3, &[30, 10], &Values::Float(vec![3.0, 1.0]));
        c.insert(3, &[10, 20], &Values::Float(vec![1.5, 2.0]));
        // 4 points * (8 time + 8 value) + 64 per new entry = 128
        assert_eq!(c.size_bytes(), 128);
        let (t, v) = c.read(3, 0, 25).unwrap();
        assert_eq!(t, vec![10, 20]);
        assert_eq!(v, Values::Float(vec![1.5, 2.0]));
        assert_eq!(c.span(3), Some((10, 30)));
        // Points 30, 10, 10, 20: within [15, 40] only 30 and 20.
        assert_eq!(c.span_in(3, 15, 40), Some((20, 30)));
        assert_eq!(c.span_in(3, 21, 29), None);
        assert_eq!(c.span_in(4, 0, 40), None);
        assert!(c.read(3, 31, 40).is_none());
        c.delete(&[3], 15, 30);
        // entries at 20 and 30 removed: 2 points * 16 bytes = 32 fewer
        assert_eq!(c.size_bytes(), 96);
        assert_eq!(c.snapshot(), vec![(3, vec![10], Values::Float(vec![1.5]))]);
        c.drop_before(11);
        assert!(c.is_empty());
    }

    #[test]
    fn append_takes_new_series_and_extends_known_ones() {
        let mut c = Cache::new();
        c.append(7, vec![20, 10], Values::Float(vec![2.0, 1.0]));
        c.append(7, vec![10], Values::Float(vec![1.5]));
        c.append(8, vec![5], Values::Float(vec![0.5]));
        // 4 points * 16 bytes + 64 per new entry (2) = 192
        assert_eq!(c.size_bytes(), 192);
        assert_eq!(
            c.snapshot(),
            vec![
                (7, vec![10, 20], Values::Float(vec![1.5, 2.0])),
                (8, vec![5], Values::Float(vec![0.5])),
            ]
        );
    }

    #[test]
    fn frozen_points_stay_readable_below_newer_writes_and_thaw_back() {
        let mut c = Cache::new();
        c.append(1, vec![10, 20], Values::Float(vec![1.0, 2.0]));
        let frozen = c.freeze().unwrap();
        assert_eq!(frozen.ids(), vec![1]);
        assert!(c.freeze().is_none(), "one frozen part at a time");
        c.append(1, vec![30, 20], Values::Float(vec![30.0, 20.0]));
        // each part: 2 points * 16 bytes + 64 = 96
        assert_eq!((c.size_bytes(), c.active_bytes()), (192, 96));
        // t=20 written again after the freeze: the newer value wins
        let want = (vec![10, 20, 30], Values::Float(vec![1.0, 20.0, 30.0]));
        assert_eq!(c.read(1, i64::MIN, i64::MAX), Some(want.clone()));
        assert_eq!(
            c.last_in(1, 0, 25),
            Some((vec![20], Values::Float(vec![20.0])))
        );
        assert_eq!(c.span(1), Some((10, 30)));
        assert_eq!(c.span_in(1, 0, 15), Some((10, 10)));
        drop(frozen);
        c.thaw();
        assert!(!c.is_frozen());
        // one entry of 4 points: 4 * 16 + 64
        assert_eq!(c.size_bytes(), 128);
        assert_eq!(c.read(1, i64::MIN, i64::MAX), Some(want));
        let f = c.freeze().unwrap();
        assert_eq!(
            f.sorted(1),
            Some((vec![10, 20, 30], Values::Float(vec![1.0, 20.0, 30.0])))
        );
        c.release_frozen();
        assert!(c.is_empty());
        assert_eq!(c.size_bytes(), 0);
    }
}
