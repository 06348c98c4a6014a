//! End-to-end tests of the `tsq` binary: import with bad lines, queries in
//! every format, the REPL driven through stdin, error rendering and exit
//! codes, and the demo dataset's counts.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Three good points per host over 0 s, 10 s, 20 s (b misses 20 s), and two
/// bad lines (line 4: a float that is not one; line 6: no field set).
const SAMPLE: &str = "\
# two hosts, 10 s apart
m,host=a usage=1 1704067200000000000
m,host=b usage=3 1704067200000000000
m,host=a usage=oops 1704067205000000000
m,host=a usage=2 1704067210000000000
m,host=b
m,host=b usage=5 1704067210000000000
m,host=a usage=4 1704067220000000000
";

/// Max per host and 10 s bucket over [0 s, 30 s), empty buckets null.
const QUERY: &str = "SELECT host, max(usage) FROM m \
    WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:00:30Z' \
    GROUP BY host SAMPLE BY 10s max FILL(null)";

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `cwd` with `args`, feeding `stdin`.
fn tsq(cwd: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsq"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tsq");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A temp dir with SAMPLE imported into `data/`.
fn imported() -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sample.lp"), SAMPLE).unwrap();
    let out = tsq(dir.path(), &["import", "--data", "data", "sample.lp"], "");
    (dir, out)
}

/// The import summary without its timing: "imported ... from 1 file".
fn summary_head(stdout: &str) -> &str {
    stdout.split(" in ").next().unwrap()
}

#[test]
fn import_keeps_good_lines_and_reports_bad_ones() {
    let (_dir, out) = imported();
    assert_eq!(out.code, 1, "{}", out.stderr);
    // 5 valid lines (2, 3, 5, 7, 8) → 5 points in 2 series (host a and b).
    assert_eq!(
        summary_head(&out.stdout),
        "imported 5 points (2 new series) from 1 file"
    );
    // The summary, then the compaction line.
    assert!(
        out.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with("points/s); 2 lines rejected"),
        "{}",
        out.stdout
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[0].starts_with("sample.lp:4:"), "{}", out.stderr);
    assert!(lines[1].starts_with("sample.lp:6:"), "{}", out.stderr);
    insta::assert_snapshot!("import_errors", out.stderr);
}

