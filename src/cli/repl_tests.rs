//! Tests of the REPL loop and the runner over a fake engine: statement
//! gathering, backslash commands, error rendering, `\d` and `\chart`.

use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, Float64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use tsq_engine::spec::AggStrategy;
use tsq_engine::{
    CancellationToken, Capabilities, EngineError, ScanRequest, SeriesScan, StorageAdapter,
};
use tsq_planner::Executor;

use crate::cli::backend::{CliError, OutputKind, QueryEngine, QueryResult, Result, Streamed};
use crate::cli::repl::{run_repl, ReaderSource};
use crate::cli::runner::Runner;

/// A catalog of one measurement `m` (tags host with values a, b; fields u, v;
/// 4 series) whose scans fail: only the catalog methods are used here.
#[derive(Debug)]
struct FakeCatalog;

#[async_trait]
impl StorageAdapter for FakeCatalog {
    fn name(&self) -> &str {
        "fake"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    async fn scan(&self, _: &ScanRequest) -> tsq_engine::Result<Box<dyn SeriesScan>> {
        Err(EngineError::Storage(
            "the fake catalog holds no data".into(),
        ))
    }
    async fn time_span(&self, _: &ScanRequest) -> tsq_engine::Result<Option<(i64, i64)>> {
        Ok(None)
    }
    async fn measurements(&self) -> tsq_engine::Result<Vec<String>> {
        Ok(vec!["m".into()])
    }
    async fn fields(&self, m: &str) -> tsq_engine::Result<Vec<String>> {
        Ok(if m == "m" {
            vec!["u".into(), "v".into()]
        } else {
            vec![]
        })
    }
    async fn tag_keys(&self, _: &str) -> tsq_engine::Result<Vec<String>> {
        Ok(vec!["host".into()])
    }
    async fn tag_values(&self, _: &str, _: &str) -> tsq_engine::Result<Vec<String>> {
        Ok(vec!["a".into(), "b".into()])
    }
    async fn series_count(&self, _: &str) -> tsq_engine::Result<usize> {
        Ok(4)
    }
}

/// Answers `rows` with two rows, `explain` with plan text, anything else
/// with a plan error at 1:3; records the statements it saw.
#[derive(Default)]
struct FakeEngine {
    seen: Mutex<Vec<String>>,
    strategy: Mutex<Option<AggStrategy>>,
    executor: Mutex<Executor>,
}

fn two_rows() -> OutputKind {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some(tsq_planner::TIME_ZONE.into())),
            false,
        ),
        Field::new("host", DataType::Utf8, false),
        Field::new("avg(u)", DataType::Float64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampNanosecondArray::from(vec![0, 10_000_000_000])
                .with_timezone(tsq_planner::TIME_ZONE),
        ),
        Arc::new(StringArray::from(vec!["a", "a"])),
        Arc::new(Float64Array::from(vec![1.0, 3.0])),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    OutputKind::Rows {
        schema,
        batches: vec![batch],
    }
}

#[async_trait]
impl QueryEngine for FakeEngine {
    async fn execute(&self, sql: &str) -> Result<QueryResult> {
        self.seen.lock().unwrap().push(sql.to_string());
        let kind = match sql {
            "rows" => two_rows(),
            "explain" => OutputKind::Explain("PipeAggOp: agg=avg".into()),
            _ => {
                return Err(CliError::Query {
                    kind: "plan".into(),
                    line: 1,
                    column: 3,
                    message: "nope".into(),
                })
            }
        };
        Ok(QueryResult {
            kind,
            notices: vec![],
        })
    }
    async fn stream(&self, sql: &str) -> Result<(Streamed, Vec<String>)> {
        if sql != "half" {
            let result = self.execute(sql).await?;
            let streamed = match result.kind {
                OutputKind::Rows { schema, batches } => Streamed::Rows {
                    schema,
                    batches: Box::pin(futures::stream::iter(batches.into_iter().map(Ok))),
                },
                OutputKind::Explain(text) => Streamed::Explain(text),
            };
            return Ok((streamed, result.notices));
        }
        // two rows, then the query fails: what came first is printed
        self.seen.lock().unwrap().push(sql.to_string());
        let OutputKind::Rows { schema, batches } = two_rows() else {
            unreachable!()
        };
        let items = vec![
            Ok(batches[0].clone()),
            Err(CliError::Execution("the disk is on fire".into())),
        ];
        let batches = Box::pin(futures::stream::iter(items));
        Ok((Streamed::Rows { schema, batches }, vec!["a notice".into()]))
    }
    fn cancel_token(&self) -> CancellationToken {
        CancellationToken::new()
    }
    fn catalog(&self) -> Arc<dyn StorageAdapter> {
        Arc::new(FakeCatalog)
    }
    fn set_strategy(&self, strategy: Option<AggStrategy>) {
        *self.strategy.lock().unwrap() = strategy;
    }
    fn strategy(&self) -> Option<AggStrategy> {
        *self.strategy.lock().unwrap()
    }
    fn set_executor(&self, executor: Executor) {
        *self.executor.lock().unwrap() = executor;
    }
    fn executor(&self) -> Executor {
        *self.executor.lock().unwrap()
    }
}

