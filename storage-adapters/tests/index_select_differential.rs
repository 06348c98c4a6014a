//! Differential test of the inverted index's tag selection
//! (`SeriesIndex::select`) against a naive reference that tests every
//! series' tags directly (`TagPredicate::matches`, the InfluxQL semantics: a
//! missing tag counts as the empty value), on seeded random series and
//! random predicates. Both must give the same id set.

use tsq_engine::{Pattern, SeriesInfo, TagPredicate as P};
use tsq_storage::tsm::index::SeriesIndex;
use tsq_storage::tsm::value::FieldType;

/// xorshift64: deterministic pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &["host", "dc", "rack", "env"];
/// Stored values; `""` is a stored empty value, which counts as missing.
const VALUES: &[&str] = &[
    "a", "b", "wb", "web-1", "web-2", "db-1", "eu", "us", "x_y", "",
];
/// Values a predicate names: the stored ones plus one never stored.
const NAMED: &[&str] = &[
    "a", "b", "wb", "web-1", "web-2", "db-1", "eu", "us", "x_y", "", "zzz",
];
const LIKES: &[&str] = &[
    "web%", "%-1", "_", "%", "", "x\\_y", "d_-%", "zz%", "web-1", "h1%", "w_b%",
];
const REGEXES: &[&str] = &[
    "^web",
    "-1$",
    "^$",
    "",
    "u",
    "^(a|b)$",
    "[0-9]",
    "zz",
    "^we*b",
    "^h1",
    "^d|^w",
    "^web-1$",
    "^h[0-9]?$",
    "^x_",
];

/// Random series of `cpu` (fields `u` and `s`) and `mem` (field `f` only);
/// each tag present with probability 3/4, values drawn with repeats so some
/// series recur (only the first creation counts). Returns (series, id).
fn build(index: &mut SeriesIndex, rng: &mut Rng, n: usize) -> Vec<(SeriesInfo, u32)> {
    let mut created = Vec::new();
    for i in 0..n {
        let mut tags: Vec<(String, String)> = Vec::new();
        for k in KEYS {
            if rng.below(4) != 0 {
                let v = if *k == "host" && rng.below(2) == 0 {
                    format!("h{}", rng.below(n / 2 + 1))
                } else {
                    rng.pick(VALUES).to_string()
                };
                tags.push((k.to_string(), v));
            }
        }
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (m, f) = match i % 5 {
            0 => ("mem", "f"),
            1 | 3 => ("cpu", "s"),
            _ => ("cpu", "u"),
        };
        let s = SeriesInfo::new(m, &tags, f);
        let (id, new) = index.get_or_create(&s, FieldType::Float).unwrap();
        if new {
            created.push((s, id));
        }
    }
    created
}

fn leaf(rng: &mut Rng) -> P {
    let k = rng.pick(KEYS).to_string();
    let list = |rng: &mut Rng| -> Vec<String> {
        (0..rng.below(4))
            .map(|_| rng.pick(NAMED).to_string())
            .collect()
    };
    match rng.below(7) {
        0 => P::Eq(k, rng.pick(NAMED).to_string()),
        1 => P::NotEq(k, rng.pick(NAMED).to_string()),
        2 => P::In(k, list(rng)),
        3 => P::NotIn(k, list(rng)),
        4 => P::Like(k, Pattern::like(rng.pick(LIKES)).unwrap()),
        5 => P::Regex(k, Pattern::regex(rng.pick(REGEXES)).unwrap()),
        _ => P::NotRegex(k, Pattern::regex(rng.pick(REGEXES)).unwrap()),
    }
}

/// A random predicate of at most `depth` levels of AND / OR / NOT.
fn predicate(rng: &mut Rng, depth: usize) -> P {
    if depth == 0 || rng.below(3) == 0 {
        return match rng.below(12) {
            0 => P::True,
            1 => P::Eq("host".into(), format!("h{}", rng.below(40))),
            _ => leaf(rng),
        };
    }
    let children = |rng: &mut Rng| -> Vec<P> {
        (0..rng.below(4))
            .map(|_| predicate(rng, depth - 1))
            .collect()
    };
    match rng.below(3) {
        0 => P::And(children(rng)),
        1 => P::Or(children(rng)),
        _ => P::Not(Box::new(predicate(rng, depth - 1))),
    }
}

