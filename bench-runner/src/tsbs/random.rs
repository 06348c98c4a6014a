//! TSBS `cpu-only` query instances with their parameters drawn at random,
//! as TSBS's query generator draws them (`tsbs_generate_queries`,
//! use case `devops`), from a seed: the same seed and data give the same
//! query texts.
//!
//! The rules (docs/benchmarks.md, "TSBS at full scale"):
//! - a window of the type's length (1 h or 12 h for `single-groupby`, 8 h
//!   for `cpu-max-all`, 12 h for `double-groupby` and `high-cpu`, 1 h for
//!   `groupby-orderby-limit`) starts at a uniformly random second in
//!   `[start, end − length)` of the data (TSBS's `RandWindow`, whose RFC
//!   3339 text is whole seconds); a window as long as the data or longer
//!   covers the whole data (TSBS refuses it instead);
//! - the hosts of `single-groupby-M-H-T`, `cpu-max-all-H` and `high-cpu-1`
//!   are H distinct hostnames drawn uniformly (TSBS's
//!   `getRandomSubsetPerm`: draw, redraw a repeat), fewer when the data
//!   has fewer; the window is drawn first, then the hosts, as TSBS does;
//! - `groupby-orderby-limit` reads before the end of a random 1 h window;
//!   `lastpoint` has no parameter.
//!
//! Each query type draws from its own generator (the seed mixed with the
//! type's position in [`QUERY_TYPES`]), so asking for fewer types leaves the
//! instances of the others unchanged.

use tsq_engine::{EngineError, Result};

use super::queries::{
    cpu_max_all, double_groupby, groupby_orderby_limit, high_cpu, lastpoint, single_groupby,
    TsbsQuery,
};
use crate::demo::{SplitMix64, FIELDS};

const SECOND: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SECOND;

/// What the query generator needs to know of the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpace {
    /// First timestamp of the data, ns.
    pub start: i64,
    /// Exclusive end of the data, ns.
    pub end: i64,
    /// The `hostname` tag values (TSBS's `host_0` … `host_<scale−1>`).
    pub hosts: Vec<String>,
}

/// One of the fifteen TSBS `cpu-only` query types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryType {
    /// `single-groupby-M-H-T`: max of M metrics on H hosts per minute, T hours.
    SingleGroupby {
        /// Metrics (the first M of the ten).
        metrics: usize,
        /// Random hosts.
        hosts: usize,
        /// Window length in hours.
        hours: i64,
    },
    /// `cpu-max-all-H`: max of all ten metrics on H hosts per hour, 8 hours.
    CpuMaxAll {
        /// Random hosts.
        hosts: usize,
    },
    /// `double-groupby-M`: mean of M metrics per host per hour, 12 hours.
    DoubleGroupby {
        /// Metrics (the first M of the ten).
        metrics: usize,
    },
    /// `high-cpu-1` (one random host) or `high-cpu-all` (`None`): readings
    /// with `usage_user > 90`, 12 hours.
    HighCpu {
        /// One random host, or every host.
        one_host: bool,
    },
    /// `lastpoint`: the newest reading of every host.
    Lastpoint,
    /// `groupby-orderby-limit`: max per minute, the five newest minutes
    /// before a random time.
    GroupbyOrderbyLimit,
}

/// The fifteen types in TSBS's order, with their names.
pub const QUERY_TYPES: [(&str, QueryType); 15] = [
    ("single-groupby-1-1-1", sg(1, 1, 1)),
    ("single-groupby-1-1-12", sg(1, 1, 12)),
    ("single-groupby-1-8-1", sg(1, 8, 1)),
    ("single-groupby-5-1-1", sg(5, 1, 1)),
    ("single-groupby-5-1-12", sg(5, 1, 12)),
    ("single-groupby-5-8-1", sg(5, 8, 1)),
    ("cpu-max-all-1", QueryType::CpuMaxAll { hosts: 1 }),
    ("cpu-max-all-8", QueryType::CpuMaxAll { hosts: 8 }),
    ("double-groupby-1", QueryType::DoubleGroupby { metrics: 1 }),
    ("double-groupby-5", QueryType::DoubleGroupby { metrics: 5 }),
    (
        "double-groupby-all",
        QueryType::DoubleGroupby {
            metrics: FIELDS.len(),
        },
    ),
    ("high-cpu-all", QueryType::HighCpu { one_host: false }),
    ("high-cpu-1", QueryType::HighCpu { one_host: true }),
    ("lastpoint", QueryType::Lastpoint),
    ("groupby-orderby-limit", QueryType::GroupbyOrderbyLimit),
];

const fn sg(metrics: usize, hosts: usize, hours: i64) -> QueryType {
    QueryType::SingleGroupby {
        metrics,
        hosts,
        hours,
    }
}

