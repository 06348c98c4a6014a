//! `tsq import --cluster cluster.toml FILE` (`docs/distributed.md`,
//! "Writing to a cluster"): each line of line protocol goes to the worker
//! of its shard, by the same function that decides where a series lives
//! ([`shard_of`]), in batches per shard, over the `POST /write` endpoint
//! of `tsq serve` that every worker also serves.
//!
//! ```text
//!  FILE ─▶ parse the series key ─▶ shard_of(key) ─▶ buffer of shard i ─(1 MiB)─▶ POST http://worker_i/write
//! ```
//!
//! A worker that does not take a batch stops the import with an error
//! naming it; what the other workers took stays written.

use std::io::BufRead;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tsq_storage::line_protocol::{parse_line, Precision};

use super::config::ClusterConfig;
use super::shard::{shard_of, ShardId};
use crate::error::{Error, Result};

/// Bytes of lines a shard's buffer holds before it is sent.
const BATCH_BYTES: usize = 1 << 20;

/// How long connecting to a worker, or its answer to a batch, may take.
const WORKER_TIMEOUT: Duration = Duration::from_secs(60);

/// What an import sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Lines sent to each shard, in shard order.
    pub lines: Vec<u64>,
    /// Requests sent to each shard.
    pub batches: Vec<u64>,
}

/// Routes the lines of `input` (named `source` in errors) to the workers
/// of `config`; timestamps are in `precision`. Blank lines and comments
/// are skipped; an invalid line stops the import with its line and column.
/// `input` is read synchronously between the sends (a file or stdin).
pub async fn import_lines(
    config: &ClusterConfig,
    source: &str,
    input: impl BufRead,
    precision: Precision,
) -> Result<ImportReport> {
    let shards = config.shards();
    let mut buffers: Vec<String> = vec![String::new(); shards];
    let mut report = ImportReport {
        lines: vec![0; shards],
        batches: vec![0; shards],
    };
    let mut number = 0;
    for text in input.lines() {
        let text = text.map_err(|e| Error::Import {
            source_name: source.to_string(),
            message: format!("reading after line {number}: {e}"),
        })?;
        number += 1;
        let Some(line) = parse_line(&text, number, precision).map_err(|e| Error::Import {
            source_name: source.to_string(),
            message: e.to_string(),
        })?
        else {
            continue;
        };
        let tags: Vec<(&str, &str)> = line
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let shard = shard_of(&line.measurement, &tags, shards);
        let buffer = &mut buffers[shard.index()];
        buffer.push_str(text.trim_end_matches('\r'));
        buffer.push('\n');
        report.lines[shard.index()] += 1;
        if buffer.len() >= BATCH_BYTES {
            send(config, shard, precision, std::mem::take(buffer)).await?;
            report.batches[shard.index()] += 1;
        }
    }
    for (i, buffer) in buffers.into_iter().enumerate() {
        if !buffer.is_empty() {
            send(config, ShardId(i as u32), precision, buffer).await?;
            report.batches[i] += 1;
        }
    }
    Ok(report)
}

/// Posts `body` to shard `shard`'s worker.
async fn send(
    config: &ClusterConfig,
    shard: ShardId,
    precision: Precision,
    body: String,
) -> Result<()> {
    let worker = &config.workers[shard.index()];
    let failed =
        |message: String| Error::Cluster(format!("worker {worker} (shard {shard}): {message}"));
    let unit = match precision {
        Precision::Nanoseconds => "ns",
        Precision::Microseconds => "us",
        Precision::Milliseconds => "ms",
        Precision::Seconds => "s",
    };
    let exchange = async {
        let mut stream = TcpStream::connect(worker.as_str()).await?;
        let head = format!(
            "POST /write?db=tsq&precision={unit} HTTP/1.1\r\nHost: {worker}\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.flush().await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = match tokio::time::timeout(WORKER_TIMEOUT, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Err(_) => return Err(failed(format!("no answer within {WORKER_TIMEOUT:?}"))),
    };
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(s) if (200..300).contains(&s) => Ok(()),
        Some(s) => {
            let body = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
            Err(failed(format!("the write was refused ({s}): {body}")))
        }
        None => Err(failed(format!(
            "not an HTTP answer: {:?}",
            text.chars().take(80).collect::<String>()
        ))),
    }
}
