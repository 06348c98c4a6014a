//! Specifications shared by operators, the planner and the materialized
//! executor: aggregators and their interpolation rules, downsampling and fill
//! policies, rate options and grouping (`docs/semantics.md`).

use std::fmt;
use std::str::FromStr;

use crate::error::{EngineError, Result};

/// How a timeline that lacks a timestamp (inside its first..last span)
/// contributes to a cross-timeline aggregate at that timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Linear interpolation between the neighbouring points.
    Lerp,
    /// Zero.
    Zim,
    /// +infinity (so `min` ignores it).
    Max,
    /// -infinity (so `max` ignores it).
    Min,
    /// The last earlier value.
    Prev,
    /// No contribution.
    None,
}

/// An aggregation function, across timelines or within a downsample bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregator {
    /// Sum.
    Sum,
    /// Arithmetic mean (`avg`, `mean`).
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// Population standard deviation (divides by N).
    Dev,
    /// Number of (non-NaN) values present.
    Count,
    /// Sum, missing values as zero.
    ZimSum,
    /// Minimum, missing values ignored (interpolated as +inf).
    MimMin,
    /// Maximum, missing values ignored (interpolated as -inf).
    MimMax,
    /// First value: by time within a bucket, lowest series id across timelines.
    First,
    /// Last value: by time within a bucket, highest series id across timelines.
    Last,
    /// Sum, missing values as the timeline's previous value.
    PfSum,
    /// Percentile, in tenths of a percent (p50 = 500, p999 = 999).
    Percentile(u16),
}

impl Aggregator {
    /// Every aggregator name the language accepts, for error messages.
    pub const NAMES: &'static str =
        "sum, avg, mean, min, max, dev, count, zimsum, mimmin, mimmax, \
         first, last, pfsum, p50, p75, p90, p95, p99, p999, median";

    /// The interpolation rule of `docs/semantics.md`.
    pub fn interpolation(self) -> Interpolation {
        use Aggregator::*;
        match self {
            Sum | Avg | Min | Max | Dev | Percentile(_) => Interpolation::Lerp,
            Count => Interpolation::None,
            ZimSum | First | Last => Interpolation::Zim,
            MimMin => Interpolation::Max,
            MimMax => Interpolation::Min,
            PfSum => Interpolation::Prev,
        }
    }

    /// True when the aggregate can be updated one value at a time in O(1)
    /// state (everything but the percentiles).
    pub fn is_incremental(self) -> bool {
        !matches!(self, Aggregator::Percentile(_))
    }

    /// The percentile as a fraction in `(0, 1]`, for percentile aggregators.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Aggregator::Percentile(t) => Some(t as f64 / 1000.0),
            _ => None,
        }
    }
}

impl fmt::Display for Aggregator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Aggregator::*;
        let s = match self {
            Sum => "sum",
            Avg => "avg",
            Min => "min",
            Max => "max",
            Dev => "dev",
            Count => "count",
            ZimSum => "zimsum",
            MimMin => "mimmin",
            MimMax => "mimmax",
            First => "first",
            Last => "last",
            PfSum => "pfsum",
            Percentile(t) if t % 10 == 0 => return write!(f, "p{}", t / 10),
            Percentile(t) => return write!(f, "p{t}"),
        };
        f.write_str(s)
    }
}

impl FromStr for Aggregator {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        use Aggregator::*;
        Ok(match s.to_ascii_lowercase().as_str() {
            "sum" => Sum,
            "avg" | "mean" => Avg,
            "min" => Min,
            "max" => Max,
            "dev" | "stddev" => Dev,
            "count" => Count,
            "zimsum" => ZimSum,
            "mimmin" => MimMin,
            "mimmax" => MimMax,
            "first" => First,
            "last" => Last,
            "pfsum" => PfSum,
            "median" | "p50" => Percentile(500),
            "p75" => Percentile(750),
            "p90" => Percentile(900),
            "p95" => Percentile(950),
            "p99" => Percentile(990),
            "p999" => Percentile(999),
            other => {
                return Err(EngineError::InvalidArgument(format!(
                    "unknown aggregator '{other}' (expected one of {})",
                    Aggregator::NAMES
                )))
            }
        })
    }
}

