//! Tests of [`MergeJoin`]'s column-wise runs: hand-made pipeline outputs
//! (`ValuesOp`s over registries of hosts h0..h3) joined with the rows
//! worked out by hand, and the column-wise path against the row loop
//! (`column_runs` off) on seeded random outputs: the same rows in the same
//! batches.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use arrow::record_batch::RecordBatch;
use tsq_engine::memory::MemoryPool;
use tsq_engine::ops::values::ValuesOp;
use tsq_engine::{CancellationToken, SeriesInfo, SeriesRegistry, TaskContext, TimelineBatch};
use tsq_storage::memory::MemoryAdapter;

use super::*;
use crate::{parse_statement, Session, SessionConfig};

/// One point of a pipeline's output: (host index, time, value).
type Point = (u32, i64, Option<f64>);

/// The output of one pipeline: its batches, each a list of points in
/// (host, time) order.
type Output = Vec<Vec<Point>>;

const HOSTS: u32 = 4;

/// The plan of `sql` over measurement `m` (hosts h0..h3, fields a, b, c).
fn plan(sql: &str) -> LogicalPlan {
    let store = MemoryAdapter::new();
    for h in 0..HOSTS {
        for field in ["a", "b", "c"] {
            store.insert("m", &[("host", &format!("h{h}"))], field, &[(0, 1.0)]);
        }
    }
    let session = Session::new(Arc::new(store), SessionConfig::new());
    let statement = parse_statement(sql).unwrap();
    futures::executor::block_on(session.plan(&statement))
        .unwrap()
        .0
}

/// The pipeline of output `column`: `output`'s batches over a registry of
/// its own (series `h` is host `h`).
fn pipeline(column: usize, field: &str, output: &Output) -> Pipeline {
    let registry = Arc::new(SeriesRegistry::new(
        (0..HOSTS)
            .map(|h| SeriesInfo::new("m", &[("host", &format!("h{h}"))], field))
            .collect(),
    ));
    let batches = output
        .iter()
        .map(|points| {
            let ids = points.iter().map(|p| p.0).collect();
            let times = points.iter().map(|p| p.1).collect();
            let values = points.iter().map(|p| p.2.unwrap_or(0.0)).collect();
            let nulls = NullBuffer::from(points.iter().map(|p| p.2.is_some()).collect::<Vec<_>>());
            TimelineBatch::from_columns(ids, times, values, Some(nulls), Arc::clone(&registry))
                .unwrap()
        })
        .collect();
    (column, Box::new(ValuesOp::new(batches)))
}

/// What a join gave: its rows as `time|host|xa|xb|xc` lines, its batch
/// sizes, and the keys it built.
#[derive(Debug, PartialEq)]
struct Joined {
    lines: Vec<String>,
    sizes: Vec<usize>,
    keys_built: usize,
}

/// The join of `outputs` (of columns xa, xb, xc) under `sql`'s plan.
fn join(sql: &str, outputs: &[Output], batch_size: usize, column_runs: bool) -> Result<Joined> {
    let plan = plan(sql);
    let pipelines = outputs
        .iter()
        .zip(["a", "b", "c"])
        .enumerate()
        .map(|(c, (o, field))| pipeline(c, field, o))
        .collect();
    let ctx = TaskContext {
        batch_size,
        memory: MemoryPool::new(usize::MAX),
        cancel: CancellationToken::new(),
        spawner: None,
    };
    let options = JoinOptions {
        threads: 1,
        dictionary_tags: false,
    };
    let mut join = MergeJoin::new(&plan, pipelines, &ctx, options)?;
    join.column_runs = column_runs;
    let mut batches = Vec::new();
    let result = futures::executor::block_on(async {
        while let Some(b) = join.next().await? {
            batches.push(b);
        }
        Ok::<(), crate::TsqError>(())
    });
    futures::executor::block_on(join.close());
    let keys_built = join.keys.built();
    drop(join);
    assert_eq!(ctx.memory.used(), 0, "everything released");
    result?;
    Ok(Joined {
        lines: batches.iter().flat_map(lines).collect(),
        sizes: batches.iter().map(RecordBatch::num_rows).collect(),
        keys_built,
    })
}

