//! End-to-end tests of `tsq import` (compacted unless `--no-compact`),
//! `tsq compact` and `tsq export` / `tsq import --format parquet`: the files
//! left in the data directory, and an exact round trip of every field type
//! through Parquet.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Line protocol in the exact form `tsq export --format lp` writes it: tag
/// sets in tag order (`dc` sorts before `host`, so host c without `dc` comes
/// last), then time; fields by name; floats as Rust's `{:?}`. Two days, so
/// two shards. 9007199254740993 = 2^53 + 1 is not an f64.
const CANONICAL: &str = r#"m,dc=x\ y,host=a b=true,f=1.5,i=9007199254740993i,s="hello \"q\"",u=18446744073709551615u 1704067200000000000
m,dc=x\ y,host=a f=-0.25,i=-7i 1704067210000000000
m,dc=x\ y,host=a b=false,f=100.0,i=3i,s="x,y",u=0u 1704153600000000000
m,dc=z,host=b f=2.0,i=1i 1704067200000000000
m,host=c f=0.5,s="only c" 1704153600000000000
"#;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn tsq(cwd: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tsq"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run tsq");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = tsq(cwd, args);
    assert_eq!(out.code, 0, "{args:?}: {}{}", out.stdout, out.stderr);
    out.stdout
}

/// Files under `dir/sub` with their sizes, sorted by path.
fn files(dir: &Path, sub: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join(sub)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, e.metadata().unwrap().len()));
            }
        }
    }
    out.sort();
    out
}

fn tsm_files(dir: &Path) -> Vec<String> {
    let all = files(dir, "shards");
    all.into_iter()
        .map(|f| f.0)
        .filter(|f| f.ends_with(".tsm"))
        .collect()
}

fn wal_bytes(dir: &Path) -> u64 {
    files(dir, "wal").iter().map(|f| f.1).sum()
}

#[test]
fn import_compacts_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("in.lp"), CANONICAL).unwrap();
    let out = ok(cwd, &["import", "--data", "c", "in.lp"]);
    assert!(out.contains("imported 16 points (9 new series)"), "{out}");
    // one compacted file per day shard; every WAL segment empty
    let c = cwd.join("c");
    assert_eq!(
        tsm_files(&c),
        vec![
            "shards/1704067200000000000/0000000001-0000000001-1.tsm".to_string(),
            "shards/1704153600000000000/0000000001-0000000001-1.tsm".to_string(),
        ]
    );
    assert_eq!(wal_bytes(&c), 0);

    ok(cwd, &["import", "--no-compact", "--data", "w", "in.lp"]);
    let w = cwd.join("w");
    assert_eq!(tsm_files(&w), Vec::<String>::new());
    assert!(wal_bytes(&w) > 0);
    // both stores answer the same: 15 values in 5 rows
    let lp = |d: &str| {
        ok(
            cwd,
            &["export", "--data", d, "--format", "lp", &format!("{d}.lp")],
        );
        std::fs::read_to_string(cwd.join(format!("{d}.lp"))).unwrap()
    };
    assert_eq!(lp("c"), CANONICAL);
    assert_eq!(lp("w"), CANONICAL);

    // A second import on top of the (export-closed) store: two files per
    // shard, then `tsq compact` merges each shard into one level-4 file.
    ok(cwd, &["import", "--no-compact", "--data", "w", "in.lp"]);
    let out = ok(cwd, &["compact", "--data", "w"]);
    assert!(out.starts_with("compacted 4 TSM files ("), "{out}");
    assert!(out.contains(" bytes) into 2 files ("), "{out}");
    assert!(out.ends_with(" bytes); 2 shards rewritten\n"), "{out}");
    assert_eq!(
        tsm_files(&w),
        vec![
            "shards/1704067200000000000/0000000001-0000000002-4.tsm".to_string(),
            "shards/1704153600000000000/0000000001-0000000002-4.tsm".to_string(),
        ]
    );
    assert_eq!(wal_bytes(&w), 0);
    assert_eq!(lp("w"), CANONICAL);
}

