//! The exhaustive byte-flip test (issue 11): a small store with every kind of
//! file (a compacted TSM file, a second TSM file, a tombstone file, a WAL
//! segment holding points not yet in any TSM file, the series log). For every
//! byte of every file, a copy of the store gets that byte flipped (xor 0xFF)
//! and is opened and queried: each query must return exactly the original
//! result or fail with an error naming the damaged file. A result that
//! differs without an error is a silent wrong result; there must be none.
//!
//! [`ASSERTED`] lists the file kinds whose every flip must be caught: all
//! of them. What catches them (docs/storage.md, "Recovery"): a damaged TSM
//! file or tombstone file fails the reads that need it; a damaged WAL
//! record fails every query naming its segment (its points are lost); a
//! damaged series log is rebuilt from the TSM files' indexes at open, so the
//! answers stay exact.

mod common_tsm;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common_tsm::{dir, pts, scan_all};
use tsq_engine::{ScanRequest, StorageAdapter, TagPredicate, TimeRange};
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

/// The kinds of file in a store directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FileKind {
    Tsm,
    Tombstone,
    Wal,
    SeriesLog,
}

/// Kinds whose every flip must give the exact result or an error naming
/// the file (see the module docs).
const ASSERTED: &[FileKind] = &[
    FileKind::Tsm,
    FileKind::Tombstone,
    FileKind::Wal,
    FileKind::SeriesLog,
];

fn kind_of(path: &Path) -> FileKind {
    let name = path.file_name().unwrap().to_string_lossy();
    if name.ends_with(".tsm") {
        FileKind::Tsm
    } else if name.ends_with(".tombstone") {
        FileKind::Tombstone
    } else if name.ends_with(".wal") {
        FileKind::Wal
    } else if name == "series.log" {
        FileKind::SeriesLog
    } else {
        panic!("unexpected file {}", path.display())
    }
}

/// Shards of 300 ns: [0, 300) and [300, 600).
fn options() -> StoreOptions {
    StoreOptions {
        compaction_fanout: 2,
        shard_duration: Duration::from_nanos(300),
        ..StoreOptions::default()
    }
}

/// 20 points of `host` from `start`, every 10 ns, value `base + i`.
fn run(host: &str, field: &str, start: i64, base: f64) -> tsq_storage::tsm::wal::SeriesPoints {
    let points: Vec<(i64, f64)> = (0..20).map(|i| (start + 10 * i, base + i as f64)).collect();
    pts("cpu", &[("host", host)], field, &points)
}

/// Builds the store in two shards: in `shards/0/`, gens 1 and 2 compacted
/// into `1-2-2.tsm` and gen 3 in `3-3-1.tsm`; in `shards/300/`, `2-2-1.tsm`
/// and `3-3-1.tsm`. A delete of host b in [150, 250] leaves one tombstone
/// file (on `shards/0/1-2-2.tsm`, the only file with b's points there);
/// then points of a and c (and a new field) are left in the WAL.
fn build(root: &Path) {
    let (store, _) = Store::open(root, options()).unwrap();
    store
        .write_series(vec![
            run("a", "v", 0, 0.0),
            run("b", "v", 0, 100.0),
            run("c", "v", 0, 200.0),
        ])
        .unwrap();
    store.flush().unwrap();
    store
        .write_series(vec![run("a", "v", 200, 20.0), run("b", "v", 200, 120.0)])
        .unwrap();
    store.flush().unwrap();
    assert_eq!(store.compact().unwrap(), 1);
    store
        .write_series(vec![run("b", "v", 400, 140.0), run("c", "v", 100, 300.0)])
        .unwrap();
    store.flush().unwrap();
    let b = TagPredicate::Eq("host".into(), "b".into());
    store.delete("cpu", &b, TimeRange::new(150, 251)).unwrap();
    store
        .write_series(vec![run("a", "v", 390, 40.0), run("c", "w", 0, 7.0)])
        .unwrap();
}

/// What one query returned: timelines, or a span.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Rows(BTreeMap<String, Vec<(i64, f64)>>),
    Span(Option<(i64, i64)>),
}

