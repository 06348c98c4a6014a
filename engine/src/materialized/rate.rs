//! Per-timeline rate of change (`docs/semantics.md` §6), written plainly.

use super::Series;
use crate::spec::RateOptions;

/// The per-second rate of `s`: the first point is dropped; with a counter, a
/// drop either skips the point (`drop_resets`, the skipped point still being
/// the previous point of the next rate, as OpenTSDB's `RateSpan`) or counts
/// as a wrap `counter_max - prev + cur`, whose rate becomes 0 when it exceeds
/// a positive `reset_value`. A null on either side gives a null rate.
pub(super) fn rate(s: &Series, opts: &RateOptions) -> Series {
    let mut out = Series {
        id: s.id,
        times: Vec::new(),
        values: Vec::new(),
    };
    for i in 1..s.times.len() {
        let (t0, t1) = (s.times[i - 1], s.times[i]);
        let seconds = (t1 as i128 - t0 as i128) as f64 / 1e9;
        let value = match (s.values[i - 1], s.values[i]) {
            (Some(v0), Some(v1)) if opts.counter && v1 < v0 => {
                if opts.drop_resets {
                    continue;
                }
                let r = (opts.counter_max - v0 + v1) / seconds;
                if opts.reset_value > 0.0 && r > opts.reset_value {
                    Some(0.0)
                } else {
                    Some(r)
                }
            }
            (Some(v0), Some(v1)) => Some((v1 - v0) / seconds),
            _ => None,
        };
        out.times.push(t1);
        out.values.push(value);
    }
    out
}
