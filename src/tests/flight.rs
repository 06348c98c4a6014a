//! The Arrow Flight SQL server end to end (`docs/server.md`): `serve` runs
//! in-process on 127.0.0.1:0 over a TSM store in a temp dir, and arrow-flight's
//! own `FlightSqlServiceClient` talks to it. A wrong or missing token gets
//! `Unauthenticated` and no data; statement and prepared statement results
//! equal `Session::sql(..).collect()` on the same database (the TSBS
//! queries, and a small case checked by hand); `GetTables` lists each
//! measurement with its columns; the concurrency limit refuses a query that
//! waited too long, and a dropped result stream frees its slot.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, BinaryArray, Float64Array, StringArray, TimestampNanosecondArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow_flight::error::FlightError as ClientError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::CommandGetTables;
use arrow_flight::{FlightInfo, Ticket};
use futures::TryStreamExt;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::Code;
use tsq::demo::{DemoConfig, DemoGenerator};
use tsq::server::auth::Token;
use tsq::server::flight::{serve, FlightState};
use tsq::server::Limits;
use tsq::Database;

const TOKEN: &str = "s3cret-token";

/// Two hosts, two fields, three timestamps a minute apart, and a second
/// measurement.
const LP: &str = "\
cpu,host=a usage_user=1,usage_system=10 0
cpu,host=b usage_user=5,usage_system=50 0
cpu,host=a usage_user=3,usage_system=30 60000000000
cpu,host=b usage_user=2,usage_system=20 60000000000
cpu,host=a usage_user=7,usage_system=70 120000000000
mem,host=a used=100 0
";

/// A running server; dropping it stops the server.
struct Server {
    addr: SocketAddr,
    db: Arc<Database>,
    _stop: oneshot::Sender<()>,
}

async fn start(db: Database, token: Option<&str>, limits: Limits) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let db = Arc::new(db);
    let state = FlightState {
        db: Arc::clone(&db),
        token: token.map(|t| Token::new(t).unwrap()),
        limits,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        db,
        _stop: stop,
    }
}

async fn store_with(lp: &str) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).await.unwrap();
    let report = db.write_lp(lp).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    (dir, db)
}

async fn client(server: &Server, token: Option<&str>) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(channel);
    if let Some(t) = token {
        client.set_token(t.to_string());
    }
    client
}