impl QueryType {
    /// The TSBS name (`single-groupby-1-1-1`, …).
    pub fn name(self) -> &'static str {
        QUERY_TYPES
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("unknown", |(name, _)| name)
    }

    /// The type called `name`, or an error listing the names.
    pub fn parse(name: &str) -> Result<QueryType> {
        QUERY_TYPES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = QUERY_TYPES.iter().map(|(n, _)| *n).collect();
                EngineError::execution(
                    "tsbs",
                    format!(
                        "unknown query type '{name}' (expected one of {})",
                        names.join(", ")
                    ),
                )
            })
    }

    /// The position of this type in [`QUERY_TYPES`].
    fn index(self) -> usize {
        QUERY_TYPES
            .iter()
            .position(|(_, t)| *t == self)
            .unwrap_or(0)
    }

    /// One instance of this type over `space`, its parameters drawn from `rng`.
    pub fn instance(self, space: &QuerySpace, rng: &mut SplitMix64) -> TsbsQuery {
        let name = self.name();
        let span = (space.start, space.end);
        let all = space.hosts.len();
        match self {
            QueryType::SingleGroupby {
                metrics,
                hosts,
                hours,
            } => {
                let window = random_window(space, hours * HOUR, rng);
                single_groupby(name, metrics, &random_hosts(space, hosts, rng), window)
            }
            QueryType::CpuMaxAll { hosts } => {
                let window = random_window(space, 8 * HOUR, rng);
                cpu_max_all(name, &random_hosts(space, hosts, rng), window)
            }
            QueryType::DoubleGroupby { metrics } => {
                double_groupby(name, metrics, random_window(space, 12 * HOUR, rng), all)
            }
            QueryType::HighCpu { one_host } => {
                let window = random_window(space, 12 * HOUR, rng);
                let host = if one_host {
                    random_hosts(space, 1, rng)
                } else {
                    Vec::new()
                };
                high_cpu(name, host.first().map(String::as_str), window, all)
            }
            QueryType::Lastpoint => lastpoint(span, all),
            QueryType::GroupbyOrderbyLimit => {
                let (_, before) = random_window(space, HOUR, rng);
                groupby_orderby_limit(before, span, all)
            }
        }
    }
}

