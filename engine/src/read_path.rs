//! How the leaf of a pipeline reads its timelines: a scan of the range
//! (the default), the newest point of each series (`SAMPLE BY ALL last`,
//! TSBS `lastpoint`), or the last buckets of the range only (a tail query,
//! `ORDER BY time DESC LIMIT n`). The planner's `choose_read_path` rule picks
//! one and asks [`check_read_path`] whether it is valid for the pipeline, so
//! the rule that decides exactness lives here, beside the operators.
//! `docs/semantics.md` §10 states what each path must preserve.

use std::fmt;

use crate::error::Result;
use crate::spec::{Aggregator, FillPolicy, Interval, PipelineSpec};
use crate::storage::{ScanRequest, StorageAdapter, TimeRange};

/// The read path of one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPath {
    /// `ScanOp` over the whole range.
    #[default]
    Scan,
    /// `LastPointOp`: the newest point of each series in the range.
    LastPoint,
    /// `ScanOp` over the last `rows` buckets of the range only, when every
    /// timeline with a point in the range has one in them (checked when the
    /// pipeline is built; otherwise the whole range is scanned).
    Tail {
        /// The `LIMIT` of `ORDER BY time DESC LIMIT n`.
        rows: usize,
    },
}

impl fmt::Display for ReadPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadPath::Scan => f.write_str("scan"),
            ReadPath::LastPoint => f.write_str("last point"),
            ReadPath::Tail { rows } => write!(f, "tail of {rows} buckets"),
        }
    }
}

/// Why `path` cannot compute `spec` exactly, if it cannot.
pub fn check_read_path(spec: &PipelineSpec, path: ReadPath) -> Option<String> {
    match path {
        ReadPath::Scan => None,
        _ if spec.rate.is_some() => {
            Some("a rate needs the point before each one, outside what the path reads".into())
        }
        ReadPath::LastPoint => match spec.downsample {
            Some(ds) if ds.interval == Interval::All && ds.agg == Aggregator::Last => None,
            _ => Some("the last-point path needs SAMPLE BY ALL last".into()),
        },
        ReadPath::Tail { rows } => match spec.downsample {
            _ if rows == 0 => Some("LIMIT 0 reads nothing anyway".into()),
            Some(ds) => match (ds.interval, ds.fill) {
                (Interval::Every(_), FillPolicy::Null | FillPolicy::NaN) => None,
                (Interval::All, _) => Some("SAMPLE BY ALL makes one bucket".into()),
                (_, fill) => Some(format!(
                    "FILL({fill}) makes the last buckets depend on earlier ones (only \
                     FILL(null) and FILL(nan) leave them independent)"
                )),
            },
            None => Some("a tail read needs SAMPLE BY with an interval".into()),
        },
    }
}

/// The window `[w, end)` of the last `rows` buckets of the resolved range
/// `[start, end)`, when reading only it gives the same rows: the range holds
/// more than `rows` buckets and every series with a point in the range has
/// its newest point in the window (a series with points only before it would
/// still make fill rows in the window). `None`: read the whole range.
pub(crate) async fn tail_window(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    (start, end): (i64, i64),
    rows: usize,
) -> Result<Option<(i64, i64)>> {
    let Some(ds) = spec.downsample else {
        return Ok(None);
    };
    let grid = ds.grid(start, end)?;
    if grid.count <= rows {
        return Ok(None);
    }
    let window = grid.time(grid.count - rows);
    let request = ScanRequest {
        range: TimeRange::new(start, end),
        group_order: None,
        ..spec.scan.clone()
    };
    let newest = adapter.last_points(&request).await?;
    let all_in_window = newest.times().iter().all(|&t| t >= window);
    Ok(all_in_window.then_some((window, end)))
}