#[test]
fn query_prints_every_format() {
    let (dir, _) = imported();
    let run = |format: &str| {
        let out = tsq(
            dir.path(),
            &["query", "--data", "data", "--format", format, QUERY],
            "",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    // a: max 1, 2, 4 in the buckets at 0, 10, 20 s; b: 3, 5, then an empty
    // bucket at 20 s, null under FILL(null). Rows ordered by host, then time.
    let csv = "time,host,max(usage)\n\
               2024-01-01T00:00:00Z,a,1\n\
               2024-01-01T00:00:10Z,a,2\n\
               2024-01-01T00:00:20Z,a,4\n\
               2024-01-01T00:00:00Z,b,3\n\
               2024-01-01T00:00:10Z,b,5\n\
               2024-01-01T00:00:20Z,b,\n";
    assert_eq!(run("csv"), csv);
    let ndjson = run("ndjson");
    assert_eq!(
        ndjson.lines().last().unwrap(),
        r#"{"time":"2024-01-01T00:00:20Z","host":"b","max(usage)":null}"#
    );
    insta::assert_snapshot!("query_table", run("table"));
    insta::assert_snapshot!("query_json", run("json"));
    insta::assert_snapshot!("query_ndjson", ndjson);
}

#[test]
fn nan_fill_is_written_nan() {
    let (dir, _) = imported();
    let query = QUERY.replace("FILL(null)", "FILL(nan)");
    let out = tsq(
        dir.path(),
        &["query", "--data", "data", "--format", "csv", &query],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().last().unwrap(),
        "2024-01-01T00:00:20Z,b,NaN"
    );
    let out = tsq(
        dir.path(),
        &["query", "--data", "data", "--format", "json", &query],
        "",
    );
    assert!(
        out.stdout.contains(r#""max(usage)":"NaN""#),
        "{}",
        out.stdout
    );
}

#[test]
fn every_strategy_gives_the_same_rows() {
    let (dir, _) = imported();
    // No SAMPLE BY: sum across hosts at each timestamp, interpolated (lerp).
    // At 20 s only a has a point and b's span ended at 10 s, so the sum is 4;
    // at 0 s 1 + 3 = 4; at 10 s 2 + 5 = 7.
    let query = "SELECT sum(usage) FROM m";
    let expected =
        "time,sum(usage)\n2024-01-01T00:00:00Z,4\n2024-01-01T00:00:10Z,7\n2024-01-01T00:00:20Z,4\n";
    for strategy in ["auto", "grouped", "mt"] {
        let args = [
            "query",
            "--data",
            "data",
            "--format",
            "csv",
            "--strategy",
            strategy,
            query,
        ];
        let out = tsq(dir.path(), &args, "");
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, expected),
            "{strategy}: {}",
            out.stderr
        );
    }
}

#[test]
fn the_materialized_executor_gives_the_same_rows_in_the_repl() {
    let (dir, _) = imported();
    // The lerp sum of every_strategy_gives_the_same_rows, run once on each
    // executor in one REPL session: 4, 7, 4 both times.
    let rows = "2024-01-01T00:00:00Z,4\n2024-01-01T00:00:10Z,7\n2024-01-01T00:00:20Z,4\n";
    let input = "\\format csv\nSELECT sum(usage) FROM m;\n\\executor materialized\nSELECT sum(usage) FROM m;\n";
    let out = tsq(dir.path(), &["--data", "data"], input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = format!(
        "Output format is csv.\ntime,sum(usage)\n{rows}\
         Executor is materialized (whole timelines in memory).\ntime,sum(usage)\n{rows}"
    );
    assert!(out.stdout.ends_with(&expected), "{}", out.stdout);
}

#[test]
fn script_files_run_every_statement() {
    let (dir, _) = imported();
    let script = format!("-- two statements\n{QUERY};\nSELECT usage FROM m WHERE host = 'b';\n");
    std::fs::write(dir.path().join("q.sql"), script).unwrap();
    let out = tsq(
        dir.path(),
        &["query", "--data", "data", "--format", "csv", "-f", "q.sql"],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The raw select returns b's two points after the 7 lines of the first.
    let tail: Vec<&str> = out.stdout.lines().skip(7).collect();
    assert_eq!(
        tail,
        [
            "time,host,usage",
            "2024-01-01T00:00:00Z,b,3",
            "2024-01-01T00:00:10Z,b,5"
        ]
    );
}

#[test]
fn repl_reads_statements_and_commands_from_stdin() {
    let (dir, _) = imported();
    let input = "\\format csv\nSELECT host, max(usage) FROM m\n  GROUP BY host SAMPLE BY ALL max;\n\\d\n\\d m\n\\strategy mt\n\\q\nSELECT 1;\n";
    let out = tsq(dir.path(), &["--data", "data"], input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_snapshot!("repl_session", out.stdout);
}

#[test]
fn repl_reports_errors_and_keeps_going() {
    let (dir, _) = imported();
    let input = "SELECT max(usage) FROM m FILL(zero);\n\\format xml\nSELECT max(usage) AS top FROM m SAMPLE BY ALL max;\n";
    let out = tsq(dir.path(), &["--data", "data", "--format", "csv"], input);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "time,top\n2024-01-01T00:00:00Z,5\n");
    insta::assert_snapshot!("repl_errors", out.stderr);
}

#[test]
fn query_errors_render_with_a_caret_and_exit_1() {
    let (dir, _) = imported();
    let query = "SELECT max(usage)\nFROM m FILL(zero)";
    let out = tsq(dir.path(), &["query", "--data", "data", query], "");
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains(" --> query:"), "{}", out.stderr);
    assert!(
        out.stderr.lines().any(|l| l.trim_end().ends_with('^')),
        "{}",
        out.stderr
    );
    insta::assert_snapshot!("query_error", out.stderr);
}

#[test]
fn a_failed_import_says_what_was_acknowledged_and_escapes_control_bytes() {
    let (dir, _) = imported();
    // A NUL and an escape sequence inside a rejected value, then a file
    // that does not exist: SAMPLE's 5 points and 1 of this file's landed
    // (the bad value starts in column 16).
    std::fs::write(
        dir.path().join("ctl.lp"),
        "m,host=c usage=1 1704067230000000000\nm,host=c usage=x\0\u{1b}[2J 1\n",
    )
    .unwrap();
    let out = tsq(
        dir.path(),
        &[
            "import",
            "--data",
            "fresh",
            "sample.lp",
            "ctl.lp",
            "gone.lp",
        ],
        "",
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    let tail = out.stderr.lines().skip(2).collect::<Vec<_>>().join("\n");
    assert_eq!(
        tail,
        "ctl.lp:2:16: invalid field value 'x\\u{0}\\u{1b}[2J'\n\
         error: gone.lp: No such file or directory (os error 2)\n\
         note: 6 points (3 new series) from 2 complete files and the chunks before the failure \
         were acknowledged (durable) and stay in the store; importing the same input again is \
         safe (a point rewritten with the same series and timestamp is stored once)"
    );
    assert!(!out.stderr.contains('\0'), "{:?}", out.stderr);
}

#[test]
fn import_reads_stdin_with_a_precision() {
    let (dir, _) = imported();
    // 1704067230 s = 2024-01-01T00:00:30Z.
    let out = tsq(
        dir.path(),
        &["import", "--data", "data", "--precision", "s", "-"],
        "m,host=c usage=7 1704067230\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        summary_head(&out.stdout),
        "imported 1 points (1 new series) from 1 file"
    );
    let query = "SELECT usage FROM m WHERE host = 'c'";
    let out = tsq(
        dir.path(),
        &["query", "--data", "data", "--format", "csv", query],
        "",
    );
    assert_eq!(
        out.stdout, "time,host,usage\n2024-01-01T00:00:30Z,c,7\n",
        "{}",
        out.stderr
    );
}

#[test]
fn explain_and_explain_analyze_run_as_queries() {
    let (dir, _) = imported();
    let explain = tsq(
        dir.path(),
        &[
            "query",
            "--threads",
            "1",
            "--data",
            "data",
            &format!("EXPLAIN {QUERY}"),
        ],
        "",
    );
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    // FILL(null) emits every bucket: no interpolation, max is incremental.
    assert!(
        explain.stdout.contains("PipeAggOp: agg=max"),
        "{}",
        explain.stdout
    );
    // on two threads: two aggregations of whole groups each, merged
    let two = tsq(
        dir.path(),
        &[
            "query",
            "--threads",
            "2",
            "--data",
            "data",
            &format!("EXPLAIN {QUERY}"),
        ],
        "",
    );
    assert_eq!(two.code, 0, "{}", two.stderr);
    assert!(
        two.stdout
            .contains("GroupMergeOp: partitions=2 by whole groups"),
        "{}",
        two.stdout
    );
    assert_eq!(
        two.stdout
            .lines()
            .filter(|l| l.contains("PipeAggOp: agg=max") && l.ends_with("by whole groups"))
            .count(),
        2,
        "{}",
        two.stdout
    );
    let analyze = format!("EXPLAIN ANALYZE {QUERY}");
    let out = tsq(dir.path(), &["query", "--data", "data", &analyze], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    // 3 buckets × 2 hosts = 6 result rows.
    assert!(out.stdout.contains("total rows: 6"), "{}", out.stdout);
    assert!(out.stdout.contains("metrics=[rows_in="), "{}", out.stdout);
}

#[test]
fn exit_codes() {
    let (dir, _) = imported();
    let code = |args: &[&str]| tsq(dir.path(), args, "").code;
    assert_eq!(
        code(&[
            "query",
            "--data",
            "data",
            "SELECT max(usage) FROM m SAMPLE BY ALL max"
        ]),
        0
    );
    assert_eq!(code(&["query", "--data", "missing", "SELECT 1"]), 1);
    assert_eq!(code(&["query", "SELECT x FROM m"]), 2);
    assert_eq!(
        code(&[
            "query",
            "--data",
            "data",
            "--format",
            "xml",
            "SELECT x FROM m"
        ]),
        2
    );
    assert_eq!(
        code(&["import", "--data", "data", "--precision", "h", "sample.lp"]),
        2
    );
    assert_eq!(code(&["frobnicate"]), 2);
    // Forcing PipeAggOp where interpolation is needed is a plan error.
    assert_eq!(
        code(&[
            "query",
            "--data",
            "data",
            "--strategy",
            "pipe",
            "SELECT sum(usage) FROM m"
        ]),
        1
    );
    assert_eq!(code(&["import", "--data", "data", "no-such-file.lp"]), 1);
}

#[test]
fn demo_writes_the_documented_counts() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "demo",
        "--data",
        "demo",
        "--hosts",
        "2",
        "--hours",
        "1",
        "--no-repl",
    ];
    let out = tsq(dir.path(), &args, "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    // 2 hosts × 10 fields = 20 series; 1 h / 10 s = 360 points each → 7200.
    assert_eq!(
        summary_head(&out.stdout),
        "imported 7200 points (20 new series)"
    );
    let again = tsq(dir.path(), &args, "");
    assert!(
        again.stdout.starts_with("reusing the demo data"),
        "{}",
        again.stdout
    );
    // SAMPLE BY ALL count gives each series' point count; the sum across the
    // one series of each group keeps it.
    let script = "\\d cpu\nSELECT hostname, sum(usage_idle) AS points FROM cpu GROUP BY hostname SAMPLE BY ALL count;\n";
    let out = tsq(dir.path(), &["--data", "demo", "--format", "csv"], script);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("measurement cpu: 20 series\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with(
            "time,hostname,points\n\
             2024-01-01T00:00:00Z,host_0,360\n\
             2024-01-01T00:00:00Z,host_1,360\n"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn bench_tsbs_store_reports_fifteen_types_on_a_demo_store() {
    let dir = tempfile::tempdir().unwrap();
    let demo = [
        "demo",
        "--data",
        "demo",
        "--hosts",
        "10",
        "--hours",
        "3",
        "--no-repl",
    ];
    let out = tsq(dir.path(), &demo, "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    // the last line gives the disk use: bytes per metric over 108,000 points
    let last = out.stdout.lines().last().unwrap();
    assert!(
        last.starts_with("demo uses ") && last.ends_with(" bytes per metric"),
        "{}",
        out.stdout
    );
    let bench = [
        "bench",
        "--suite",
        "tsbs-store",
        "--data",
        "demo",
        "--queries",
        "3",
        "--seed",
        "7",
        "--threads",
        "2",
        "--format",
        "json",
    ];
    let out = tsq(dir.path(), &bench, "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    // 10 hosts; 3 h from 2024-01-01, one second past the last row
    assert_eq!(v["hosts"], 10);
    assert_eq!(v["start"], "2024-01-01T00:00:00Z");
    assert_eq!(v["end"], "2024-01-01T02:59:51Z");
    assert_eq!(
        (v["seed"].as_u64(), v["threads"].as_u64()),
        (Some(7), Some(2))
    );
    let types = v["query_types"].as_array().unwrap();
    assert_eq!(types.len(), 15);
    for t in types {
        assert_eq!(
            (t["count"].as_u64(), t["errors"].as_u64()),
            (Some(3), Some(0)),
            "{t}"
        );
        assert!(t["min_ms"].as_f64().unwrap() <= t["max_ms"].as_f64().unwrap());
    }
    assert_eq!(types[0]["query_type"], "single-groupby-1-1-1");
    // lastpoint: 10 hosts, three times
    assert_eq!(types[13]["query_type"], "lastpoint");
    assert_eq!(types[13]["rows"], 30);
    // a subset, the store left as it was: reading takes no writer lock
    let some = [
        "bench",
        "--suite",
        "tsbs-store",
        "--data",
        "demo",
        "--queries",
        "2",
        "--query-types",
        "lastpoint,cpu-max-all-8",
    ];
    let out = tsq(dir.path(), &some, "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\n| cpu-max-all-8 | 2 |"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\n| lastpoint | 2 |"), "{}", out.stdout);
    assert!(!out.stdout.contains("single-groupby"), "{}", out.stdout);
    let bad = tsq(
        dir.path(),
        &["bench", "--suite", "tsbs-store", "--query-types", "x"],
        "",
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let bad = tsq(
        dir.path(),
        &[
            "bench",
            "--suite",
            "tsbs-store",
            "--data",
            "demo",
            "--query-types",
            "x",
        ],
        "",
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("unknown query type 'x'"),
        "{}",
        bad.stderr
    );
}

#[test]
fn bench_prints_both_suites_as_json_and_rejects_csv() {
    let dir = tempfile::tempdir().unwrap();
    // 0.05: seed case 1 with 50 timelines, TSBS with 5 hosts × 12 h
    let out = tsq(
        dir.path(),
        &[
            "bench", "--scale", "0.05", "--runs", "1", "--format", "json",
        ],
        "",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    // seed cases 1 and 2, each in memory and on TSM
    let seed = v["seed"].as_array().unwrap();
    assert_eq!(seed.len(), 4);
    assert!(seed[0]["case"]
        .as_str()
        .unwrap()
        .starts_with("seed1: 50 timelines"));
    // 50 timelines × 720 points
    assert_eq!(seed[0]["points"], 36_000);
    let tsbs = v["tsbs"].as_array().unwrap();
    let names: Vec<&str> = tsbs.iter().map(|c| c["case"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "single-groupby-1-1-1",
            "single-groupby-1-1-12",
            "single-groupby-1-8-1",
            "single-groupby-5-1-1",
            "single-groupby-5-1-12",
            "single-groupby-5-8-1",
            "cpu-max-all-1",
            "cpu-max-all-8",
            "double-groupby-1",
            "double-groupby-5",
            "double-groupby-all",
            "high-cpu-all",
            "high-cpu-1",
            "lastpoint",
            "groupby-orderby-limit"
        ]
    );
    for case in tsbs {
        let engines = case["engines"].as_array().unwrap();
        let labels: Vec<&str> = engines
            .iter()
            .map(|e| e["engine"].as_str().unwrap())
            .collect();
        assert!(labels.contains(&"tsq pipelined (1 thread)"), "{labels:?}");
        assert!(labels.contains(&"tsq materialized"), "{labels:?}");
        // the best engine's ratio is exactly 1, every median is positive
        let best = engines.iter().map(|e| e["ratio_to_best"].as_f64().unwrap());
        assert_eq!(best.fold(f64::INFINITY, f64::min), 1.0);
        assert!(engines
            .iter()
            .all(|e| e["median_seconds"].as_f64().unwrap() > 0.0));
    }
    // lastpoint: one row per host
    assert_eq!(tsbs[13]["engines"][0]["rows"], 5);

    let out = tsq(dir.path(), &["bench", "--format", "csv"], "");
    assert_eq!(out.code, 2);
    assert!(out
        .stderr
        .contains("tsq bench prints --format table or --format json"));
}

/// Runs `tsq query --data data --format csv` with `args` and
/// `TSQ_REPORT_PEAK_RSS=1`; returns the output and the peak RSS in bytes
/// the binary printed at exit.
fn query_with_peak_rss(cwd: &Path, args: &[&str]) -> (Output, u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_tsq"))
        .args(["query", "--data", "data", "--format", "csv"])
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("TSQ_REPORT_PEAK_RSS", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run tsq");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let kib: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("tsq peak RSS: "))
        .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS line in {stderr}"));
    let output = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr,
    };
    (output, kib * 1024)
}

/// `SAMPLE BY 1ns` with `fill` over ten years from 2024-01-01, `tail` after.
fn ten_years_at_1ns(fill: &str, tail: &str) -> String {
    format!(
        "SELECT sum(usage) AS s FROM m WHERE time >= '2024-01-01T00:00:00Z' \
         AND time < '2034-01-01T00:00:00Z' SAMPLE BY 1ns sum FILL({fill}) {tail}"
    )
}

#[test]
fn sample_by_1ns_over_ten_years_stays_within_the_memory_budget() {
    let (dir, _) = imported();
    let budget: u64 = 64 << 20;
    let ceiling = budget * 3 / 2 + (100 << 20);
    for fill in ["zero", "linear", "previous"] {
        for tail in ["LIMIT 5", "ORDER BY s DESC LIMIT 3"] {
            let q = ten_years_at_1ns(fill, tail);
            // refused before it runs by the bucket limit...
            let (out, rss) = query_with_peak_rss(dir.path(), &["--memory-budget", "64MiB", &q]);
            assert_eq!(out.code, 1, "{}", out.stderr);
            assert!(
                out.stderr.contains(
                    "would make 315619200000000000 buckets per timeline, more than the limit of 10000000"
                ),
                "{}",
                out.stderr
            );
            assert!(rss <= ceiling, "{q}: peak RSS {rss}");
            // ...and without it, stopped by the budget
            let args = [
                "--memory-budget",
                "64MiB",
                "--max-buckets",
                "1000000000000000000",
                &q,
            ];
            let (out, rss) = query_with_peak_rss(dir.path(), &args);
            assert_eq!(out.code, 1, "{}", out.stderr);
            assert!(
                out.stderr.contains("memory budget exceeded in")
                    && out.stderr.contains("query budget 67108864 bytes")
                    && out.stderr.contains("--memory-budget"),
                "{}",
                out.stderr
            );
            assert!(rss <= ceiling, "{q}: peak RSS {rss} over {ceiling}");
        }
    }
}

#[test]
fn a_query_that_fits_the_budget_gives_exact_rows() {
    let (dir, _) = imported();
    // 30,000 buckets of 1 ms over [0 s, 30 s), zero-filled; sums over the
    // hosts: 1 + 3 = 4 at 0 s, 2 + 5 = 7 at 10 s, 4 at 20 s, 0 elsewhere.
    // Top three by s, ties by time.
    let q = "SELECT sum(usage) AS s FROM m WHERE time >= '2024-01-01T00:00:00Z' \
             AND time < '2024-01-01T00:00:30Z' SAMPLE BY 1ms sum FILL(zero) \
             ORDER BY s DESC LIMIT 3";
    let (out, rss) = query_with_peak_rss(dir.path(), &["--memory-budget", "64MiB", q]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "time,s\n2024-01-01T00:00:10Z,7\n2024-01-01T00:00:00Z,4\n2024-01-01T00:00:20Z,4\n"
    );
    assert!(rss <= (64 << 20) * 3 / 2 + (100 << 20), "peak RSS {rss}");
}

#[test]
fn repl_set_changes_the_memory_budget_and_the_bucket_limit() {
    let (dir, _) = imported();
    let input = "\\set memory_budget 1MiB\n\\set max_buckets 20000\n\\set\n\\threads 3\n\
                 SELECT sum(usage) AS s FROM m WHERE time >= '2024-01-01T00:00:00Z' \
                 AND time < '2024-01-01T00:00:30Z' SAMPLE BY 1ms sum FILL(zero);\n";
    let args = ["--data", "data", "--format", "csv", "--threads", "2"];
    let out = tsq(dir.path(), &args, input);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "memory_budget is 1MiB (1048576 bytes); max_buckets is 10000000; threads is 2.\n\
         memory_budget is 1MiB (1048576 bytes); max_buckets is 20000; threads is 2.\n\
         memory_budget is 1MiB (1048576 bytes); max_buckets is 20000; threads is 2.\n\
         memory_budget is 1MiB (1048576 bytes); max_buckets is 20000; threads is 3.\n"
    );
    // 30,000 buckets of 1 ms in 30 s: over the limit of 20,000
    assert!(
        out.stderr
            .contains("would make 30000 buckets per timeline, more than the limit of 20000"),
        "{}",
        out.stderr
    );
}

#[test]
fn where_clauses_of_2500_and_100000_terms_run_on_the_runtime_workers() {
    let (dir, _) = imported();
    for n in [2_500, 100_000] {
        // `host = 'x0' OR ...` with `host = 'b'` among them; then
        // `host != 'x0' AND ...`, which every host passes
        let mut ors: Vec<String> = (0..n).map(|i| format!("host = 'x{i}'")).collect();
        ors[5] = "host = 'b'".into();
        let ands: Vec<String> = (0..n).map(|i| format!("host != 'x{i}'")).collect();
        let script = format!(
            "SELECT max(usage) FROM m WHERE {} SAMPLE BY ALL max;\n\
             SELECT max(usage) FROM m WHERE {} GROUP BY host SAMPLE BY ALL max;\n",
            ors.join(" OR "),
            ands.join(" AND ")
        );
        std::fs::write(dir.path().join("deep.sql"), script).unwrap();
        let out = tsq(
            dir.path(),
            &[
                "query", "--data", "data", "--format", "csv", "-f", "deep.sql",
            ],
            "",
        );
        assert_eq!(out.code, 0, "n={n}: {}", out.stderr);
        // b's max is 5; a's 4 (the bad line 4 was rejected), b's 5
        assert_eq!(
            out.stdout,
            "time,max(usage)\n2024-01-01T00:00:00Z,5\n\
             time,host,max(usage)\n2024-01-01T00:00:00Z,a,4\n2024-01-01T00:00:00Z,b,5\n",
            "n={n}"
        );
    }
}

#[test]
fn integers_print_exactly_in_csv_and_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let lp = "m,host=a i=9007199254740993i,u=18446744073709551615u 1000\n\
              m,host=b i=-9223372036854775808i,u=9007199254740993u 1000\n";
    std::fs::write(dir.path().join("ints.lp"), lp).unwrap();
    let out = tsq(dir.path(), &["import", "--data", "data", "ints.lp"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = |format: &str| {
        let args = [
            "query",
            "--data",
            "data",
            "--format",
            format,
            "SELECT i, u FROM m",
        ];
        let out = tsq(dir.path(), &args, "");
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    // Without the time column: host, i, u (f64 would print 9007199254740992
    // and 18446744073709552000).
    let csv: Vec<String> = run("csv")
        .lines()
        .map(|l| l.split_once(',').unwrap().1.to_string())
        .collect();
    assert_eq!(
        csv,
        [
            "host,i,u",
            "a,9007199254740993,18446744073709551615",
            "b,-9223372036854775808,9007199254740993"
        ]
    );
    let ndjson = run("ndjson");
    let first = ndjson.lines().next().unwrap();
    assert!(
        first.ends_with(r#""host":"a","i":9007199254740993,"u":18446744073709551615}"#),
        "{ndjson}"
    );
}