/// `time|host|values...` per row, `null` for a null cell.
fn lines(batch: &RecordBatch) -> Vec<String> {
    let times = batch.column(0).as_primitive::<TimestampNanosecondType>();
    let hosts = batch.column(1).as_string::<i32>();
    (0..batch.num_rows())
        .map(|r| {
            let mut line = format!("{}|{}", times.value(r), hosts.value(r));
            for c in 2..batch.num_columns() {
                let v = batch.column(c).as_primitive::<Float64Type>();
                if v.is_valid(r) {
                    line.push_str(&format!("|{}", v.value(r)));
                } else {
                    line.push_str("|null");
                }
            }
            line
        })
        .collect()
}

const SELECT: &str = "SELECT max(a) AS xa, max(b) AS xb, max(c) AS xc FROM m \
    GROUP BY host SAMPLE BY 10s";

/// Three columns with the same runs: h0 and h1 at 0 and 10.
fn aligned() -> Vec<Output> {
    let column = |base: f64| {
        vec![vec![
            (0, 0, Some(base)),
            (0, 10, Some(base + 1.0)),
            (1, 0, Some(base + 2.0)),
            (1, 10, Some(base + 3.0)),
        ]]
    };
    vec![column(1.0), column(5.0), column(9.0)]
}

/// a: h0 split over two batches, then h1; b: no h1, a null at h0 10, an
/// h2 of its own; c: h0 at 15 where the others are at 10.
fn ragged() -> Vec<Output> {
    let a = vec![
        vec![(0, 0, Some(1.0)), (0, 10, Some(2.0))],
        vec![(0, 20, Some(3.0)), (1, 0, Some(4.0))],
    ];
    let b = vec![vec![
        (0, 0, Some(5.0)),
        (0, 10, None),
        (0, 20, Some(7.0)),
        (2, 0, Some(8.0)),
    ]];
    let c = vec![vec![
        (0, 0, Some(9.0)),
        (0, 15, Some(10.0)),
        (0, 20, Some(11.0)),
        (1, 0, Some(12.0)),
    ]];
    vec![a, b, c]
}

/// `sql`'s join of `outputs` at batch sizes 1, 2, 3 and 4096: the same
/// rows at each, in batches of the size asked for, and the same as the
/// row loop's; the rows and the keys built at 4096.
fn rows_at_every_batch_size(sql: &str, outputs: &[Output]) -> (Vec<String>, usize) {
    let whole = join(sql, outputs, 4096, true).unwrap();
    for batch_size in [1, 2, 3, 4096] {
        let fast = join(sql, outputs, batch_size, true).unwrap();
        let rows = join(sql, outputs, batch_size, false).unwrap();
        assert_eq!(fast.lines, rows.lines, "{sql}, batch {batch_size}");
        assert_eq!(fast.sizes, rows.sizes, "{sql}, batch {batch_size}");
        assert_eq!(fast.lines, whole.lines, "{sql}, batch {batch_size}");
        let n = fast.lines.len();
        let want: Vec<usize> = (0..n.div_ceil(batch_size))
            .map(|i| batch_size.min(n - i * batch_size))
            .collect();
        assert_eq!(fast.sizes, want, "{sql}, batch {batch_size}");
    }
    (whole.lines, whole.keys_built)
}

#[test]
fn aligned_runs_join_column_by_column_with_one_key_per_group() {
    let (lines, keys_built) = rows_at_every_batch_size(SELECT, &aligned());
    assert_eq!(
        lines,
        ["0|h0|1|5|9", "10|h0|2|6|10", "0|h1|3|7|11", "10|h1|4|8|12"]
    );
    // two groups, three inputs: each key built once
    assert_eq!(keys_built, 2);
}

