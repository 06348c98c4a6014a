//! The aggregators, written naively over a list of values, and the
//! point-at-a-time aggregation across the timelines of each group
//! (`docs/semantics.md` §4).

use super::Series;
use crate::group::Grouping;
use crate::spec::{Aggregator, Interpolation};

/// Applies `agg` to `values` (in arrival order: time within a bucket,
/// ascending series id across timelines). NaN and null are skipped; with no
/// other value the result is NaN if a NaN was present, else null (`None`).
pub(super) fn aggregate_values(agg: Aggregator, values: &[Option<f64>]) -> Option<f64> {
    let present: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    if present.is_empty() {
        let any_nan = values.iter().flatten().any(|v| v.is_nan());
        return any_nan.then_some(f64::NAN);
    }
    let n = present.len() as f64;
    let sum = || present.iter().fold(0.0, |acc, v| acc + v);
    let min = || present.iter().copied().fold(f64::INFINITY, f64::min);
    let max = || present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    use Aggregator::*;
    Some(match agg {
        Sum | ZimSum | PfSum => sum(),
        Avg => sum() / n,
        Min | MimMin => min(),
        Max | MimMax => max(),
        Count => n,
        First => present[0],
        Last => present[present.len() - 1],
        Dev => {
            let mean = sum() / n;
            let squares = present
                .iter()
                .fold(0.0, |acc, v| acc + (v - mean) * (v - mean));
            (squares / n).sqrt()
        }
        Percentile(_) => legacy_percentile(present, agg.quantile().unwrap_or(0.5)),
    })
}

/// Apache Commons Math `Percentile` with the legacy estimation (OpenTSDB's):
/// sort, `pos = q * (n + 1)`; below 1 → the minimum; at or above n → the
/// maximum; else interpolate between the values at ranks `floor(pos)` and
/// `floor(pos) + 1` (1-based). `values` is non-empty and holds no NaN.
fn legacy_percentile(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = values.len();
    let pos = q * (n as f64 + 1.0);
    if pos < 1.0 {
        return values[0];
    }
    if pos >= n as f64 {
        return values[n - 1];
    }
    let rank = pos.floor();
    let lower = values[rank as usize - 1];
    let upper = values[rank as usize];
    lower + (pos - rank) * (upper - lower)
}

/// Aggregates `series` (ascending id, non-empty) per group of `grouping`:
/// one output series per group with rows, its id the group id, in group order.
pub(super) fn across_timelines(
    series: &[Series],
    grouping: &Grouping,
    agg: Aggregator,
) -> Vec<Series> {
    let mut out = Vec::new();
    for group in 0..grouping.num_groups() as u32 {
        let members: Vec<&Series> = series
            .iter()
            .filter(|s| grouping.group_of(s.id) == group)
            .collect();
        let mut union: Vec<i64> = members
            .iter()
            .flat_map(|s| s.times.iter().copied())
            .collect();
        union.sort_unstable();
        union.dedup();
        let mut result = Series {
            id: group,
            times: Vec::new(),
            values: Vec::new(),
        };
        for t in union {
            let contributions: Vec<Option<f64>> = members
                .iter()
                .filter_map(|s| contribution(s, t, agg.interpolation()))
                .collect();
            if contributions.is_empty() {
                continue;
            }
            result.times.push(t);
            result.values.push(aggregate_values(agg, &contributions));
        }
        if !result.times.is_empty() {
            out.push(result);
        }
    }
    out
}

/// What series `s` contributes at `t`: its value if it has a point there;
/// strictly inside its span, the interpolation; else nothing (`None`). The
/// inner `None` is a null contribution.
fn contribution(s: &Series, t: i64, interp: Interpolation) -> Option<Option<f64>> {
    let i1 = match s.times.binary_search(&t) {
        Ok(i) => return Some(s.values[i]),
        Err(i) => i,
    };
    if i1 == 0 || i1 == s.times.len() {
        return None;
    }
    let i0 = i1 - 1;
    match interp {
        Interpolation::Lerp => {
            let (t0, t1) = (s.times[i0], s.times[i1]);
            Some(match (s.values[i0], s.values[i1]) {
                (Some(v0), Some(v1)) => Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64),
                _ => None,
            })
        }
        Interpolation::Zim => Some(Some(0.0)),
        Interpolation::Prev => Some(s.values[i0]),
        Interpolation::Max | Interpolation::Min | Interpolation::None => None,
    }
}
