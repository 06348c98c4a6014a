//! Tag selection at high cardinality: builds the series index (no points) of
//! `cpu,host=u<i>,dc=dc<i % 10>,rack=r<i % 100>#usage` for 10k, 100k and 1M
//! series and times `SeriesIndex::select` for `=`, `IN` (10 values), `LIKE`,
//! regex, `AND` and `!=`, plus the ordering a scan applies to the result
//! (`in_series_order`). Each selection is checked against the expected
//! number of series and timed against the previous algorithm (one union per
//! tag value, quadratic in the values of the key), kept here as
//! [`per_value_union`] and run where it finishes in reasonable time.
//!
//! Run in release: `cargo run --release -p tsq-storage --example index_cardinality`
//! (optionally the sizes, e.g. `-- 10000 100000`). The table is quoted in
//! docs/benchmarks.md, "Tag selection at high cardinality".

use std::time::{Duration, Instant};

use tsq_engine::{Pattern, SeriesInfo, TagPredicate};
use tsq_storage::tsm::index::posting::{difference, intersect, union};
use tsq_storage::tsm::index::SeriesIndex;
use tsq_storage::tsm::value::FieldType;

/// The old algorithm would take longer than this many series: skipped.
const OLD_LIMIT: usize = 100_000;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("sizes are series counts"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    println!("| series | selection | matches | new (median) | old | old / new |");
    println!("|---:|---|---:|---:|---:|---:|");
    for n in sizes {
        run(n);
    }
}

fn host(i: usize) -> String {
    format!("u{i:07}")
}

