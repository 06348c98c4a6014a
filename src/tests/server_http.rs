//! End-to-end tests of `tsq serve`'s HTTP side: the real binary on
//! 127.0.0.1 port 0, driven by a plain HTTP/1.1 client over a `TcpStream`
//! (`docs/server.md`). Writes with bad lines mixed in (gzip and not) are
//! checked by their exact error bodies and then by exact query results in
//! every format; the token, the limits and a clean SIGTERM shutdown; and a
//! bounded load test that SIGKILLs the server under load and finds every
//! acknowledged point after a restart (`TSQ_LOAD_SECS` sets its length,
//! 3 s by default).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Longest wait for one HTTP exchange or for the server to start or stop.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A running `tsq serve`; killed (SIGKILL) when dropped if still running.
struct Server {
    child: Child,
    port: u16,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `tsq serve --data DIR --http 127.0.0.1:0 --flight 127.0.0.1:0 <extra>` and reads
    /// the bound port from its first line.
    fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tsq"))
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--http", "127.0.0.1:0", "--flight", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tsq serve");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (etx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let line = rx
            .recv_timeout(TIMEOUT)
            .expect("the server prints its address");
        let port = line
            .strip_prefix("tsq serve: http listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .parse()
            .unwrap();
        Server {
            child,
            port,
            stderr,
        }
    }

    /// One request; `headers` are extra `Name: value` lines.
    fn request(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Response {
        http(self.port, method, path, headers, body).expect("HTTP exchange")
    }

    fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    fn post(&self, path: &str, body: &str) -> Response {
        self.request("POST", path, &[], body.as_bytes())
    }

    /// Body of `GET /api/v3/query_sql?q=<sql>&format=<format>`, checked 200.
    fn query(&self, sql: &str, format: &str) -> Vec<u8> {
        let path = format!("/api/v3/query_sql?q={}&format={format}", encode(sql));
        let r = self.get(&path);
        assert_eq!(r.status, 200, "{sql}: {}", r.text());
        r.body
    }

    /// Sends SIGTERM and waits for the exit; returns (exit code, stderr).
    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        (status.code(), stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, lower-cased headers, body (de-chunked).
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client: one request per connection.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The payload of a chunked body; an incomplete one is an error.
fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let bad = || std::io::Error::other("bad chunked body");
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").ok_or_else(bad)?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| bad())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .map_err(|_| bad())?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// One rejected line in InfluxDB 3's shape.
fn rejected(line: usize, original: &str, message: &str) -> Value {
    json!({"line_number": line, "original_line": original, "error_message": message})
}

#[test]
fn writes_keep_valid_lines_and_report_bad_ones_then_queries_see_exactly_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);

    // InfluxDB 3 endpoint, plain body, seconds: lines 2, 5 and 6 are bad.
    let body = "cpu,host=a v=1 1\n\
                cpu,host=b v=oops 2\n\
                cpu,host=a v=2 3\n\
                \n\
                cpu,host=b\n\
                cpu,host=a v=9i 4\n\
                cpu,host=b v=5 4";
    let r = server.post("/api/v3/write_lp?db=metrics&precision=second", body);
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let expected = json!({
        "error": "partial write of line protocol occurred",
        "data": [
            rejected(2, "cpu,host=b v=oops 2", "column 14: invalid field value 'oops'"),
            rejected(5, "cpu,host=b", "column 11: missing field set"),
            rejected(6, "cpu,host=a v=9i 4",
                "column 1: field 'v' is integer here but float earlier in the same write"),
        ]
    });
    assert_eq!(r.json(), expected);

    // InfluxDB 1.x endpoint, gzip body of 100 lines, line 51 garbage.
    let mut lines: Vec<String> = (0..100)
        .map(|i| format!("cpu,host=c v={i} {}", 10 + i))
        .collect();
    lines[50] = "garbage".into();
    let r = server.request(
        "POST",
        "/write?db=metrics&precision=s",
        &["Content-Encoding: gzip"],
        &gzip(&lines.join("\n")),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let expected = json!({
        "error": "partial write of line protocol occurred",
        "data": [rejected(51, "garbage", "column 8: missing field set")],
    });
    assert_eq!(r.json(), expected);

    // InfluxDB 2.x endpoint, all valid: 204 and no body.
    let r = server.post(
        "/api/v2/write?bucket=metrics&precision=ms",
        "cpu,host=d v=0.5 7000",
    );
    assert_eq!((r.status, r.body.len()), (204, 0));

    // accept_partial=false: one bad line refuses the whole body.
    let r = server.post(
        "/api/v3/write_lp?db=metrics&precision=second&accept_partial=false",
        "cpu,host=e v=1 1\ncpu,host=e v=",
    );
    assert_eq!(r.status, 400);
    let expected = json!({
        "error": "parsing failed for write_lp endpoint",
        "data": rejected(2, "cpu,host=e v=", "column 14: missing value for field 'v'"),
    });
    assert_eq!(r.json(), expected);

    // Per host: a 2 points (1, 3), b 1 (4), c 99 (100 less line 51), d 1;
    // nothing of e.
    let csv = server.query(
        "SELECT host, sum(v) AS n FROM cpu GROUP BY host SAMPLE BY ALL count",
        "csv",
    );
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "time,host,n\n\
         1970-01-01T00:00:01Z,a,2\n\
         1970-01-01T00:00:01Z,b,1\n\
         1970-01-01T00:00:01Z,c,99\n\
         1970-01-01T00:00:01Z,d,1\n"
    );

    // The same small result in every format.
    let sql = "SELECT v FROM cpu WHERE host = 'a' OR host = 'b'";
    let rows = [
        ("1970-01-01T00:00:01Z", "a", 1),
        ("1970-01-01T00:00:03Z", "a", 2),
        ("1970-01-01T00:00:04Z", "b", 5),
    ];
    let csv: String = rows
        .iter()
        .map(|(t, h, v)| format!("{t},{h},{v}\n"))
        .collect();
    assert_eq!(
        String::from_utf8(server.query(sql, "csv")).unwrap(),
        format!("time,host,v\n{csv}")
    );
    let objects: Vec<Value> = rows
        .iter()
        .map(|(t, h, v)| json!({"time": t, "host": h, "v": v}))
        .collect();
    let json_body: Value = serde_json::from_slice(&server.query(sql, "json")).unwrap();
    assert_eq!(json_body, Value::Array(objects.clone()));
    let jsonl = String::from_utf8(server.query(sql, "jsonl")).unwrap();
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, objects);
    let parquet = server.query(sql, "parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        axum::body::Bytes::from(parquet),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    // Read back and printed as CSV, the Parquet result is the CSV one.
    let mut printed = Vec::new();
    tsq::cli::format::csv::write_csv(&mut printed, &batch.schema(), &[batch]).unwrap();
    assert_eq!(
        String::from_utf8(printed).unwrap(),
        format!("time,host,v\n{csv}")
    );

    // POST with InfluxDB 3's JSON body; a bad query is a 400 with its place.
    let r = server.post(
        "/api/v3/query_sql",
        &json!({"db": "metrics", "q": "SELECT v FROM cpu WHERE host = 'b'", "format": "jsonl"})
            .to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "{\"time\":\"1970-01-01T00:00:04Z\",\"host\":\"b\",\"v\":5}\n"
    );
    let r = server.get("/api/v3/query_sql?q=SELECT%20*%20FROM%20cpu");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "parse error at 1:8: unsupported select item '*': name the fields and tags"
    );

    // Metrics count what happened: 4 write requests, 103 points, 5 lines.
    let metrics = server.get("/metrics").text();
    for line in [
        "tsq_http_write_requests_total 4",
        "tsq_points_written_total 103",
        "tsq_write_rejected_lines_total 5",
        "tsq_open_queries 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no '{line}' in:\n{metrics}"
        );
    }
}

