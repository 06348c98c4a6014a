//! Answers a [`TagPredicate`] from the posting lists with set operations.
//! The universe is the series of one measurement and field; a series without
//! a tag counts as having the empty value (InfluxQL), so `k = ''` selects the
//! series lacking `k` and `k != 'v'` includes them.
//!
//! Cost (docs/storage.md, "Tag selection"): a leaf `k op values` splits the
//! values of `k` into those it accepts and those it rejects, and touches only
//! the side that does not contain the empty value:
//!
//! ```text
//!   k = 'v', k IN (..)       accept('') false -> union of the named values' postings
//!   k != 'v', k NOT IN (..)  accept('') true  -> universe - named values' postings
//!   LIKE, ~, !~              each DISTINCT value of k tested once, then as above
//! ```
//!
//! A `LIKE` or anchored regex with a literal prefix tests only the values in
//! that prefix's range ([`super::prefix`]).
//!
//! so `=` costs a map lookup plus the matching ids, never a pass over the
//! measurement. An `AND` evaluates its most selective operand first and, once
//! the candidates are few, tests the other operands on each candidate's tags.

use std::cell::OnceCell;
use std::ops::Bound;

use tsq_engine::TagPredicate;

use super::posting::{difference, intersect, union_all, union_postings, PostingList};
use super::prefix::{like_prefix, regex_prefix};
use super::{Measurement, SeriesIndex};

/// An `AND` tests its remaining operands series by series once its candidates
/// are fewer than `1 / FILTER_FRACTION` of the universe.
const FILTER_FRACTION: usize = 16;

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
        let selector = Selector {
            index: self,
            m,
            field,
            field_ids,
            universe: OnceCell::new(),
        };
        selector.eval(predicate)
    }

    /// Ids (ascending) of the series of `measurement` whose tag `key` is
    /// exactly `value` (every field); empty when there is none.
    pub fn tag_postings(&self, measurement: &str, key: &str, value: &str) -> Vec<u32> {
        self.measurements
            .get(measurement)
            .and_then(|m| m.tags.get(key))
            .and_then(|values| values.get(value))
            .map_or_else(Vec::new, PostingList::ids)
    }

    /// Ids (ascending) of the series of `measurement` and `field`.
    pub fn field_postings(&self, measurement: &str, field: &str) -> Vec<u32> {
        self.measurements
            .get(measurement)
            .and_then(|m| m.fields.get(field))
            .map_or_else(Vec::new, |(_, ids)| ids.ids())
    }
}

/// One selection: the measurement, the field whose series form the universe,
/// and the universe's ids, decoded only when an operation needs them.
struct Selector<'a> {
    index: &'a SeriesIndex,
    m: &'a Measurement,
    field: &'a str,
    field_ids: &'a PostingList,
    universe: OnceCell<Vec<u32>>,
}

/// Where the values of a leaf's key whose acceptance differs from the empty
/// value's are.
enum Flipped<'p> {
    /// Exactly the values the predicate names.
    Named(&'p [String]),
    /// Among the values starting with this prefix (all values when empty):
    /// each of those is tested.
    Prefix(String),
}