fn temp_log(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tsq-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("series.log")
}

/// Runs `predicates` random predicates on `seeds` stores of `n` series each
/// and returns how many selections were compared and how many were non-empty.
fn differential(name: &str, seeds: u64, n: usize, predicates: usize) -> (usize, usize) {
    let (mut compared, mut non_empty) = (0, 0);
    for seed in 1..=seeds {
        let path = temp_log(&format!("{name}-{seed}"));
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let (mut index, _) = SeriesIndex::open(&path).unwrap();
        let series = build(&mut index, &mut rng, n);
        for _ in 0..predicates {
            let p = predicate(&mut rng, 3);
            for (m, f) in [("cpu", "u"), ("cpu", "s"), ("mem", "f"), ("cpu", "f")] {
                let want: Vec<u32> = series
                    .iter()
                    .filter(|(s, _)| &*s.measurement == m && &*s.field == f && p.matches(s))
                    .map(|(_, id)| *id)
                    .collect();
                let got = index.select(m, f, &p);
                assert_eq!(got, want, "seed {seed}, {m}#{f}, predicate {p}");
                compared += 1;
                non_empty += usize::from(!want.is_empty());
            }
        }
        drop(index);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
    (compared, non_empty)
}

#[test]
fn selection_matches_the_naive_reference_on_small_stores() {
    let (compared, non_empty) = differential("sel-small", 48, 120, 150);
    assert_eq!(compared, 48 * 150 * 4);
    // The random predicates are not degenerate: many select something.
    assert!(non_empty > compared / 4, "{non_empty} of {compared}");
}

#[test]
fn selection_matches_the_naive_reference_when_and_filters_candidates() {
    // 3,000 series: an `=` on a host leaves few candidates, so AND tests the
    // other operands on each candidate's tags instead of intersecting sets.
    let (compared, non_empty) = differential("sel-large", 3, 3_000, 150);
    assert_eq!(compared, 3 * 150 * 4);
    assert!(non_empty > compared / 4, "{non_empty} of {compared}");
}

#[test]
fn selection_of_a_missing_measurement_key_or_value_is_exact() {
    let path = temp_log("sel-edges");
    let (mut index, _) = SeriesIndex::open(&path).unwrap();
    for (i, tags) in [
        vec![("host", "a")],
        vec![("host", "")],
        vec![],
        vec![("host", "b"), ("dc", "eu")],
    ]
    .iter()
    .enumerate()
    {
        let s = SeriesInfo::new("cpu", tags, "u");
        assert_eq!(
            index.get_or_create(&s, FieldType::Float).unwrap(),
            (i as u32, true)
        );
    }
    // Worked out by hand: ids 1 (stored empty) and 2 (no tag) have host = ''.
    let eq = |k: &str, v: &str| P::Eq(k.into(), v.into());
    assert_eq!(index.select("cpu", "u", &eq("host", "")), vec![1, 2]);
    assert_eq!(
        index.select("cpu", "u", &P::NotEq("host".into(), "".into())),
        vec![0, 3]
    );
    assert_eq!(
        index.select("cpu", "u", &eq("host", "zzz")),
        Vec::<u32>::new()
    );
    assert_eq!(
        index.select("cpu", "u", &P::NotEq("nokey".into(), "v".into())),
        vec![0, 1, 2, 3]
    );
    assert_eq!(index.select("cpu", "u", &eq("nokey", "")), vec![0, 1, 2, 3]);
    assert_eq!(
        index.select(
            "cpu",
            "u",
            &P::In("host".into(), vec!["b".into(), "".into()])
        ),
        vec![1, 2, 3]
    );
    assert_eq!(index.select("cpu", "u", &P::And(vec![])), vec![0, 1, 2, 3]);
    assert_eq!(index.select("cpu", "u", &P::Or(vec![])), Vec::<u32>::new());
    assert!(index.select("nope", "u", &P::True).is_empty());
    assert_eq!(index.tag_postings("cpu", "host", "b"), vec![3]);
    assert_eq!(index.field_postings("cpu", "u"), vec![0, 1, 2, 3]);
    drop(index);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