#[test]
fn token_limits_and_a_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &[
            "--token-file",
            token_file.to_str().unwrap(),
            "--max-body",
            "1KiB",
            "--max-decompressed",
            "4KiB",
            "--max-query",
            "100",
        ],
    );
    // Health and ping need no token and tell nothing else.
    let r = server.get("/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "pass");
    let r = server.get("/ping");
    assert_eq!((r.status, r.header("x-influxdb-build")), (204, Some("tsq")));

    // Everything else needs it.
    let bearer = "Authorization: Bearer s3cret-token";
    let lp = b"m v=1 1";
    for (method, path) in [
        ("POST", "/write?db=d"),
        ("POST", "/api/v2/write?bucket=d"),
        ("POST", "/api/v3/write_lp?db=d"),
        ("GET", "/api/v3/query_sql?q=SELECT%20v%20FROM%20m"),
        ("GET", "/metrics"),
    ] {
        for headers in [
            &[][..],
            &["Authorization: Bearer wrong"][..],
            &["Authorization: s3cret-token"][..],
        ] {
            let r = server.request(method, path, headers, lp);
            assert_eq!(r.status, 401, "{method} {path} {headers:?}");
            assert_eq!(
                r.json()["error"],
                "unauthorized: send the token as 'Authorization: Bearer <token>' (or 'Token <token>')"
            );
        }
    }
    let r = server.request("POST", "/write?db=d", &[bearer], lp);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = server.request(
        "POST",
        "/write?db=d",
        &["Authorization: Token s3cret-token"],
        b"m v=2 2",
    );
    assert_eq!(r.status, 204, "{}", r.text());

    // Body over 1 KiB: 413, as sent and once gunzipped (a tiny gzip of a
    // 5000-byte body).
    let big = "m v=1 1\n".repeat(200);
    let r = server.request("POST", "/write?db=d", &[bearer], big.as_bytes());
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json()["error"],
        "request body is over the limit of 1024 bytes (--max-body)"
    );
    let bomb = gzip(&"m v=1 1\n".repeat(625));
    assert!(bomb.len() < 1024);
    let r = server.request(
        "POST",
        "/write?db=d",
        &[bearer, "Content-Encoding: gzip"],
        &bomb,
    );
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json()["error"],
        "decompressed request body is over the limit of 4096 bytes (--max-decompressed)"
    );
    // A query over 100 bytes: 413; a database name with a path: 400.
    let long = format!("SELECT v FROM m WHERE {}", "v > 0 AND ".repeat(10));
    let r = server.request(
        "GET",
        &format!("/api/v3/query_sql?q={}", encode(&long)),
        &[bearer],
        b"",
    );
    assert_eq!(r.status, 413);
    assert_eq!(
        r.json()["error"],
        format!(
            "query is {} bytes, over the limit of 100 bytes (--max-query)",
            long.len()
        )
    );
    let r = server.request("POST", "/write?db=..%2Fetc", &[bearer], lp);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "invalid database name '../etc': it must not start with '.'"
    );
    let r = server.request("POST", "/write", &[bearer], lp);
    assert_eq!(
        r.json()["error"],
        "missing the 'db' parameter (the database name)"
    );

    let r = server.request(
        "GET",
        "/api/v3/query_sql?q=SELECT%20v%20FROM%20m&format=csv",
        &[bearer],
        b"",
    );
    assert_eq!(
        r.text(),
        "time,v\n1970-01-01T00:00:00.000000001Z,1\n1970-01-01T00:00:00.000000002Z,2\n"
    );

    // SIGTERM: exit 0, the cache flushed (the WAL holds nothing), and a
    // restart sees both points.
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("tsq serve: store flushed and closed"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-token"), "the token was printed");
    let wal: Vec<_> = std::fs::read_dir(data.join("wal")).unwrap().collect();
    assert!(wal.is_empty(), "WAL segments left: {wal:?}");
    let server = Server::start(&data, &[]);
    let csv = server.query("SELECT v FROM m", "csv");
    assert_eq!(csv.iter().filter(|&&b| b == b'\n').count(), 3);
}

