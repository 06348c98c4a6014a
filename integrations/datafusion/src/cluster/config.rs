//! `cluster.toml`: the workers of a cluster, in shard order
//! (`docs/distributed.md`, "How data is sharded").
//!
//! ```toml
//! workers = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]
//! ```
//!
//! Worker *i* holds shard *i*; the list's length is the number of shards.

use std::path::{Path, PathBuf};

use url::Url;

use super::shard::ShardId;
use crate::error::{Error, Result};

/// The parsed `cluster.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `host:port` of each worker; index = shard id.
    pub workers: Vec<String>,
}

impl ClusterConfig {
    /// A cluster of `workers` (`host:port`, in shard order).
    pub fn new(workers: Vec<String>) -> Result<Self> {
        if workers.is_empty() {
            return Err(config_error(None, None, "`workers` lists no worker"));
        }
        for w in &workers {
            worker_url(w).map_err(|m| config_error(None, None, &m))?;
        }
        Ok(ClusterConfig { workers })
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    /// Parses the text of a `cluster.toml`; `path` names it in errors.
    pub fn parse(text: &str, path: Option<&Path>) -> Result<Self> {
        let path = path.map(Path::to_path_buf);
        let doc: toml_edit::Document<String> = toml_edit::Document::parse(text.to_string())
            .map_err(|e| {
                let line = e.span().map(|s| line_of(text, s.start));
                config_error(path.clone(), line, e.message())
            })?;
        let table = doc.as_table();
        if let Some((key, item)) = table.iter().find(|(k, _)| *k != "workers") {
            let line = item.span().map(|s| line_of(text, s.start));
            return Err(config_error(
                path,
                line,
                &format!("unknown key `{key}` (expected `workers`)"),
            ));
        }
        let Some(item) = table.get("workers") else {
            return Err(config_error(
                path,
                None,
                "missing `workers = [\"host:port\", …]`",
            ));
        };
        let item_line = item.span().map(|s| line_of(text, s.start));
        let Some(array) = item.as_array() else {
            return Err(config_error(
                path,
                item_line,
                "`workers` must be an array of \"host:port\" strings",
            ));
        };
        let mut workers = Vec::with_capacity(array.len());
        for value in array.iter() {
            let line = value.span().map(|s| line_of(text, s.start)).or(item_line);
            let Some(s) = value.as_str() else {
                return Err(config_error(
                    path,
                    line,
                    "each worker must be a \"host:port\" string",
                ));
            };
            worker_url(s).map_err(|m| config_error(path.clone(), line, &m))?;
            workers.push(s.to_string());
        }
        if workers.is_empty() {
            return Err(config_error(path, item_line, "`workers` lists no worker"));
        }
        Ok(ClusterConfig { workers })
    }

    /// Number of shards (one per worker).
    pub fn shards(&self) -> usize {
        self.workers.len()
    }

    /// The Flight URL of the worker holding `shard`.
    pub fn url(&self, shard: ShardId) -> Result<Url> {
        let w = self
            .workers
            .get(shard.index())
            .ok_or_else(|| config_error(None, None, &format!("no worker for shard {shard}")))?;
        worker_url(w).map_err(|m| config_error(None, None, &m))
    }

    /// The worker of `shard` as written in `cluster.toml`.
    pub fn worker(&self, shard: ShardId) -> &str {
        self.workers
            .get(shard.index())
            .map(String::as_str)
            .unwrap_or("?")
    }
}

/// `host:port` as the `http://host:port` URL of its Flight endpoint.
pub(crate) fn worker_url(worker: &str) -> std::result::Result<Url, String> {
    let url = Url::parse(&format!("http://{worker}"))
        .map_err(|e| format!("worker `{worker}` is not host:port: {e}"))?;
    if url.port().is_none() || url.path() != "/" || url.host_str().is_none() {
        return Err(format!("worker `{worker}` is not host:port"));
    }
    Ok(url)
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn config_error(path: Option<PathBuf>, line: Option<usize>, message: &str) -> Error {
    Error::Config {
        path,
        line,
        message: message.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_workers_in_order() {
        let c = ClusterConfig::parse(
            "# three shards\nworkers = [\"127.0.0.1:7001\", \"127.0.0.1:7002\",\n  \"h3:7003\"]\n",
            None,
        )
        .unwrap();
        assert_eq!(c.workers, ["127.0.0.1:7001", "127.0.0.1:7002", "h3:7003"]);
        assert_eq!(c.url(ShardId(2)).unwrap().as_str(), "http://h3:7003/");
    }

    #[test]
    fn errors_name_file_and_line() {
        let p = Path::new("cluster.toml");
        let e = ClusterConfig::parse("workers = [\n \"a:1\",\n 7]\n", Some(p)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cluster.toml:3: each worker must be a \"host:port\" string"
        );
        let e = ClusterConfig::parse("workers = [\"a:1\"]\nshards = 4\n", Some(p)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cluster.toml:2: unknown key `shards` (expected `workers`)"
        );
        let e = ClusterConfig::parse("workers = [\"nohost\"]\n", Some(p)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cluster.toml:1: worker `nohost` is not host:port"
        );
        let e = ClusterConfig::parse("\nworkers = [\n", Some(p)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cluster.toml:2: unclosed array, expected `]`"
        );
        let e = ClusterConfig::parse("", Some(p)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cluster.toml: missing `workers = [\"host:port\", …]`"
        );
    }
}