/// What to emit for buckets of a timeline's range that hold no point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FillPolicy {
    /// Leave them out (the default).
    None,
    /// Emit null.
    Null,
    /// Emit NaN.
    NaN,
    /// Emit this value (`zero` is `Value(0.0)`).
    Value(f64),
    /// Carry the last earlier value to the end of the range.
    Previous,
    /// Interpolate between the neighbouring non-empty buckets.
    Linear,
}

impl FillPolicy {
    /// True when every bucket of a timeline's span is emitted, so the
    /// timelines of a group can only differ at the edges of the range and
    /// cross-timeline aggregation needs no interpolation (`docs/architecture.md`, "How a batch flows").
    pub fn aligns_buckets(self) -> bool {
        !matches!(self, FillPolicy::None)
    }
}

impl fmt::Display for FillPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FillPolicy::None => f.write_str("none"),
            FillPolicy::Null => f.write_str("null"),
            FillPolicy::NaN => f.write_str("nan"),
            FillPolicy::Value(v) if *v == 0.0 => f.write_str("zero"),
            FillPolicy::Value(v) => write!(f, "{v}"),
            FillPolicy::Previous => f.write_str("previous"),
            FillPolicy::Linear => f.write_str("linear"),
        }
    }
}

/// Bucket width of a downsample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// Buckets `[k*d, (k+1)*d)` aligned to the epoch, `d` in ns (> 0).
    Every(i64),
    /// One bucket spanning the whole query range (`SAMPLE BY ALL`).
    All,
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interval::All => f.write_str("all"),
            Interval::Every(ns) => f.write_str(&format_duration(*ns)),
        }
    }
}

/// Formats ns as the largest exact unit: `1m`, `90s`, `500ms`, `7ns`.
pub fn format_duration(ns: i64) -> String {
    const UNITS: [(i64, &str); 7] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (unit, name) in UNITS {
        if ns != 0 && ns % unit == 0 {
            return format!("{}{name}", ns / unit);
        }
    }
    format!("{ns}ns")
}

/// `SAMPLE BY <interval> <agg> FILL(<fill>)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Downsample {
    /// Bucket width.
    pub interval: Interval,
    /// Aggregator applied to the points of one bucket.
    pub agg: Aggregator,
    /// What to emit for empty buckets.
    pub fill: FillPolicy,
    /// `FILL(previous, d)` / `FILL(linear, d)`: the longest gap between two
    /// non-empty buckets (their stamps' distance, ns) that the fill bridges
    /// (`docs/semantics.md` §5); `None` bridges every gap.
    pub max_gap: Option<i64>,
}

impl Downsample {
    /// The buckets covering the resolved query range `[start, end)`: from the
    /// bucket holding `start` to the last bucket starting before `end`.
    pub fn grid(&self, start: i64, end: i64) -> Result<BucketGrid> {
        if end <= start {
            return Ok(BucketGrid {
                start,
                width: 1,
                count: 0,
            });
        }
        match self.interval {
            Interval::All => Ok(BucketGrid {
                start,
                width: end - start,
                count: 1,
            }),
            Interval::Every(d) => {
                if d <= 0 {
                    return Err(EngineError::InvalidArgument(format!(
                        "downsample interval must be positive, got {d}ns"
                    )));
                }
                let first = start.div_euclid(d) * d;
                let count = ((end - 1).div_euclid(d) - start.div_euclid(d) + 1) as usize;
                Ok(BucketGrid {
                    start: first,
                    width: d,
                    count,
                })
            }
        }
    }
}

impl fmt::Display for Downsample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "interval={} agg={} fill={}",
            self.interval, self.agg, self.fill
        )?;
        match self.max_gap {
            Some(gap) => write!(f, " max_gap={}", format_duration(gap)),
            None => Ok(()),
        }
    }
}

/// `count` buckets of `width` ns starting at `start`; bucket `i` starts at
/// `start + i * width`. Bucket indexes are computed arithmetically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketGrid {
    /// Start of bucket 0.
    pub start: i64,
    /// Bucket width in ns.
    pub width: i64,
    /// Number of buckets.
    pub count: usize,
}

impl BucketGrid {
    /// Index of the bucket holding `t`, if it is on the grid.
    #[inline]
    pub fn index(&self, t: i64) -> Option<usize> {
        if t < self.start {
            return None;
        }
        let i = ((t - self.start) / self.width) as usize;
        (i < self.count).then_some(i)
    }

    /// Start time of bucket `i`.
    #[inline]
    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.width
    }
}