/// A number from the environment variable `name`, or `default`.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A kept-alive HTTP/1.1 connection (the load test's writers, as
/// Telegraf keeps its connection).
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::new(stream),
        })
    }

    /// POSTs `body` to `path`; returns the status (the body is read and
    /// dropped).
    fn post(&mut self, path: &str, body: &[u8]) -> std::io::Result<u16> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let out = self.stream.get_mut();
        out.write_all(head.as_bytes())?;
        out.write_all(body)?;
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0;
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok(status)
    }
}

#[test]
fn load_then_sigkill_keeps_every_acknowledged_point() {
    // Shape of the load: CI runs the defaults for 3 s; docs/server.md's
    // numbers come from TSQ_LOAD_SECS=30 and the batch sizes it names.
    let secs = env_or("TSQ_LOAD_SECS", 3);
    let writers = env_or("TSQ_LOAD_WRITERS", 16) as usize;
    let queriers = env_or("TSQ_LOAD_QUERIERS", 4) as usize;
    let batch = env_or("TSQ_LOAD_BATCH", 100);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let port = server.port;
    let stop = AtomicBool::new(false);
    let acked: Vec<AtomicU64> = (0..writers).map(|_| AtomicU64::new(0)).collect();
    let latencies = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    let mut elapsed = 0.0;
    std::thread::scope(|scope| {
        for (w, acked) in acked.iter().enumerate() {
            let stop = &stop;
            scope.spawn(move || {
                let Ok(mut conn) = Conn::open(port) else {
                    return;
                };
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let body: String = (0..batch)
                        .map(|j| format!("load,writer=w{w} v=1 {}\n", k * batch + j + 1))
                        .collect();
                    match conn.post("/write?db=load", body.as_bytes()) {
                        Ok(204) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(status) => panic!("write refused: {status}"),
                        Err(_) => break, // the server was killed
                    }
                    k += 1;
                }
            });
        }
        for _ in 0..queriers {
            let (stop, latencies) = (&stop, &latencies);
            scope.spawn(move || {
                let path = format!(
                    "/api/v3/query_sql?q={}&format=csv",
                    // A fixed time range: a range inferred from the data
                    // races the writers (see docs/server.md, "Known
                    // problems").
                    encode(
                        "SELECT sum(v) FROM load WHERE time >= 1 AND time < 1000000000000 \
                         SAMPLE BY ALL count",
                    )
                );
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match http(port, "GET", &path, &[], b"") {
                        Ok(r) if r.status == 200 => latencies.lock().unwrap().push(t.elapsed()),
                        Ok(r) => panic!("query failed: {} {}", r.status, r.text()),
                        Err(_) => break,
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs(secs));
        elapsed = started.elapsed().as_secs_f64();
        // SIGKILL in the middle of the load, then let the clients notice.
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
    });
    let acked: Vec<u64> = acked.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    let writes: u64 = acked.iter().sum();
    let mut lat = latencies.into_inner().unwrap();
    lat.sort();
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)));
    eprintln!(
        "load: {writers} writers x {batch} points, {queriers} query clients, {elapsed:.1} s: \
         {:.0} writes/s, {:.0} points/s; {} queries, p50 {:?}, p99 {:?}",
        writes as f64 / elapsed,
        (writes * batch) as f64 / elapsed,
        lat.len(),
        pct(0.50),
        pct(0.99),
    );
    assert!(writes > 0, "no write was acknowledged");
    assert!(queriers == 0 || !lat.is_empty(), "no query finished");

    // Restart: every acknowledged batch is there; at most the one batch
    // per writer in flight at the kill may be there too.
    let server = Server::start(&data, &[]);
    let csv = String::from_utf8(server.query(
        "SELECT writer, sum(v) AS n FROM load GROUP BY writer SAMPLE BY ALL count",
        "csv",
    ))
    .unwrap();
    let mut found = vec![0u64; writers];
    for line in csv.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let w: usize = cols[1].trim_start_matches('w').parse().unwrap();
        found[w] = cols[2].parse().unwrap();
    }
    for w in 0..writers {
        let want = acked[w] * batch;
        assert!(
            found[w] >= want && found[w] <= want + batch,
            "writer {w}: {} acknowledged points, {} found",
            want,
            found[w]
        );
    }
}