/// The fixed queries.
fn requests() -> Vec<(bool, ScanRequest)> {
    let mut all = ScanRequest::new("cpu", "v");
    all.range = TimeRange::ALL;
    let mut host_a = ScanRequest::new("cpu", "v");
    host_a.predicate = TagPredicate::Eq("host".into(), "a".into());
    host_a.range = TimeRange::new(100, 450);
    let mut not_a = ScanRequest::new("cpu", "v");
    not_a.predicate = TagPredicate::NotEq("host".into(), "a".into());
    let w = ScanRequest::new("cpu", "w");
    let mut late = ScanRequest::new("cpu", "v");
    late.range = TimeRange::new(300, 600);
    vec![
        (false, late),
        (false, all.clone()),
        (false, host_a.clone()),
        (false, not_a),
        (false, w),
        (true, all),
        (true, host_a),
    ]
}

/// Opens the store in `root` and runs every query: one answer (or error
/// text) per query, or the open's error.
async fn run_queries(root: &Path) -> Result<Vec<Result<Answer, String>>, String> {
    let (store, _) = Store::open(root, options()).map_err(|e| e.to_string())?;
    let adapter = TsmAdapter::new(Arc::new(store));
    let mut out = Vec::new();
    for (span, req) in requests() {
        let answer = if span {
            adapter.time_span(&req).await.map(Answer::Span)
        } else {
            scan_all(&adapter, &req, 16)
                .await
                .map(|(m, _)| Answer::Rows(m))
        };
        out.push(answer.map_err(|e| e.to_string()));
    }
    Ok(out)
}

fn files_of(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "LOCK") {
                // The writer lock holds no data (the next open recreates it).
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    for f in files_of(from) {
        let target = to.join(f.strip_prefix(from).unwrap());
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(&f, &target).unwrap();
    }
}

/// Flips per kind: (tried, caught by an error, exact result, silent wrong).
type Tally = BTreeMap<FileKind, [usize; 4]>;

#[tokio::test]
async fn every_flipped_byte_gives_the_exact_result_or_an_error_naming_the_file() {
    let started = Instant::now();
    let original = dir("byte_flip_original");
    build(&original);
    let files = files_of(&original);
    let kinds: Vec<FileKind> = files.iter().map(|f| kind_of(f)).collect();
    // Every kind of file is there: 4 TSM files, one tombstone file, 1 WAL
    // segment, the series log.
    let count = |k| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(
        [
            FileKind::Tsm,
            FileKind::Tombstone,
            FileKind::Wal,
            FileKind::SeriesLog
        ]
        .map(count),
        [4, 1, 1, 1],
        "{files:?}"
    );
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"0000000001-0000000002-2.tsm".to_string()),
        "{names:?}"
    );

    // The exact expected answers, worked out from what `build` wrote.
    let expected = expected_answers();
    let clean = dir("byte_flip_clean");
    copy_tree(&original, &clean);
    let got = run_queries(&clean).await.unwrap();
    let got: Vec<Answer> = got.into_iter().map(Result::unwrap).collect();
    assert_eq!(got, expected);

    let copy = dir("byte_flip_copy");
    let mut tally = Tally::new();
    let mut silent = Vec::new();
    // Query answers (not flips) that were exact although a byte was flipped.
    let mut exact_answers = 0;
    for (file, &kind) in files.iter().zip(&kinds) {
        let rel = file.strip_prefix(&original).unwrap();
        let damaged = copy.join(rel);
        let len = fs::metadata(file).unwrap().len() as usize;
        for at in 0..len {
            copy_tree(&original, &copy);
            let mut bytes = fs::read(&damaged).unwrap();
            bytes[at] ^= 0xFF;
            fs::write(&damaged, &bytes).unwrap();
            let named = damaged.display().to_string();
            let t = tally.entry(kind).or_default();
            t[0] += 1;
            let outcome = match run_queries(&copy).await {
                Err(e) if e.contains(&named) => 1,
                Err(e) => {
                    silent.push((kind, rel.to_path_buf(), at, format!("open failed: {e}")));
                    3
                }
                Ok(answers) => {
                    let mut worst = 2;
                    for (a, want) in answers.iter().zip(&expected) {
                        match a {
                            Ok(a) if a == want => exact_answers += 1,
                            Err(e) if e.contains(&named) => worst = worst.min(1),
                            other => {
                                silent.push((kind, rel.to_path_buf(), at, format!("{other:?}")));
                                worst = 3;
                                break;
                            }
                        }
                    }
                    worst
                }
            };
            t[outcome] += 1;
        }
    }
    let total: usize = tally.values().map(|t| t[0]).sum();
    println!(
        "byte flips tried: {total} in {:.1} s; {} silent wrong results; {exact_answers} query \
         answers exact despite the flip",
        started.elapsed().as_secs_f64(),
        silent.len()
    );
    for (kind, [tried, caught, exact, wrong]) in &tally {
        let asserted = if ASSERTED.contains(kind) {
            "asserted"
        } else {
            "not asserted"
        };
        println!(
            "  {kind:?}: {tried} flips, {caught} failed naming the file, {exact} exact, \
             {wrong} silent wrong results ({asserted})"
        );
    }
    let asserted_silent: Vec<_> = silent.iter().filter(|s| ASSERTED.contains(&s.0)).collect();
    assert!(
        asserted_silent.is_empty(),
        "{} silent wrong results, first: {:?}",
        asserted_silent.len(),
        asserted_silent.first()
    );
    assert!(tally[&FileKind::Tsm][0] > 0);
}