/// `rate(field, counter => ..., counter_max => ..., reset_value => ..., drop_resets => ...)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateOptions {
    /// Treat the value as a monotonically increasing counter that may wrap.
    pub counter: bool,
    /// Value at which the counter wraps (default 2^63-1).
    pub counter_max: f64,
    /// When > 0, rates above it are emitted as 0 (a reset, not a wrap).
    pub reset_value: f64,
    /// Skip the point where the counter drops instead of computing a wrap.
    pub drop_resets: bool,
}

impl Default for RateOptions {
    fn default() -> Self {
        RateOptions {
            counter: false,
            counter_max: i64::MAX as f64,
            reset_value: 0.0,
            drop_resets: false,
        }
    }
}

impl RateOptions {
    /// True when the rate can drop points in the middle of a timeline (so a
    /// downstream aggregation may need interpolation even on filled buckets).
    pub fn may_drop_points(&self) -> bool {
        self.counter && self.drop_resets
    }
}

impl fmt::Display for RateOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.counter {
            return f.write_str("counter=false");
        }
        write!(f, "counter=true counter_max={}", self.counter_max)?;
        if self.reset_value > 0.0 {
            write!(f, " reset_value={}", self.reset_value)?;
        }
        if self.drop_resets {
            write!(f, " drop_resets=true")?;
        }
        Ok(())
    }
}

/// How timelines are grouped for cross-timeline aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// Every timeline in one group.
    None,
    /// By the values of these tags (a missing tag groups as the empty string).
    Tags(Vec<String>),
    /// Every timeline its own group (`GROUP BY *`).
    All,
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupBy::None => f.write_str("[]"),
            GroupBy::All => f.write_str("*"),
            GroupBy::Tags(t) => write!(f, "[{}]", t.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_range_from_floored_start() {
        let ds = Downsample {
            interval: Interval::Every(10),
            agg: Aggregator::Avg,
            fill: FillPolicy::None,
            max_gap: None,
        };
        let g = ds.grid(25, 61).unwrap();
        assert_eq!((g.start, g.count), (20, 5)); // 20,30,40,50,60
        assert_eq!(g.index(19), None);
        assert_eq!(g.index(20), Some(0));
        assert_eq!(g.index(69), Some(4));
        assert_eq!(g.index(70), None);
        let g = ds.grid(-15, 0).unwrap();
        assert_eq!((g.start, g.count), (-20, 2));
        let all = Downsample {
            interval: Interval::All,
            ..ds
        };
        assert_eq!(
            all.grid(5, 100).unwrap(),
            BucketGrid {
                start: 5,
                width: 95,
                count: 1
            }
        );
    }

    #[test]
    fn aggregator_names_round_trip() {
        for name in Aggregator::NAMES.split(", ") {
            let a: Aggregator = name.parse().unwrap();
            let back: Aggregator = a.to_string().parse().unwrap();
            assert_eq!(a, back, "{name}");
        }
        assert_eq!(Aggregator::Percentile(999).to_string(), "p999");
        assert!("p42".parse::<Aggregator>().is_err());
        assert_eq!(format_duration(60_000_000_000), "1m");
        assert_eq!(format_duration(1_500_000_000), "1500ms");
    }
}

/// Which cross-timeline aggregation operator runs a pipeline (`docs/architecture.md`, "How a batch flows").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggStrategy {
    /// `PipeAggOp`: streaming, one accumulator per (group, bucket).
    Pipe,
    /// `GroupedAggOp`: input ordered by group, one group materialized at a time.
    Grouped,
    /// `MTAggOp`: every timeline materialized, then interpolated.
    MT,
}

impl fmt::Display for AggStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggStrategy::Pipe => "PipeAggOp",
            AggStrategy::Grouped => "GroupedAggOp",
            AggStrategy::MT => "MTAggOp",
        })
    }
}

/// One single-field pipeline, fully resolved by the planner:
/// scan → (downsample) → (rate) → (aggregate across timelines).
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// What to read (measurement, field, tag predicate, time range, order).
    pub scan: crate::storage::ScanRequest,
    /// `SAMPLE BY`, if any.
    pub downsample: Option<Downsample>,
    /// `rate(...)`, if any.
    pub rate: Option<RateOptions>,
    /// The cross-timeline aggregator; `None` returns the timelines themselves.
    pub aggregate: Option<Aggregator>,
    /// Grouping for the aggregator.
    pub group_by: GroupBy,
    /// Name of the output column (`sum(usage)` or the alias).
    pub output_name: String,
}
