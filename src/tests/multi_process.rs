//! Several `tsq` processes on one data directory (docs/storage.md,
//! "Multi-process rules"): a second writer fails at once naming the first
//! one's pid, a reader during a write gets the in-use error, and readers
//! between writes see exactly the batches acknowledged so far.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Points per imported batch.
const BATCH: usize = 200;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn spawn(cwd: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tsq"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tsq")
}

fn finish(child: Child) -> Output {
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn tsq(cwd: &Path, args: &[&str]) -> Output {
    let mut child = spawn(cwd, args);
    drop(child.stdin.take());
    finish(child)
}

/// Batch `k`: BATCH points of one series at t = k·BATCH + i ns, value t.
fn batch(k: usize) -> String {
    (k * BATCH..(k + 1) * BATCH)
        .map(|t| format!("m,host=a v={t} {t}\n"))
        .collect()
}

/// Points and sum of values in the store (one process, so one snapshot),
/// or the failed query's output.
fn count_and_sum(cwd: &Path) -> Result<(usize, u64), Output> {
    let script = cwd.join("count_and_sum.sql");
    std::fs::write(
        &script,
        "SELECT sum(v) FROM m SAMPLE BY ALL count;\nSELECT sum(v) FROM m SAMPLE BY ALL sum;\n",
    )
    .unwrap();
    let script = script.to_str().unwrap();
    let out = tsq(
        cwd,
        &["query", "--data", "data", "--format", "csv", "-f", script],
    );
    if out.code != 0 {
        return Err(out);
    }
    // Two tables `time,sum(v)` of one row each: the count, then the sum.
    let values: Vec<f64> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("time,"))
        .map(|row| row.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values.len(), 2, "{}", out.stdout);
    Ok((values[0] as usize, values[1] as u64))
}

/// Sum of the values of batches `0..k` (value = timestamp 0..k·BATCH).
fn sum_of_batches(k: usize) -> u64 {
    let n = (k * BATCH) as u64;
    n * n.saturating_sub(1) / 2
}

/// Waits (at most 20 s) until the lock file names `pid`.
fn wait_for_lock(dir: &Path, pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = format!("pid {pid}\n");
    while !std::fs::read_to_string(dir.join("data/LOCK")).is_ok_and(|t| t.starts_with(&want)) {
        assert!(
            Instant::now() < deadline,
            "writer {pid} never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_writer_and_a_reader_fail_at_once_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("two.lp"), batch(1)).unwrap();
    // The first writer imports stdin: it holds the store until stdin closes.
    let mut first = spawn(cwd, &["import", "--data", "data", "-"]);
    let pid = first.id();
    wait_for_lock(cwd, pid);

    let started = Instant::now();
    let second = tsq(cwd, &["import", "--data", "data", "two.lp"]);
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert_eq!(
        second.stderr,
        format!(
            "error: store data is in use by pid {pid} (tsq import --data data -); \
             only one process may write to a store at a time\n"
        )
    );
    assert_eq!(second.stdout, "");
    let reader = tsq(
        cwd,
        &[
            "query",
            "--data",
            "data",
            "SELECT sum(v) FROM m SAMPLE BY ALL count",
        ],
    );
    assert_eq!(reader.code, 1);
    assert_eq!(
        reader.stderr,
        format!(
            "error: store data is in use by a writer, pid {pid} (tsq import --data data -); \
             open it again once that process has finished\n"
        )
    );
    // "At once": both refusals, process start included, well under the
    // time the first writer keeps the lock.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let mut stdin = first.stdin.take().unwrap();
    stdin.write_all(batch(0).as_bytes()).unwrap();
    drop(stdin);
    let first = finish(first);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stdout.starts_with(&format!(
            "imported {BATCH} points (1 new series) from 1 file"
        )),
        "{}",
        first.stdout
    );
    // Every point of the first writer, none of the refused one.
    assert_eq!(count_and_sum(cwd).ok().unwrap(), (BATCH, sum_of_batches(1)));
    // The refused writer can run now.
    assert_eq!(tsq(cwd, &["import", "--data", "data", "two.lp"]).code, 0);
    assert_eq!(
        count_and_sum(cwd).ok().unwrap(),
        (2 * BATCH, sum_of_batches(2))
    );
}

#[test]
fn readers_during_writes_see_an_acknowledged_prefix_or_the_in_use_error() {
    const BATCHES: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    for k in 0..BATCHES {
        std::fs::write(cwd.join(format!("{k}.lp")), batch(k)).unwrap();
    }
    assert_eq!(tsq(&cwd, &["import", "--data", "data", "0.lp"]).code, 0);
    // Batches whose import exited 0, and batches whose import has started
    // (its points may be visible before the thread sees the exit).
    let acked = Arc::new(AtomicUsize::new(1));
    let started = Arc::new(AtomicUsize::new(1));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (cwd, acked, started, done) = (
            cwd.clone(),
            Arc::clone(&acked),
            Arc::clone(&started),
            Arc::clone(&done),
        );
        std::thread::spawn(move || {
            for k in 1..BATCHES {
                started.store(k + 1, Ordering::SeqCst);
                let file = format!("{k}.lp");
                let out = tsq(&cwd, &["import", "--data", "data", &file]);
                assert_eq!(out.code, 0, "import {k}: {}", out.stderr);
                acked.store(k + 1, Ordering::SeqCst);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let (mut prefixes, mut refused) = (0, 0);
    while !done.load(Ordering::SeqCst) {
        let before = acked.load(Ordering::SeqCst);
        let result = count_and_sum(&cwd);
        let after = started.load(Ordering::SeqCst);
        match result {
            Ok((n, sum)) => {
                // Whole batches only, at least those acknowledged before the
                // reader started, at most those started before it ended; the
                // sum pins which.
                assert_eq!(n % BATCH, 0, "{n} points is not a prefix of batches");
                let k = n / BATCH;
                assert!(
                    (before..=after).contains(&k),
                    "{k} batches, not in {before}..={after}"
                );
                assert_eq!(sum, sum_of_batches(k));
                prefixes += 1;
            }
            Err(out) => {
                assert_eq!(out.code, 1);
                assert!(
                    out.stderr
                        .starts_with("error: store data is in use by a writer, pid "),
                    "{}",
                    out.stderr
                );
                refused += 1;
            }
        }
    }
    writer.join().unwrap();
    eprintln!("readers: {prefixes} saw a prefix, {refused} were refused");
    // The writers lost nothing.
    assert_eq!(
        count_and_sum(&cwd).ok().unwrap(),
        (BATCHES * BATCH, sum_of_batches(BATCHES))
    );
}