#[test]
fn missing_groups_other_times_nulls_and_split_runs_join_as_rows_do() {
    let (lines, _) = rows_at_every_batch_size(SELECT, &ragged());
    assert_eq!(
        lines,
        [
            "0|h0|1|5|9",
            "10|h0|2|null|null",
            "15|h0|null|null|10",
            "20|h0|3|7|11",
            "0|h1|4|null|12",
            "0|h2|null|8|null",
        ]
    );
}

#[test]
fn one_input_copies_its_runs() {
    let a = vec![
        vec![(0, 0, Some(1.0)), (0, 10, None), (1, 0, Some(3.0))],
        vec![(1, 10, Some(4.0)), (3, 0, Some(5.0))],
    ];
    let sql = "SELECT max(a) AS xa FROM m GROUP BY host SAMPLE BY 10s";
    let (lines, keys_built) = rows_at_every_batch_size(sql, &[a]);
    assert_eq!(
        lines,
        ["0|h0|1", "10|h0|null", "0|h1|3", "10|h1|4", "0|h3|5"]
    );
    assert_eq!(keys_built, 3);
}

#[test]
fn one_input_takes_the_following_runs_of_a_batch_at_once() {
    let a = vec![
        vec![
            (0, 0, Some(1.0)),
            (1, 0, Some(2.0)),
            (1, 10, None),
            (2, 0, Some(3.0)),
            (3, 0, Some(4.0)),
        ],
        vec![(3, 10, Some(5.0))],
    ];
    let sql = "SELECT max(a) AS xa FROM m GROUP BY host SAMPLE BY 10s";
    let (lines, keys_built) = rows_at_every_batch_size(sql, std::slice::from_ref(&a));
    assert_eq!(
        lines,
        [
            "0|h0|1",
            "0|h1|2",
            "10|h1|null",
            "0|h2|3",
            "0|h3|4",
            "10|h3|5"
        ]
    );
    // the first run's key, then h1..h3 at once (the last one's key kept
    // for the order check), then h3 again: two keys, not four
    assert_eq!(keys_built, 2);
    for limit in 0..=6 {
        let (lines, _) =
            rows_at_every_batch_size(&format!("{sql} LIMIT {limit}"), std::slice::from_ref(&a));
        assert_eq!(lines.len(), limit, "LIMIT {limit}");
    }
}

#[test]
fn a_limit_stops_in_the_middle_of_a_run() {
    let (lines, _) = rows_at_every_batch_size(&format!("{SELECT} LIMIT 3"), &aligned());
    assert_eq!(lines, ["0|h0|1|5|9", "10|h0|2|6|10", "0|h1|3|7|11"]);
    let (lines, _) = rows_at_every_batch_size(&format!("{SELECT} LIMIT 1"), &ragged());
    assert_eq!(lines, ["0|h0|1|5|9"]);
    let (lines, _) = rows_at_every_batch_size(&format!("{SELECT} LIMIT 0"), &aligned());
    assert!(lines.is_empty());
}

#[test]
fn order_by_takes_the_rows_of_aligned_runs() {
    let sql = format!("{SELECT} ORDER BY xc DESC LIMIT 3");
    let (lines, _) = rows_at_every_batch_size(&sql, &aligned());
    assert_eq!(lines, ["10|h1|4|8|12", "0|h1|3|7|11", "10|h0|2|6|10"]);
}