#[test]
fn parquet_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("in.lp"), CANONICAL).unwrap();
    ok(cwd, &["import", "--data", "a", "in.lp"]);
    let out = ok(
        cwd,
        &["export", "--data", "a", "--format", "parquet", "a.parquet"],
    );
    assert_eq!(out, "exported 5 rows (16 values) to a.parquet\n");

    // The file as any Parquet reader sees it.
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(File::open(cwd.join("a.parquet")).unwrap())
            .unwrap()
            .build()
            .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["time", "dc", "host", "b", "f", "i", "s", "u"]);
    assert_eq!(
        schema.field(0).data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
    );
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    let col = |name: &'static str| {
        batches
            .iter()
            .map(move |b| std::sync::Arc::clone(b.column_by_name(name).unwrap()))
    };
    // 1.5 - 0.25 + 100 + 2 + 0.5
    let f_sum: f64 = col("f")
        .flat_map(|a| {
            a.as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .sum();
    assert_eq!(f_sum, 103.75);
    // 9007199254740993 - 7 + 3 + 1, exactly
    let ints: Vec<i64> = col("i")
        .flat_map(|a| {
            a.as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ints, vec![9_007_199_254_740_993, -7, 3, 1]);
    assert_eq!(ints.iter().sum::<i64>(), 9_007_199_254_740_990);
    let units: Vec<Option<u64>> = col("u")
        .flat_map(|a| a.as_primitive::<UInt64Type>().iter().collect::<Vec<_>>())
        .collect();
    assert_eq!(units, vec![Some(u64::MAX), None, Some(0), None, None]);
    let nulls_dc: usize = col("dc").map(|a| a.null_count()).sum();
    assert_eq!(nulls_dc, 1, "host c has no dc tag");

    // Back into a fresh store (tags from the dictionary columns) and out again.
    let out = ok(
        cwd,
        &[
            "import",
            "--format",
            "parquet",
            "--measurement",
            "m",
            "--data",
            "b",
            "a.parquet",
        ],
    );
    assert!(
        out.starts_with("imported 16 points (9 new series) from 1 file"),
        "{out}"
    );
    ok(cwd, &["export", "--data", "b", "--format", "lp", "b.lp"]);
    assert_eq!(
        std::fs::read_to_string(cwd.join("b.lp")).unwrap(),
        CANONICAL
    );
    // --tags names them explicitly; the measurement defaults to the file stem
    std::fs::copy(cwd.join("a.parquet"), cwd.join("m.parquet")).unwrap();
    ok(
        cwd,
        &[
            "import",
            "--format",
            "parquet",
            "--tags",
            "dc,host",
            "--data",
            "c",
            "m.parquet",
        ],
    );
    ok(cwd, &["export", "--data", "c", "--format", "lp", "c.lp"]);
    assert_eq!(
        std::fs::read_to_string(cwd.join("c.lp")).unwrap(),
        CANONICAL
    );
    ok(
        cwd,
        &["export", "--data", "b", "--format", "parquet", "b.parquet"],
    );
    assert_eq!(
        std::fs::read(cwd.join("a.parquet")).unwrap(),
        std::fs::read(cwd.join("b.parquet")).unwrap()
    );
}

#[test]
fn csv_export_with_a_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("in.lp"), CANONICAL).unwrap();
    ok(cwd, &["import", "--data", "a", "in.lp"]);
    // [00:00:05, next day): host a's second row and host b's row are outside / inside
    let args = [
        "export",
        "--data",
        "a",
        "--format",
        "csv",
        "--from",
        "2024-01-01T00:00:05Z",
        "--to",
        "1704153600000000000",
        "out.csv",
    ];
    assert_eq!(ok(cwd, &args), "exported 1 rows (2 values) to out.csv\n");
    assert_eq!(
        std::fs::read_to_string(cwd.join("out.csv")).unwrap(),
        "time,dc,host,b,f,i,s,u\n2024-01-01T00:00:10Z,x y,a,,-0.25,-7,,\n"
    );
    // usage errors: no format, a result format, a bad time
    for bad in [
        vec!["export", "--data", "a", "o"],
        vec!["export", "--data", "a", "--format", "table", "o"],
        vec![
            "export", "--data", "a", "--format", "lp", "--from", "soon", "o",
        ],
        vec!["query", "--data", "a", "--format", "parquet", "SELECT 1"],
    ] {
        let out = tsq(cwd, &bad);
        assert_eq!(out.code, 2, "{bad:?}: {}", out.stderr);
    }
    let out = tsq(
        cwd,
        &[
            "export",
            "--data",
            "a",
            "--format",
            "csv",
            "--measurement",
            "x",
            "o",
        ],
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "error: no measurement 'x' in the store (it holds: m)\n"
    );
}
