//! The in-memory cache: every acknowledged point not yet in a TSM file.
//!
//! Points are appended per series id in write order; reads sort and
//! deduplicate a copy (the last write of a timestamp wins), so appends stay
//! cheap. When [`Cache::size_bytes`] passes the store's snapshot threshold the
//! store writes the cache into TSM files and clears it.

use std::collections::HashMap;

use super::value::{sort_dedup, Values};

/// The unflushed points of one series.
#[derive(Debug, Clone)]
struct Entry {
    times: Vec<i64>,
    values: Values,
}

/// Unflushed points of every series, keyed by series id (hashed with
/// foldhash: a write touches one entry per series it holds).
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<u32, Entry, foldhash::fast::RandomState>,
    bytes: usize,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Self {
        Cache::default()
    }

    /// Approximate bytes held.
    pub fn size_bytes(&self) -> usize {
        self.bytes
    }

    /// True when no point is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
        let e = self.entries.get(&id)?;
        let (t, v) = sort_dedup(e.times.clone(), e.values.clone());
        let lo = t.partition_point(|&x| x < min);
        let hi = t.partition_point(|&x| x <= max);
        (lo < hi).then(|| (t[lo..hi].to_vec(), v.slice(lo, hi)))
    }

    /// The newest cached point of series `id` with `min <= t <= max` (the
    /// last write of a timestamp wins), without copying the others.
    pub fn last_in(&self, id: u32, min: i64, max: i64) -> Option<(Vec<i64>, Values)> {
        let e = self.entries.get(&id)?;
        let (times, values) = (&e.times, &e.values);
        let mut best: Option<usize> = None;
        for (i, &t) in times.iter().enumerate() {
            if t >= min && t <= max && best.is_none_or(|b| t >= times[b]) {
                best = Some(i);
            }
        }
        best.map(|i| (vec![times[i]], values.slice(i, i + 1)))
    }

    /// Smallest and largest cached timestamp of series `id` with
    /// `min <= t <= max`, without copying its points.
    pub fn span_in(&self, id: u32, min: i64, max: i64) -> Option<(i64, i64)> {
        let in_range = self
            .entries
            .get(&id)?
            .times
            .iter()
            .filter(|&&t| t >= min && t <= max);
        in_range.fold(None, |span, &t| {
            Some(span.map_or((t, t), |(lo, hi): (i64, i64)| (lo.min(t), hi.max(t))))
        })
    }

    /// Smallest and largest cached timestamp of series `id`.
    pub fn span(&self, id: u32) -> Option<(i64, i64)> {
        let e = self.entries.get(&id)?;
        let min = e.times.iter().min()?;
        let max = e.times.iter().max()?;
        Some((*min, *max))
    }

    /// Removes the points of `ids` with `min <= t <= max`.
    pub fn delete(&mut self, ids: &[u32], min: i64, max: i64) {
        for id in ids {
            self.retain(*id, |t| t < min || t > max);
        }
    }

    /// Removes every point with `t < cutoff` (retention).
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

    /// Every cached series, sorted and deduplicated, in ascending id order.
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

    /// Empties the cache.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
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
}