/// Polls `/metrics` until it has `line` (or fails after [`TIMEOUT`]).
fn wait_for_metric(server: &Server, line: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let metrics = server.get("/metrics").text();
        if metrics.lines().any(|l| l == line) {
            return;
        }
        assert!(Instant::now() < deadline, "no '{line}' in:\n{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_client_that_leaves_cancels_its_query_and_frees_its_slot() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--max-concurrent-queries", "1", "--query-wait", "1"],
    );
    // 200 000 points: a CSV result of megabytes, far more than the socket
    // buffers of a client that does not read.
    let body: String = (0..200_000)
        .map(|i| format!("big,s=s{} v={i} {}\n", i % 10, i + 1))
        .collect();
    let r = server.post("/write?db=d", &body);
    assert_eq!(r.status, 204, "{}", r.text());

    // Client A starts the big query and reads only the status line.
    let mut a = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    a.set_read_timeout(Some(TIMEOUT)).unwrap();
    let path = format!(
        "/api/v3/query_sql?q={}&format=csv",
        encode("SELECT v FROM big")
    );
    write!(
        a,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut start = [0u8; 12];
    a.read_exact(&mut start).unwrap();
    assert_eq!(&start, b"HTTP/1.1 200");
    wait_for_metric(&server, "tsq_open_queries 1");

    // Its slot is the only one: client B waits one second, then gets 503.
    let r = server.get("/api/v3/query_sql?q=SELECT%20v%20FROM%20big%20LIMIT%201");
    assert_eq!(r.status, 503);
    let error = r.json()["error"].as_str().unwrap().to_string();
    let waited: u64 = error
        .strip_prefix("too many concurrent queries: all 1 slots stayed busy for ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{error}"));
    assert!((1000..10_000).contains(&waited), "{error}");
    assert!(
        error.ends_with(" ms (--max-concurrent-queries); retry later"),
        "{error}"
    );

    // A leaves: its query is cancelled and the slot is free again.
    drop(a);
    wait_for_metric(&server, "tsq_open_queries 0");
    let csv = server.query("SELECT v FROM big WHERE s = 's3' LIMIT 2", "csv");
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "time,s,v\n1970-01-01T00:00:00.000000004Z,s3,3\n1970-01-01T00:00:00.000000014Z,s3,13\n"
    );
}