impl Selector<'_> {
    fn universe(&self) -> &[u32] {
        self.universe.get_or_init(|| self.field_ids.ids())
    }

    /// Number of series in the universe.
    fn size(&self) -> usize {
        self.field_ids.len()
    }

    fn eval(&self, p: &TagPredicate) -> Vec<u32> {
        match p {
            TagPredicate::True => self.universe().to_vec(),
            TagPredicate::Eq(k, v) => self.leaf(k, &|x| x == v, named_one(v)),
            TagPredicate::NotEq(k, v) => self.leaf(k, &|x| x != v, named_one(v)),
            TagPredicate::In(k, vs) => self.leaf(k, &|x| vs.iter().any(|v| v == x), named_all(vs)),
            TagPredicate::NotIn(k, vs) => {
                self.leaf(k, &|x| !vs.iter().any(|v| v == x), named_all(vs))
            }
            TagPredicate::Like(k, pat) => {
                self.leaf(k, &|x| pat.is_match(x), Flipped::Prefix(like_prefix(pat)))
            }
            TagPredicate::Regex(k, pat) => {
                self.leaf(k, &|x| pat.is_match(x), Flipped::Prefix(regex_prefix(pat)))
            }
            TagPredicate::NotRegex(k, pat) => {
                self.leaf(k, &|x| !pat.is_match(x), Flipped::Prefix(regex_prefix(pat)))
            }
            TagPredicate::And(ps) => self.and(ps),
            TagPredicate::Or(ps) => {
                union_all(ps.iter().map(|p| self.eval(p)).collect(), self.index.len())
            }
            TagPredicate::Not(p) => difference(self.universe(), &self.eval(p)),
        }
    }

    /// Series whose tag `key` (empty when missing) is accepted by `accept`.
    /// The values whose acceptance differs from the empty value's are named,
    /// or found by testing once each distinct value of `key` that starts with
    /// the prefix.
    fn leaf(&self, key: &str, accept: &dyn Fn(&str) -> bool, flipped: Flipped<'_>) -> Vec<u32> {
        let empty_accepted = accept("");
        let values = self.m.tags.get(key);
        let flipped: Vec<&PostingList> = match (values, flipped) {
            (None, _) => Vec::new(),
            (Some(values), Flipped::Named(names)) => names
                .iter()
                .filter_map(|v| values.get(v.as_str()))
                .collect(),
            (Some(values), Flipped::Prefix(prefix)) => values
                .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                .take_while(|(v, _)| v.starts_with(prefix.as_str()))
                .filter(|(v, _)| accept(v) != empty_accepted)
                .map(|(_, list)| list)
                .collect(),
        };
        let flipped = union_postings(&flipped, self.index.len());
        if empty_accepted {
            difference(self.universe(), &flipped)
        } else {
            self.in_field(flipped)
        }
    }

    /// The ids of `ids` (series of the measurement) that belong to the field.
    fn in_field(&self, mut ids: Vec<u32>) -> Vec<u32> {
        if self.m.fields.len() > 1 {
            ids.retain(|&id| self.field_of(id) == Some(self.field));
        }
        ids
    }

    fn field_of(&self, id: u32) -> Option<&str> {
        self.index.series(id).map(|(s, _, _)| &*s.field)
    }

    /// `AND`: the operand with the smallest estimate first; then each other
    /// operand by set intersection, or on each candidate's tags once the
    /// candidates are few.
    fn and(&self, ps: &[TagPredicate]) -> Vec<u32> {
        let mut order: Vec<(usize, &TagPredicate)> =
            ps.iter().map(|p| (self.estimate(p), p)).collect();
        order.sort_by_key(|(n, _)| *n);
        let mut operands = order.into_iter().map(|(_, p)| p);
        let Some(first) = operands.next() else {
            return self.universe().to_vec();
        };
        let mut acc = self.eval(first);
        for p in operands {
            if acc.is_empty() {
                break;
            }
            if acc.len() * FILTER_FRACTION < self.size() {
                acc.retain(|&id| self.index.series(id).is_some_and(|(s, _, _)| p.matches(s)));
            } else {
                acc = intersect(&acc, &self.eval(p));
            }
        }
        acc
    }

    /// An upper bound of the ids `p` selects, found without decoding any
    /// posting list: exact list lengths for named values that exclude the
    /// empty value, the universe's size otherwise.
    fn estimate(&self, p: &TagPredicate) -> usize {
        let all = self.size();
        match p {
            TagPredicate::Eq(k, v) if !v.is_empty() => self.named_len(k, std::slice::from_ref(v)),
            TagPredicate::In(k, vs) if !vs.iter().any(String::is_empty) => self.named_len(k, vs),
            TagPredicate::And(ps) => ps.iter().map(|p| self.estimate(p)).min().unwrap_or(all),
            TagPredicate::Or(ps) => ps
                .iter()
                .map(|p| self.estimate(p))
                .fold(0usize, usize::saturating_add)
                .min(all),
            _ => all,
        }
    }

    /// Total length of the posting lists of `key = v` for `v` in `values`,
    /// at most the universe's size.
    fn named_len(&self, key: &str, values: &[String]) -> usize {
        let lists = self.m.tags.get(key);
        values
            .iter()
            .filter_map(|v| lists.and_then(|l| l.get(v.as_str())))
            .map(PostingList::len)
            .sum::<usize>()
            .min(self.size())
    }
}

/// `Eq` / `NotEq` of `v`: the one value whose acceptance differs from the
/// empty value's, unless `v` is itself empty.
fn named_one(v: &String) -> Flipped<'_> {
    named_all(std::slice::from_ref(v))
}

/// `IN` / `NOT IN`: the listed values, unless the empty value is listed
/// (then every value is tested).
fn named_all(vs: &[String]) -> Flipped<'_> {
    if vs.iter().any(String::is_empty) {
        Flipped::Prefix(String::new())
    } else {
        Flipped::Named(vs)
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