fn run(n: usize) {
    let dir = std::env::temp_dir().join(format!("tsq-index-cardinality-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (mut index, _) = SeriesIndex::open(&dir.join("series.log")).expect("open index");
    let start = Instant::now();
    for i in 0..n {
        let (h, dc, rack) = (host(i), format!("dc{}", i % 10), format!("r{}", i % 100));
        let s = SeriesInfo::new(
            "cpu",
            &[("host", &h), ("dc", &dc), ("rack", &rack)],
            "usage",
        );
        index.get_or_create(&s, FieldType::Float).expect("create");
    }
    let built = start.elapsed();
    index.sync().expect("sync");
    drop(index);
    let start = Instant::now();
    let (index, _) = SeriesIndex::open(&dir.join("series.log")).expect("reopen index");
    eprintln!(
        "{n} series: index built in {built:.2?}, reopened from series.log in {:.2?}",
        start.elapsed()
    );

    // Around series n - 100: the LIKE prefix `u00099%` (for n = 10k) names
    // exactly 100 hosts, the regex 50 of them.
    let t = n - 100;
    let prefix = &host(t)[..6];
    let ten: Vec<String> = (0..10).map(|j| host(j * (n / 10) + 7)).collect();
    let cases: Vec<(String, TagPredicate, usize, bool)> = vec![
        (
            format!("host = '{}'", host(t)),
            TagPredicate::Eq("host".into(), host(t)),
            1,
            true,
        ),
        (
            "host IN (10 values)".into(),
            TagPredicate::In("host".into(), ten),
            10,
            n <= OLD_LIMIT / 10,
        ),
        (
            format!("host LIKE '{prefix}%'"),
            TagPredicate::Like("host".into(), Pattern::like(&format!("{prefix}%")).unwrap()),
            100,
            n <= OLD_LIMIT / 10,
        ),
        (
            format!("host =~ /^{prefix}[0-4][0-9]$/"),
            TagPredicate::Regex(
                "host".into(),
                Pattern::regex(&format!("^{prefix}[0-4][0-9]$")).unwrap(),
            ),
            50,
            n <= OLD_LIMIT / 10,
        ),
        (
            format!("host =~ /{prefix}[0-4][0-9]$/ (unanchored)"),
            TagPredicate::Regex(
                "host".into(),
                Pattern::regex(&format!("{prefix}[0-4][0-9]$")).unwrap(),
            ),
            50,
            n <= OLD_LIMIT / 10,
        ),
        (
            format!("dc = 'dc3' AND host = '{}'", host(t + 3)),
            TagPredicate::And(vec![
                TagPredicate::Eq("dc".into(), "dc3".into()),
                TagPredicate::Eq("host".into(), host(t + 3)),
            ]),
            1,
            n <= OLD_LIMIT / 10,
        ),
        (
            format!("host != '{}'", host(t)),
            TagPredicate::NotEq("host".into(), host(t)),
            n - 1,
            n <= OLD_LIMIT / 10,
        ),
    ];
    for (label, p, want, run_old) in cases {
        let (ids, new) = time(|| index.select("cpu", "usage", &p));
        assert_eq!(ids.len(), want, "{label} at {n} series");
        let old = (run_old && n <= OLD_LIMIT).then(|| {
            let (old_ids, old) = time_once(|| per_value_union(&index, &p));
            assert_eq!(old_ids, ids, "{label}: old and new selections differ");
            old
        });
        print_row(n, &label, want, new, old);
    }
    let all = index.select("cpu", "usage", &TagPredicate::True);
    let (_, order) = time(|| index.in_series_order("cpu", &all[..100]));
    print_row(n, "in_series_order (100 ids)", 100, order, None);
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}

fn print_row(n: usize, label: &str, matches: usize, new: Duration, old: Option<Duration>) {
    let ms = |d: Duration| match d.as_secs_f64() {
        s if s < 1e-3 => format!("{:.1} µs", s * 1e6),
        s => format!("{:.2} ms", s * 1e3),
    };
    let (old, ratio) = match old {
        Some(o) => (
            ms(o),
            format!("{:.0}x", o.as_secs_f64() / new.as_secs_f64().max(1e-9)),
        ),
        None => ("-".into(), "-".into()),
    };
    println!(
        "| {n} | `{label}` | {matches} | {} | {old} | {ratio} |",
        ms(new)
    );
}

/// The median of several runs (at least 5, up to about half a second).
fn time<T>(mut f: impl FnMut() -> T) -> (T, Duration) {
    let mut times = Vec::new();
    let start = Instant::now();
    let mut out = f();
    times.push(start.elapsed());
    while times.len() < 5 || (times.len() < 101 && start.elapsed() < Duration::from_millis(500)) {
        let t = Instant::now();
        out = f();
        times.push(t.elapsed());
    }
    times.sort();
    (out, times[times.len() / 2])
}

fn time_once<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// The previous selection algorithm, for comparison: for every leaf, walk
/// every value of the tag key, union each value's postings into the set of
/// series having the key and, when accepted, into the result (two merges of
/// growing lists per value: quadratic in the values of the key).
fn per_value_union(index: &SeriesIndex, p: &TagPredicate) -> Vec<u32> {
    let universe = index.field_postings("cpu", "usage");
    eval(index, &universe, p)
}

fn eval(index: &SeriesIndex, universe: &[u32], p: &TagPredicate) -> Vec<u32> {
    let leaf = |k: &str, accept: &dyn Fn(&str) -> bool| {
        let (mut out, mut with_key) = (Vec::new(), Vec::new());
        for v in index.tag_values("cpu", k) {
            let ids = index.tag_postings("cpu", k, &v);
            if accept(&v) {
                out = union(&out, &ids);
            }
            with_key = union(&with_key, &ids);
        }
        if accept("") {
            out = union(&out, &difference(universe, &with_key));
        }
        intersect(universe, &out)
    };
    match p {
        TagPredicate::True => universe.to_vec(),
        TagPredicate::Eq(k, v) => leaf(k, &|x| x == v),
        TagPredicate::NotEq(k, v) => leaf(k, &|x| x != v),
        TagPredicate::In(k, vs) => leaf(k, &|x| vs.iter().any(|v| v == x)),
        TagPredicate::NotIn(k, vs) => leaf(k, &|x| !vs.iter().any(|v| v == x)),
        TagPredicate::Like(k, pat) | TagPredicate::Regex(k, pat) => leaf(k, &|x| pat.is_match(x)),
        TagPredicate::NotRegex(k, pat) => leaf(k, &|x| !pat.is_match(x)),
        TagPredicate::And(ps) => ps
            .iter()
            .fold(universe.to_vec(), |acc, p| eval(index, &acc, p)),
        TagPredicate::Or(ps) => ps
            .iter()
            .fold(Vec::new(), |acc, p| union(&acc, &eval(index, universe, p))),
        TagPredicate::Not(p) => difference(universe, &eval(index, universe, p)),
    }
}