fn code(e: &ClientError) -> Code {
    match e {
        ClientError::Tonic(status) => status.code(),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

fn message(e: &ClientError) -> String {
    match e {
        ClientError::Tonic(status) => status.message().to_string(),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

fn ticket(info: &FlightInfo) -> Ticket {
    assert_eq!(info.endpoint.len(), 1);
    info.endpoint[0].ticket.clone().unwrap()
}

/// Every batch of `info`'s one endpoint, concatenated.
async fn fetch(
    client: &mut FlightSqlServiceClient<Channel>,
    info: &FlightInfo,
) -> Result<RecordBatch, ClientError> {
    let stream = client.do_get(ticket(info)).await?;
    let batches: Vec<RecordBatch> = stream.try_collect().await?;
    let schema: SchemaRef = Arc::new(info.clone().try_decode_schema().unwrap());
    Ok(concat_batches(&schema, &batches).unwrap())
}

async fn in_process(db: &Database, sql: &str) -> RecordBatch {
    let query = db.session().sql(sql).await.unwrap();
    let schema = query.schema();
    concat_batches(&schema, &query.collect().await.unwrap()).unwrap()
}

fn f64s(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let c = batch.column_by_name(column).unwrap();
    let c = c.as_any().downcast_ref::<Float64Array>().unwrap();
    (0..c.len())
        .map(|i| c.is_valid(i).then(|| c.value(i)))
        .collect()
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<String> {
    let c = batch.column_by_name(column).unwrap();
    let c = c.as_any().downcast_ref::<StringArray>().unwrap();
    (0..c.len()).map(|i| c.value(i).to_string()).collect()
}

#[tokio::test]
async fn missing_or_wrong_token_gets_unauthenticated_and_no_data() {
    let (_dir, db) = store_with(LP).await;
    let server = start(db, Some(TOKEN), Limits::default()).await;
    let sql = "SELECT max(usage_user) FROM cpu";

    for token in [None, Some("wrong")] {
        let mut c = client(&server, token).await;
        let err = c.execute(sql.into(), None).await.unwrap_err();
        assert_eq!(code(&err), Code::Unauthenticated, "{token:?}");
        assert!(message(&err).starts_with("missing or wrong token"), "{err}");
        let err = c.get_catalogs().await.unwrap_err();
        assert_eq!(code(&err), Code::Unauthenticated);
        assert!(c.handshake("user", "wrong").await.is_err());
    }

    // A ticket obtained with the token is no use without it.
    let mut good = client(&server, Some(TOKEN)).await;
    let info = good.execute(sql.into(), None).await.unwrap();
    let mut bad = client(&server, None).await;
    let err = match bad.do_get(ticket(&info)).await {
        Ok(stream) => stream.try_collect::<Vec<_>>().await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(code(&err), Code::Unauthenticated);

    // The handshake with the token as Basic password hands back a bearer
    // token that then works.
    let mut c = client(&server, None).await;
    let payload = c.handshake("anyone", TOKEN).await.unwrap();
    assert_eq!(&payload[..], TOKEN.as_bytes());
    assert_eq!(c.token().map(String::as_str), Some(TOKEN));
    let info = c.execute(sql.into(), None).await.unwrap();
    // max over hosts per timestamp: t=0 max(1,5), 60 s max(3,2), 120 s 7
    let batch = fetch(&mut c, &info).await.unwrap();
    assert_eq!(
        f64s(&batch, "max(usage_user)"),
        [Some(5.0), Some(3.0), Some(7.0)]
    );
}

#[tokio::test]
async fn statement_results_equal_the_in_process_ones() {
    let (_dir, db) = store_with(LP).await;
    let server = start(db, Some(TOKEN), Limits::default()).await;
    let mut c = client(&server, Some(TOKEN)).await;

    // Worked out by hand: per host, the max per 2-minute bucket.
    let sql = "SELECT max(usage_user), max(usage_system) FROM cpu GROUP BY host SAMPLE BY 2m max";
    let info = c.execute(sql.into(), None).await.unwrap();
    let batch = fetch(&mut c, &info).await.unwrap();
    assert_eq!(strings(&batch, "host"), ["a", "a", "b"]);
    assert_eq!(
        f64s(&batch, "max(usage_user)"),
        [Some(3.0), Some(7.0), Some(5.0)]
    );
    assert_eq!(
        f64s(&batch, "max(usage_system)"),
        [Some(30.0), Some(70.0), Some(50.0)]
    );
    let time = batch.column(0);
    let time = time
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .unwrap();
    assert_eq!(time.values().to_vec(), [0, 120_000_000_000, 0]);
    assert_eq!(batch, in_process(&server.db, sql).await);

    // An empty result still has its schema.
    let sql = "SELECT usage_user FROM cpu WHERE host = 'zzz'";
    let info = c.execute(sql.into(), None).await.unwrap();
    let batch = fetch(&mut c, &info).await.unwrap();
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(batch, in_process(&server.db, sql).await);

    // Errors keep their kind and position.
    let err = c
        .execute("SELECT max(usage_user) FROM cpu FILL(zero)".into(), None)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Code::InvalidArgument);
    assert!(message(&err).starts_with("plan error at 1:"), "{err}");
    let err = c.execute("SELEC 1".into(), None).await.unwrap_err();
    assert_eq!(code(&err), Code::InvalidArgument);
    assert!(message(&err).starts_with("parse error at 1:1"), "{err}");
}

#[tokio::test]
async fn tsbs_queries_over_flight_equal_the_in_process_ones() {
    let config = DemoConfig {
        hosts: 3,
        hours: 1,
        ..DemoConfig::default()
    };
    let mut generator = DemoGenerator::new(config);
    let mut lp = String::new();
    while generator.fill_chunk(1000, &mut lp) > 0 {}
    let (_dir, db) = store_with(&lp).await;
    let server = start(db, Some(TOKEN), Limits::default()).await;
    let mut c = client(&server, Some(TOKEN)).await;
    let mut with_rows = 0;
    for q in tsq_bench_runner::tsbs::queries::queries(&config) {
        let info = c.execute(q.tsq.clone(), None).await.unwrap();
        let batch = fetch(&mut c, &info).await.unwrap();
        let expected = in_process(&server.db, &q.tsq).await;
        with_rows += usize::from(expected.num_rows() > 0);
        assert_eq!(batch, expected, "{}", q.name);
    }
    // Only high-cpu-1 (usage_user > 90) may find nothing in one hour.
    assert!(with_rows >= 7, "{with_rows} queries returned rows");
}

#[tokio::test]
async fn prepared_statement_create_execute_close() {
    let (_dir, db) = store_with(LP).await;
    let server = start(db, Some(TOKEN), Limits::default()).await;
    let mut c = client(&server, Some(TOKEN)).await;
    let sql = "SELECT usage_system FROM cpu WHERE host = 'a'";
    let mut prepared = c.prepare(sql.into(), None).await.unwrap();
    let expected = in_process(&server.db, sql).await;
    assert_eq!(
        prepared.dataset_schema().unwrap(),
        expected.schema().as_ref()
    );
    assert_eq!(prepared.parameter_schema().unwrap(), &Schema::empty());
    // Executed twice: the handle holds the statement, not server state.
    for _ in 0..2 {
        let info = prepared.execute().await.unwrap();
        let batch = fetch(&mut c, &info).await.unwrap();
        assert_eq!(
            f64s(&batch, "usage_system"),
            [Some(10.0), Some(30.0), Some(70.0)]
        );
        assert_eq!(batch, expected);
    }
    prepared.close().await.unwrap();

    // Parameters are refused with a clear message.
    let mut prepared = c.prepare(sql.into(), None).await.unwrap();
    let params = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("p", DataType::Float64, false)])),
        vec![Arc::new(Float64Array::from(vec![1.0]))],
    )
    .unwrap();
    prepared.set_parameters(params).unwrap();
    let err = prepared.execute().await.unwrap_err();
    assert_eq!(code(&err), Code::InvalidArgument);
    assert!(message(&err).contains("take no parameters"), "{err}");

    // A plan error surfaces at creation.
    let err = c
        .prepare("SELECT nope(usage_user) FROM cpu".into(), None)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Code::InvalidArgument);
}