#[test]
fn a_pipeline_out_of_group_time_order_fails_the_query() {
    for a in [
        // h1 before h0 in one batch
        vec![vec![(1, 0, Some(1.0)), (0, 0, Some(2.0))]],
        // h0 going back in time in the next batch
        vec![vec![(0, 10, Some(1.0))], vec![(0, 0, Some(2.0))]],
    ] {
        let outputs = [a, aligned()[1].clone()];
        let two = "SELECT max(a) AS xa, max(b) AS xb FROM m GROUP BY host SAMPLE BY 10s";
        let one = "SELECT max(a) AS xa FROM m GROUP BY host SAMPLE BY 10s";
        for (sql, outputs) in [(two, &outputs[..]), (one, &outputs[..1])] {
            for column_runs in [true, false] {
                let err = join(sql, outputs, 4096, column_runs).unwrap_err();
                let message = err.to_string();
                assert!(
                    message.contains(
                        "the pipeline of 'xa' did not emit its rows ordered by (group, time)"
                    ),
                    "{message}"
                );
            }
        }
    }
    // one input: a run out of order after runs taken at once
    let a = vec![vec![
        (0, 0, Some(1.0)),
        (1, 0, Some(2.0)),
        (3, 0, Some(3.0)),
        (2, 0, Some(4.0)),
    ]];
    let one = "SELECT max(a) AS xa FROM m GROUP BY host SAMPLE BY 10s";
    let err = join(one, &[a], 4096, true).unwrap_err();
    assert!(
        err.to_string().contains("ordered by (group, time)"),
        "{err}"
    );
}

/// A small linear congruential generator (seeded, reproducible).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Three columns over hosts h0..h3 and times 0, 10, ..., 70: mostly the
/// same times per host in every column, now and then a column without a
/// host, a time of its own or a missing time, some nulls, and batches cut
/// at random points (runs split across batches).
fn random_outputs(rng: &mut Lcg) -> Vec<Output> {
    let base: Vec<Vec<i64>> = (0..HOSTS)
        .map(|_| {
            (0..8)
                .filter(|_| rng.next(4) != 0)
                .map(|t| t * 10)
                .collect()
        })
        .collect();
    (0..3)
        .map(|_| {
            let mut points: Vec<Point> = Vec::new();
            for (h, times) in base.iter().enumerate() {
                if rng.next(6) == 0 {
                    continue;
                }
                let odd = rng.next(4) == 0;
                for &t in times {
                    let t = if odd && rng.next(3) == 0 { t + 5 } else { t };
                    if odd && rng.next(4) == 0 {
                        continue;
                    }
                    let v = (rng.next(8) != 0).then(|| rng.next(100) as f64);
                    points.push((h as u32, t, v));
                }
            }
            let mut batches = Vec::new();
            let mut rest = &points[..];
            while !rest.is_empty() {
                let n = (1 + rng.next(12) as usize).min(rest.len());
                batches.push(rest[..n].to_vec());
                rest = &rest[n..];
            }
            batches
        })
        .collect()
}

#[test]
fn column_runs_give_the_rows_of_the_row_loop_on_random_outputs() {
    let queries = [
        SELECT.to_string(),
        format!("{SELECT} LIMIT 7"),
        format!("{SELECT} ORDER BY xb DESC LIMIT 5"),
    ];
    // one input: the runs that follow in a batch go out at once
    let one = "SELECT max(a) AS xa FROM m GROUP BY host SAMPLE BY 10s";
    let singles = [one.to_string(), format!("{one} LIMIT 7")];
    let mut aligned_groups = 0;
    for seed in 1..=60u64 {
        let outputs = random_outputs(&mut Lcg(seed));
        for sql in &queries {
            for batch_size in [1, 5, 4096] {
                let fast = join(sql, &outputs, batch_size, true).unwrap();
                let rows = join(sql, &outputs, batch_size, false).unwrap();
                assert_eq!(fast, rows, "seed {seed}, {sql}, batch {batch_size}");
            }
        }
        for sql in &singles {
            for batch_size in [1, 5, 4096] {
                let fast = join(sql, &outputs[..1], batch_size, true).unwrap();
                let rows = join(sql, &outputs[..1], batch_size, false).unwrap();
                assert_eq!(
                    fast.lines, rows.lines,
                    "seed {seed}, {sql}, batch {batch_size}"
                );
                assert_eq!(
                    fast.sizes, rows.sizes,
                    "seed {seed}, {sql}, batch {batch_size}"
                );
            }
        }
        aligned_groups += join(SELECT, &outputs, 4096, true).unwrap().keys_built;
    }
    // the seeds do reach groups (every key built once)
    assert!(aligned_groups > 100, "{aligned_groups}");
}
