//! The resource limits of `tsq serve`, shared by its HTTP and Flight SQL
//! sides (`docs/server.md`, "Limits"): what one request may send, how many
//! queries run at once and how much memory each may hold.

use std::time::Duration;

/// Default most bytes of one request body as sent (compressed or not):
/// 25 MB, InfluxDB 1.x's `max-body-size`.
pub const DEFAULT_MAX_BODY: usize = 25_000_000;
/// Default most bytes of a body once gunzipped: 100 MiB.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 100 << 20;
/// Default most bytes of one line of line protocol: 256 KiB.
pub const DEFAULT_MAX_LINE: usize = 256 << 10;
/// Default most bytes of one query's text: 64 KiB.
pub const DEFAULT_MAX_QUERY: usize = 64 << 10;
/// Default most queries running at once (the others wait).
pub const DEFAULT_MAX_CONCURRENT_QUERIES: usize = 16;
/// Default longest wait for a query slot before the query is refused.
pub const DEFAULT_QUERY_WAIT: Duration = Duration::from_secs(30);
/// Default memory budget of one query: 1 GiB.
pub const DEFAULT_QUERY_MEMORY: usize = 1 << 30;

/// What the server accepts; see the `DEFAULT_*` constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of a request body as received (over it: 413).
    pub max_body_bytes: usize,
    /// Most bytes of a gzip body once decompressed (over it: 413).
    pub max_decompressed_bytes: usize,
    /// Most bytes of one line of line protocol (a longer line is rejected
    /// like a line that does not parse).
    pub max_line_bytes: usize,
    /// Most bytes of a query's text (over it: 413).
    pub max_query_bytes: usize,
    /// Most queries running at once; the others wait for a slot.
    pub max_concurrent_queries: usize,
    /// How long a query waits for a slot before it gets 503.
    pub query_wait: Duration,
    /// Memory budget of each query (over it the query fails).
    pub query_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED,
            max_line_bytes: DEFAULT_MAX_LINE,
            max_query_bytes: DEFAULT_MAX_QUERY,
            max_concurrent_queries: DEFAULT_MAX_CONCURRENT_QUERIES,
            query_wait: DEFAULT_QUERY_WAIT,
            query_memory_bytes: DEFAULT_QUERY_MEMORY,
        }
    }
}