#[tokio::test]
async fn metadata_tables_with_schema_catalogs_and_types() {
    let (_dir, db) = store_with(LP).await;
    let server = start(db, Some(TOKEN), Limits::default()).await;
    let mut c = client(&server, Some(TOKEN)).await;

    let request = CommandGetTables {
        catalog: None,
        db_schema_filter_pattern: None,
        table_name_filter_pattern: None,
        table_types: vec![],
        include_schema: true,
    };
    let info = c.get_tables(request.clone()).await.unwrap();
    let tables = fetch(&mut c, &info).await.unwrap();
    assert_eq!(strings(&tables, "catalog_name"), ["tsq", "tsq"]);
    assert_eq!(strings(&tables, "db_schema_name"), ["public", "public"]);
    assert_eq!(strings(&tables, "table_name"), ["cpu", "mem"]);
    assert_eq!(strings(&tables, "table_type"), ["TABLE", "TABLE"]);
    let schemas = tables.column_by_name("table_schema").unwrap();
    let schemas = schemas.as_any().downcast_ref::<BinaryArray>().unwrap();
    let time = Field::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into())),
        false,
    );
    let cpu = Schema::new(vec![
        time.clone(),
        Field::new("host", DataType::Utf8, false),
        Field::new("usage_system", DataType::Float64, true),
        Field::new("usage_user", DataType::Float64, true),
    ]);
    let mem = Schema::new(vec![
        time,
        Field::new("host", DataType::Utf8, false),
        Field::new("used", DataType::Float64, true),
    ]);
    for (i, expected) in [cpu, mem].iter().enumerate() {
        let got = arrow_ipc::convert::try_schema_from_ipc_buffer(schemas.value(i)).unwrap();
        assert_eq!(&got, expected);
    }

    let filtered = CommandGetTables {
        table_name_filter_pattern: Some("me%".into()),
        include_schema: false,
        ..request
    };
    let info = c.get_tables(filtered).await.unwrap();
    let tables = fetch(&mut c, &info).await.unwrap();
    assert_eq!(strings(&tables, "table_name"), ["mem"]);
    assert!(tables.column_by_name("table_schema").is_none());

    let info = c.get_catalogs().await.unwrap();
    assert_eq!(
        strings(&fetch(&mut c, &info).await.unwrap(), "catalog_name"),
        ["tsq"]
    );
    let info = c.get_table_types().await.unwrap();
    assert_eq!(
        strings(&fetch(&mut c, &info).await.unwrap(), "table_type"),
        ["TABLE"]
    );
    let info = c
        .get_db_schemas(arrow_flight::sql::CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: None,
        })
        .await
        .unwrap();
    assert_eq!(
        strings(&fetch(&mut c, &info).await.unwrap(), "db_schema_name"),
        ["public"]
    );
    let info = c
        .get_sql_info(vec![
            arrow_flight::sql::SqlInfo::FlightSqlServerName,
            arrow_flight::sql::SqlInfo::FlightSqlServerReadOnly,
        ])
        .await
        .unwrap();
    let info = fetch(&mut c, &info).await.unwrap();
    let names = info.column_by_name("info_name").unwrap();
    let names = names
        .as_any()
        .downcast_ref::<arrow::array::UInt32Array>()
        .unwrap();
    assert_eq!(names.values().to_vec(), [0, 3]);
}

