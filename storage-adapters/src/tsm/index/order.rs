//! Series in registry order. A scan numbers its series in `SeriesInfo` order
//! (`SeriesRegistry::sorted`); sorting a large selection by `SeriesInfo`
//! costs many string comparisons per query, so each measurement keeps its
//! series in that order, built on the first large selection
//! ([`SeriesIndex::in_series_order`] walks it), and small selections are
//! sorted directly.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use tsq_engine::SeriesInfo;

use super::SeriesIndex;

/// A selection at least `1 / WALK_FRACTION` of its measurement's series is
/// put in order by walking the measurement's ordered set; smaller ones are
/// sorted.
const WALK_FRACTION: usize = 16;

impl SeriesIndex {
    /// The series `ids` of `measurement` (distinct, e.g. from
    /// [`select`](SeriesIndex::select)) ordered by `SeriesInfo`: the order
    /// `SeriesRegistry::sorted` gives. Ids without a series are dropped.
    pub fn in_series_order(&self, measurement: &str, ids: &[u32]) -> Vec<u32> {
        let mut known: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| self.series(id).is_some())
            .collect();
        if let Some(m) = self.measurements.get(measurement) {
            if known.len() * WALK_FRACTION >= m.all.len() {
                let mut wanted = vec![false; self.len()];
                for &id in &known {
                    wanted[id as usize] = true;
                }
                let walked: Vec<u32> = m
                    .sorted
                    .get_or_init(|| self.sorted_series(&m.all.ids()))
                    .iter()
                    .map(|(_, id)| *id)
                    .filter(|&id| wanted[id as usize])
                    .collect();
                if walked.len() == known.len() {
                    return walked;
                }
            }
        }
        known.sort_by(|&a, &b| self.compare(a, b));
        known
    }

    /// [`in_series_order`](SeriesIndex::in_series_order) of several
    /// selections of `measurement` at once (one per field of a query): one
    /// walk of the measurement's ordered set deals every selected id to its
    /// selection, instead of one walk per selection (series of one tag set
    /// lie next to each other in that order, one per field). Falls back to
    /// one call per selection when the selections are small together or
    /// share an id.
    pub fn in_series_order_many(
        &self,
        measurement: &str,
        selections: &[Vec<u32>],
    ) -> Vec<Vec<u32>> {
        let known: Vec<Vec<u32>> = selections
            .iter()
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|&id| self.series(id).is_some())
                    .collect()
            })
            .collect();
        let total: usize = known.iter().map(Vec::len).sum();
        if let Some(m) = self.measurements.get(measurement) {
            if selections.len() > 1 && total * WALK_FRACTION >= m.all.len() {
                if let Some(walked) = self.walk_many(m, &known) {
                    return walked;
                }
            }
        }
        known
            .iter()
            .map(|ids| self.in_series_order(measurement, ids))
            .collect()
    }

    /// One walk of `m`'s ordered set dealing the ids of `known` to their
    /// selection; `None` when an id is in two selections or an id is not
    /// in the set.
    fn walk_many(&self, m: &super::Measurement, known: &[Vec<u32>]) -> Option<Vec<Vec<u32>>> {
        const NONE: u32 = u32::MAX;
        let mut owner = vec![NONE; self.len()];
        for (k, ids) in known.iter().enumerate() {
            for &id in ids {
                let slot = owner.get_mut(id as usize)?;
                if *slot != NONE {
                    return None;
                }
                *slot = k as u32;
            }
        }
        let mut walked: Vec<Vec<u32>> = known
            .iter()
            .map(|ids| Vec::with_capacity(ids.len()))
            .collect();
        let sorted = m.sorted.get_or_init(|| self.sorted_series(&m.all.ids()));
        for &(_, id) in sorted.iter() {
            if let Some(&k) = owner.get(id as usize).filter(|&&k| k != NONE) {
                walked[k as usize].push(id);
            }
        }
        let complete = walked.iter().zip(known).all(|(w, k)| w.len() == k.len());
        complete.then_some(walked)
    }

    /// The series `ids` with their identities, in `SeriesInfo` order.
    fn sorted_series(&self, ids: &[u32]) -> BTreeSet<(SeriesInfo, u32)> {
        let mut series: Vec<(SeriesInfo, u32)> = ids
            .iter()
            .filter_map(|&id| self.series(id).map(|(s, _, _)| (s.clone(), id)))
            .collect();
        series.sort_unstable();
        series.into_iter().collect()
    }

    /// `SeriesInfo` order of two existing series.
    fn compare(&self, a: u32, b: u32) -> Ordering {
        let info = |id: u32| self.series(id).map(|s| s.0);
        info(a).cmp(&info(b))
    }
}

#[cfg(test)]
mod tests {
    use tsq_engine::{SeriesInfo, SeriesRegistry};

    use crate::tsm::index::SeriesIndex;
    use crate::tsm::test_dir;
    use crate::tsm::value::FieldType;

    #[test]
    fn walked_and_sorted_orders_match_the_registry_order() {
        let dir = test_dir("index_order");
        let (mut index, _) = SeriesIndex::open(&dir.join("series.log")).unwrap();
        // 40 series created in an order unrelated to SeriesInfo order: host
        // h(39 - i), grp g(i % 3); plus one series of another measurement.
        let mut infos = Vec::new();
        for i in 0..40 {
            let host = format!("h{:02}", 39 - i);
            let grp = format!("g{}", i % 3);
            let s = SeriesInfo::new("cpu", &[("host", &host), ("grp", &grp)], "v");
            index.get_or_create(&s, FieldType::Float).unwrap();
            infos.push(s);
        }
        let other = SeriesInfo::new("mem", &[("host", "h00")], "v");
        index.get_or_create(&other, FieldType::Float).unwrap();
        // Expected: what SeriesRegistry::sorted does with the same infos.
        let expect = |ids: &[u32]| -> Vec<u32> {
            let chosen: Vec<SeriesInfo> = ids.iter().map(|&i| infos[i as usize].clone()).collect();
            let (_, order) = SeriesRegistry::sorted(chosen);
            order.iter().map(|&k| ids[k]).collect()
        };
        // All 40 (walked), then 2 of 40 (2 * 16 < 40: sorted directly).
        let all: Vec<u32> = (0..40).collect();
        let walked = index.in_series_order("cpu", &all);
        assert_eq!(walked, expect(&all));
        // grp g0 < g1 < g2 first; g0 holds i = 0, 3, .., 39 whose hosts
        // descend as i grows, so the first is i = 39 (host h00).
        assert_eq!(walked[0], 39);
        assert_eq!(index.in_series_order("cpu", &[5, 30]), expect(&[5, 30]));
        // Ids without a series are dropped; an unknown measurement still sorts.
        assert_eq!(index.in_series_order("cpu", &[7, 999]), vec![7]);
        assert_eq!(index.in_series_order("nope", &[2, 1]), expect(&[2, 1]));
    }
}
