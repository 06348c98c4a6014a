//! Answers a [`TagPredicate`] from the posting lists with set operations.
//! The universe is the series of one measurement and field; a series without
//! a tag counts as having the empty value (InfluxQL), so `k = ''` selects the
//! series lacking `k` and `k != 'v'` includes them.

use tsq_engine::TagPredicate;

use super::posting::{difference, intersect, union};
use super::{Measurement, SeriesIndex};

impl SeriesIndex {
    /// Ids (ascending) of the series of `measurement` and `field` that
    /// satisfy `predicate`.
    pub fn select(&self, measurement: &str, field: &str, predicate: &TagPredicate) -> Vec<u32> {
        let Some(m) = self.measurements.get(measurement) else {
            return Vec::new();
        };
        let Some((_, field_ids)) = m.fields.get(field) else {
            return Vec::new();
        };
        let universe = field_ids.ids();
        eval(m, &universe, predicate)
    }
}

/// Series of `universe` whose tag `key` has a value accepted by `accept`.
fn matching(
    m: &Measurement,
    universe: &[u32],
    key: &str,
    accept: &dyn Fn(&str) -> bool,
) -> Vec<u32> {
    let mut out = Vec::new();
    let mut with_key = Vec::new();
    if let Some(values) = m.tags.get(key) {
        for (v, list) in values {
            let ids = list.ids();
            if accept(v) {
                out = union(&out, &ids);
            }
            with_key = union(&with_key, &ids);
        }
    }
    if accept("") {
        out = union(&out, &difference(universe, &with_key));
    }
    intersect(universe, &out)
}

fn eval(m: &Measurement, universe: &[u32], p: &TagPredicate) -> Vec<u32> {
    match p {
        TagPredicate::True => universe.to_vec(),
        TagPredicate::Eq(k, v) => matching(m, universe, k, &|x| x == v),
        TagPredicate::NotEq(k, v) => matching(m, universe, k, &|x| x != v),
        TagPredicate::In(k, vs) => matching(m, universe, k, &|x| vs.iter().any(|v| v == x)),
        TagPredicate::NotIn(k, vs) => matching(m, universe, k, &|x| !vs.iter().any(|v| v == x)),
        TagPredicate::Like(k, pat) | TagPredicate::Regex(k, pat) => {
            matching(m, universe, k, &|x| pat.is_match(x))
        }
        TagPredicate::NotRegex(k, pat) => matching(m, universe, k, &|x| !pat.is_match(x)),
        TagPredicate::And(ps) => ps.iter().fold(universe.to_vec(), |acc, p| eval(m, &acc, p)),
        TagPredicate::Or(ps) => ps
            .iter()
            .fold(Vec::new(), |acc, p| union(&acc, &eval(m, universe, p))),
        TagPredicate::Not(p) => difference(universe, &eval(m, universe, p)),
    }
}

#[cfg(test)]
mod tests {
    use tsq_engine::{Pattern, SeriesInfo};

    use crate::tsm::index::SeriesIndex;
    use crate::tsm::test_dir;
    use crate::tsm::value::FieldType;
    use tsq_engine::TagPredicate as P;

    #[test]
    fn predicates_match_the_reference_semantics() {
        let dir = test_dir("index_select");
        let (mut idx, _) = SeriesIndex::open(&dir.join("s.log")).unwrap();
        let series = [
            SeriesInfo::new("cpu", &[("host", "web-1"), ("dc", "eu")], "u"), // 0
            SeriesInfo::new("cpu", &[("host", "web-2"), ("dc", "us")], "u"), // 1
            SeriesInfo::new("cpu", &[("host", "db-1")], "u"),                // 2
            SeriesInfo::new("cpu", &[("dc", "eu")], "u"),                    // 3
            SeriesInfo::new("cpu", &[("host", "web-1"), ("dc", "eu")], "s"), // 4 (other field)
        ];
        for s in &series {
            idx.get_or_create(s, FieldType::Float).unwrap();
        }
        let eq = |k: &str, v: &str| P::Eq(k.into(), v.into());
        let cases = vec![
            (P::True, vec![0, 1, 2, 3]),
            (eq("dc", "eu"), vec![0, 3]),
            (eq("host", ""), vec![3]),
            (P::NotEq("dc".into(), "eu".into()), vec![1, 2]),
            (
                P::In("host".into(), vec!["db-1".into(), "web-2".into()]),
                vec![1, 2],
            ),
            (P::NotIn("host".into(), vec!["web-1".into()]), vec![1, 2, 3]),
            (
                P::Like("host".into(), Pattern::like("web%").unwrap()),
                vec![0, 1],
            ),
            (
                P::Regex("host".into(), Pattern::regex("-1$").unwrap()),
                vec![0, 2],
            ),
            (
                P::NotRegex("host".into(), Pattern::regex("^web").unwrap()),
                vec![2, 3],
            ),
            (
                P::And(vec![
                    eq("dc", "eu"),
                    P::Like("host".into(), Pattern::like("w%").unwrap()),
                ]),
                vec![0],
            ),
            (P::Or(vec![eq("dc", "us"), eq("host", "db-1")]), vec![1, 2]),
            (P::Not(Box::new(eq("dc", "eu"))), vec![1, 2]),
        ];
        for (p, want) in cases {
            assert_eq!(idx.select("cpu", "u", &p), want, "{p}");
            // Cross-check against the engine's per-series evaluation.
            let brute: Vec<u32> = (0..4).filter(|&i| p.matches(&series[i as usize])).collect();
            assert_eq!(brute, want, "{p}");
        }
        assert!(idx.select("cpu", "nope", &P::True).is_empty());
        assert!(idx.select("mem", "u", &P::True).is_empty());
    }
}