/// One series of `points` points a second apart.
fn long_series(points: usize) -> String {
    (0..points)
        .map(|i| format!("cpu,host=a usage_user={i} {}\n", i as i64 * 1_000_000_000))
        .collect()
}

#[tokio::test]
async fn concurrency_limit_refuses_then_a_dropped_stream_frees_its_slot() {
    let db = Database::in_memory();
    db.write_lp(long_series(200_000)).await.unwrap();
    let limits = Limits {
        max_concurrent_queries: 1,
        query_wait: Duration::from_secs(2),
        ..Limits::default()
    };
    let server = start(db, None, limits).await;
    let mut c = client(&server, None).await;
    // 200 000 rows (several MB): more than HTTP/2 buffers without reading.
    let big = c
        .execute("SELECT usage_user FROM cpu".into(), None)
        .await
        .unwrap();
    let mut running = c.do_get(ticket(&big)).await.unwrap();
    let first = running.try_next().await.unwrap().unwrap();
    assert!(first.num_rows() > 0);

    let small = c
        .execute(
            "SELECT max(usage_user) FROM cpu SAMPLE BY ALL max".into(),
            None,
        )
        .await
        .unwrap();
    let err = fetch(&mut c, &small).await.unwrap_err();
    assert_eq!(code(&err), Code::ResourceExhausted);
    assert!(
        message(&err).starts_with("too many concurrent queries: 1 are running"),
        "{err}"
    );

    // The client goes away: the server drops (and so cancels) the query
    // and its slot is free for the next one.
    drop(running);
    let batch = fetch(&mut c, &small).await.unwrap();
    assert_eq!(f64s(&batch, "max(usage_user)"), [Some(199_999.0)]);
}

#[tokio::test]
async fn memory_budget_and_query_length_limits() {
    let (_dir, db) = store_with(LP).await;
    let limits = Limits {
        query_memory_bytes: 64,
        max_query_bytes: 80,
        ..Limits::default()
    };
    let server = start(db, None, limits).await;
    let mut c = client(&server, None).await;
    let info = c
        .execute(
            "SELECT avg(usage_user), avg(usage_system) FROM cpu GROUP BY host".into(),
            None,
        )
        .await
        .unwrap();
    let err = fetch(&mut c, &info).await.unwrap_err();
    assert_eq!(code(&err), Code::ResourceExhausted);
    assert!(
        message(&err).starts_with("memory budget exceeded in "),
        "{err}"
    );

    let long = format!(
        "SELECT usage_user FROM cpu WHERE host = '{}'",
        "x".repeat(40)
    );
    let err = c.execute(long.clone(), None).await.unwrap_err();
    assert_eq!(code(&err), Code::InvalidArgument);
    assert_eq!(
        message(&err),
        format!(
            "the query is {} bytes long; the server accepts at most 80 bytes",
            long.len()
        )
    );
}