/// The answers of [`requests`] worked out from [`build`] by hand:
/// - a: 0..190 (values 0..19), 200..390 (20..39), then the WAL's 390..580
///   (40..59; 390 overwrites 39 with 40);
/// - b: 0..190 (100..119), 200..390 (120..139), 400..590 (140..159), minus
///   the delete of 150..=250 in both files;
/// - c: 0..90 (200..209) then 100..290 from gen 3 (300..319);
/// - c#w: the WAL's 0..190 (7..26).
fn expected_answers() -> Vec<Answer> {
    let a: Vec<(i64, f64)> = (0..20)
        .map(|i| (10 * i, i as f64))
        .chain((0..19).map(|i| (200 + 10 * i, 20.0 + i as f64)))
        .chain((0..20).map(|i| (390 + 10 * i, 40.0 + i as f64)))
        .collect();
    let b: Vec<(i64, f64)> = (0..20)
        .map(|i| (10 * i, 100.0 + i as f64))
        .chain((0..20).map(|i| (200 + 10 * i, 120.0 + i as f64)))
        .chain((0..20).map(|i| (400 + 10 * i, 140.0 + i as f64)))
        .filter(|&(t, _)| !(150..=250).contains(&t))
        .collect();
    let c: Vec<(i64, f64)> = (0..10)
        .map(|i| (10 * i, 200.0 + i as f64))
        .chain((0..20).map(|i| (100 + 10 * i, 300.0 + i as f64)))
        .collect();
    let w: Vec<(i64, f64)> = (0..20).map(|i| (10 * i, 7.0 + i as f64)).collect();
    let key = |h: &str, f: &str| format!("cpu,host={h}#{f}");
    let rows = |v: Vec<(String, Vec<(i64, f64)>)>| Answer::Rows(v.into_iter().collect());
    let a_range: Vec<(i64, f64)> = a
        .iter()
        .copied()
        .filter(|&(t, _)| (100..450).contains(&t))
        .collect();
    let late = |v: &[(i64, f64)]| -> Vec<(i64, f64)> {
        v.iter().copied().filter(|&(t, _)| t >= 300).collect()
    };
    vec![
        // [300, 600): the second shard only; c has no point there.
        rows(vec![(key("a", "v"), late(&a)), (key("b", "v"), late(&b))]),
        rows(vec![
            (key("a", "v"), a),
            (key("b", "v"), b.clone()),
            (key("c", "v"), c.clone()),
        ]),
        rows(vec![(key("a", "v"), a_range)]),
        rows(vec![(key("b", "v"), b), (key("c", "v"), c)]),
        rows(vec![(key("c", "w"), w)]),
        Answer::Span(Some((0, 590))),
        Answer::Span(Some((100, 440))),
    ]
}