/// `n` instances of each of `types` over `space`, drawn from `seed`.
pub fn generate(
    space: &QuerySpace,
    types: &[QueryType],
    n: usize,
    seed: u64,
) -> Vec<(QueryType, Vec<TsbsQuery>)> {
    types
        .iter()
        .map(|&t| {
            let mixed = seed ^ (t.index() as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut rng = SplitMix64::new(mixed);
            (t, (0..n).map(|_| t.instance(space, &mut rng)).collect())
        })
        .collect()
}

/// A window of `length` ns starting at a uniformly random whole second in
/// `[start, end − length)`, or the whole data when it is not longer than
/// `length`.
fn random_window(space: &QuerySpace, length: i64, rng: &mut SplitMix64) -> (i64, i64) {
    let lower = space.start.div_euclid(SECOND) + i64::from(space.start.rem_euclid(SECOND) > 0);
    let upper = (space.end - length).div_euclid(SECOND);
    if upper <= lower {
        return (space.start, space.end);
    }
    let from = (lower + rng.below((upper - lower) as usize) as i64) * SECOND;
    (from, from + length)
}

/// `n` distinct hostnames drawn uniformly (all of them when there are no
/// more than `n`), in the order drawn.
fn random_hosts(space: &QuerySpace, n: usize, rng: &mut SplitMix64) -> Vec<String> {
    let total = space.hosts.len();
    if total == 0 {
        return Vec::new();
    }
    let mut seen = vec![false; total];
    let mut out = Vec::with_capacity(n.min(total));
    while out.len() < n.min(total) {
        let i = rng.below(total);
        if !std::mem::replace(&mut seen[i], true) {
            out.push(space.hosts[i].clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DEFAULT_START;

    fn space(hours: i64, hosts: usize) -> QuerySpace {
        QuerySpace {
            start: DEFAULT_START,
            end: DEFAULT_START + hours * HOUR,
            hosts: (0..hosts).map(|h| format!("host_{h}")).collect(),
        }
    }

    /// `(from, to)` of a `time >= '…Z' AND time < '…Z'` filter, in ns.
    fn window_of(text: &str) -> (i64, i64) {
        let at = |key: &str| {
            let i = text.find(key).unwrap() + key.len();
            let t = &text[i..i + 20];
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .timestamp_nanos_opt()
                .unwrap()
        };
        (at("time >= '"), at("time < '"))
    }

    #[test]
    fn the_fifteen_names_parse_back() {
        for (name, t) in QUERY_TYPES {
            assert_eq!(QueryType::parse(name).unwrap(), t);
            assert_eq!(t.name(), name);
        }
        let err = QueryType::parse("cpu-max-all-2").unwrap_err().to_string();
        assert!(err.contains("unknown query type 'cpu-max-all-2'"), "{err}");
        assert!(err.contains("groupby-orderby-limit"), "{err}");
    }

    #[test]
    fn the_same_seed_gives_the_same_queries() {
        let s = space(72, 4000);
        let types: Vec<QueryType> = QUERY_TYPES.iter().map(|(_, t)| *t).collect();
        let a = generate(&s, &types, 5, 1);
        assert_eq!(a, generate(&s, &types, 5, 1));
        assert_ne!(a, generate(&s, &types, 5, 2));
        // a subset of the types draws the same instances for them
        let b = generate(&s, &types[7..9], 5, 1);
        assert_eq!(b[..], a[7..9]);
        // five different windows for single-groupby-1-1-1 over 72 h
        let texts: std::collections::BTreeSet<&str> =
            a[0].1.iter().map(|q| q.tsq.as_str()).collect();
        assert_eq!(texts.len(), 5);
    }

    #[test]
    fn windows_and_hosts_stay_inside_the_data() {
        let s = space(72, 40);
        let types: Vec<QueryType> = QUERY_TYPES.iter().map(|(_, t)| *t).collect();
        for (t, instances) in generate(&s, &types, 50, 9) {
            for q in instances {
                if q.tsq.contains("time >= '") && t != QueryType::Lastpoint {
                    let (from, to) = window_of(&q.tsq);
                    assert!(from >= s.start && to <= s.end, "{}", q.tsq);
                    assert_eq!(from % SECOND, 0);
                    let hours = match t {
                        QueryType::SingleGroupby { hours, .. } => hours,
                        QueryType::CpuMaxAll { .. } => 8,
                        _ => 12,
                    };
                    assert_eq!(to - from, hours * HOUR, "{}", q.tsq);
                }
                let named: Vec<&str> = q
                    .tsq
                    .split('\'')
                    .filter(|w| w.starts_with("host_"))
                    .collect();
                let distinct: std::collections::BTreeSet<&&str> = named.iter().collect();
                assert_eq!(distinct.len(), named.len(), "{}", q.tsq);
                assert!(named.iter().all(|h| s.hosts.iter().any(|x| x == h)));
                let want = match t {
                    QueryType::SingleGroupby { hosts, .. } | QueryType::CpuMaxAll { hosts } => {
                        hosts
                    }
                    QueryType::HighCpu { one_host: true } => 1,
                    _ => 0,
                };
                assert_eq!(named.len(), want, "{}", q.tsq);
            }
        }
    }

    #[test]
    fn groupby_orderby_limit_ends_in_the_data_after_its_first_hour() {
        let s = space(3, 10);
        let (_, queries) = &generate(&s, &[QueryType::GroupbyOrderbyLimit], 40, 3)[0];
        for q in queries {
            let i = q.tsq.find("time < '").unwrap() + "time < '".len();
            let before = chrono::DateTime::parse_from_rfc3339(&q.tsq[i..i + 20])
                .unwrap()
                .timestamp_nanos_opt()
                .unwrap();
            assert!(before >= s.start + HOUR && before < s.end, "{}", q.tsq);
        }
    }

    #[test]
    fn windows_longer_than_the_data_cover_all_of_it() {
        // 3 hours of data: the 8 h and 12 h windows are the whole data
        let s = space(3, 10);
        let (_, queries) = &generate(&s, &[QueryType::DoubleGroupby { metrics: 1 }], 3, 1)[0];
        for q in queries {
            assert_eq!(window_of(&q.tsq), (s.start, s.end));
            // 10 hosts × 1 metric × 1080 timestamps
            assert_eq!(q.points, 10_800);
        }
        // 8 hosts asked of 5: all five, each once
        let few = space(3, 5);
        let mut rng = SplitMix64::new(1);
        let mut hosts = random_hosts(&few, 8, &mut rng);
        hosts.sort();
        assert_eq!(hosts, few.hosts);
    }

    #[test]
    fn draws_follow_the_generator() {
        // 2 h of data, 1 h windows: the start second is below(3600) of the
        // type's generator, then one host is below(10)
        let s = space(2, 10);
        let t = QueryType::SingleGroupby {
            metrics: 1,
            hosts: 1,
            hours: 1,
        };
        let mut rng = SplitMix64::new(77);
        let q = t.instance(&s, &mut rng);
        let mut check = SplitMix64::new(77);
        let offset = check.below(3600) as i64;
        let host = check.below(10);
        assert_eq!(
            window_of(&q.tsq),
            (s.start + offset * SECOND, s.start + offset * SECOND + HOUR)
        );
        assert!(
            q.tsq.contains(&format!("hostname IN ('host_{host}')")),
            "{}",
            q.tsq
        );
    }
}