/// Runs `input` through the REPL; returns (ok, stdout, stderr, statements).
fn drive(input: &str) -> (bool, String, String, Vec<String>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let engine = Arc::new(FakeEngine::default());
    let mut runner = Runner::new(
        Arc::clone(&engine) as Arc<dyn QueryEngine>,
        runtime.handle().clone(),
    );
    runner.source_name = "stdin".into();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let ok = run_repl(
        &mut runner,
        &mut ReaderSource(input.as_bytes()),
        &mut out,
        &mut err,
    );
    let seen = engine.seen.lock().unwrap().clone();
    (
        ok,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        seen,
    )
}

#[test]
fn statements_span_lines_until_a_semicolon() {
    let (ok, out, err, seen) = drive("\\format csv\nro\nws\n; explain;\nrows");
    // "ro\nws" is not `rows`: it fails, but the loop goes on; the last
    // statement has no `;` and still runs at end of input.
    assert!(!ok);
    assert_eq!(seen, ["ro\nws", "explain", "rows"]);
    let csv = "time,host,avg(u)\n1970-01-01T00:00:00Z,a,1\n1970-01-01T00:00:10Z,a,3\n";
    assert_eq!(
        out,
        format!("Output format is csv.\nPipeAggOp: agg=avg\n{csv}")
    );
    assert_eq!(
        err,
        "error: plan error: nope\n --> stdin:1:3\n  |\n1 | ro\n  |   ^\n"
    );
}

#[test]
fn rows_are_printed_as_they_arrive() {
    // the rows of the first batch are out before the query fails
    let (ok, out, err, seen) = drive("\\format csv\nhalf;\n\\format ndjson\nhalf;");
    assert!(!ok);
    assert_eq!(seen, ["half", "half"]);
    let csv = "time,host,avg(u)\n1970-01-01T00:00:00Z,a,1\n1970-01-01T00:00:10Z,a,3\n";
    let ndjson = "{\"time\":\"1970-01-01T00:00:00Z\",\"host\":\"a\",\"avg(u)\":1}\n\
                  {\"time\":\"1970-01-01T00:00:10Z\",\"host\":\"a\",\"avg(u)\":3}\n";
    assert_eq!(
        out,
        format!("Output format is csv.\n{csv}Output format is ndjson.\n{ndjson}")
    );
    let failed = "notice: a notice\nerror: the disk is on fire\n";
    assert_eq!(err, format!("{failed}{failed}"));
}

#[test]
fn errors_point_at_the_statement_in_the_input() {
    // One input of three lines; the second statement starts at line 2,
    // column 4; the error is at its 1:3, which is column 6 of input line 2.
    let (ok, _, err, _) = drive("rows\n;  bad\n one;\n");
    assert!(!ok);
    let expected = "error: plan error: nope\n --> stdin:2:6\n  |\n2 | ;  bad\n  |      ^\n";
    assert_eq!(err, expected);
}

#[test]
fn commands_describe_chart_and_quit() {
    let input =
        "\\d\n\\d m\n\\d nothing\nrows;\n\\chart\n\\strategy grouped\n\\executor materialized\n\\executor\n\\timing on\n\\q\nrows;\n";
    let (ok, out, err, seen) = drive(input);
    assert!(!ok, "the failed \\d counts as an error");
    assert_eq!(seen, ["rows"], "nothing runs after \\q");
    assert_eq!(
        err,
        "error: no measurement 'nothing' (\\d lists the measurements)\n"
    );
    let describe = concat!(
        " measurement | series\n",
        "-------------+--------\n",
        " m           |      4\n",
        "(1 row)\n",
        "measurement m: 4 series\n",
        " tag  | values\n",
        "------+--------\n",
        " host |      2\n",
        "(1 row)\n",
        " field | type\n",
        "-------+-------\n",
        " u     | float\n",
        " v     | float\n",
        "(2 rows)\n",
    );
    assert!(out.starts_with(describe), "{out}");
    assert!(out.contains("── host=a\n"), "{out}");
    assert!(
        out.ends_with(concat!(
            "Aggregation strategy is GroupedAggOp.\n",
            "Executor is materialized (whole timelines in memory).\n",
            "Executor is materialized (whole timelines in memory).\n",
            "Timing is on.\n"
        )),
        "{out}"
    );
}

#[test]
fn chart_needs_a_result() {
    let (_, out, err, _) = drive("\\chart\n\\bogus\n");
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: \\chart draws the last result: run a query first\n\
         error: unknown command '\\bogus' (\\help lists the commands)\n"
    );
}
