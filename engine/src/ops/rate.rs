//! `RateOp`: the per-timeline rate of change, `docs/semantics.md` §6, applied to the
//! (downsampled) values before they are aggregated across timelines.
//!
//! OpenTSDB note (checked against OpenTSDB 2.x `src/core/RateSpan.java`,
//! `populateNextRate`): the `reset_value` test sits inside the
//! `isCounter() && difference < 0` branch, after the wrap correction
//! `counter_max - prev + cur`, so it applies only to rates computed across a
//! counter wrap; an ordinary increase is emitted as computed however large it
//! is. With `drop_resets` the same branch returns before the wrap correction
//! and goes on with the next point, whose rate is computed against the dropped
//! one (the dropped point becomes the previous point). tsq follows both. Two
//! differences are deliberate: OpenTSDB, for backward compatibility, emits a
//! first rate between `(time 0, value 0)` and the first point, where tsq drops
//! the first point of each timeline (`docs/semantics.md`); and OpenTSDB divides
//! millisecond differences by 1000 and subtracts integer values as `long`,
//! where tsq divides nanosecond differences by 1e9 and works in `f64`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::batch::{Timeline, TimelineBatch, TimelineBatchBuilder};
use crate::context::TaskContext;
use crate::error::{EngineError, Result};
use crate::operator::Operator;
use crate::ops::driver::{Kernel, UnaryOp};
use crate::spec::RateOptions;

/// The last point of a timeline, carried to the next batch: `(series, time, value)`.
type Carry = (u32, i64, Option<f64>);

/// Per-second rate of change of each timeline.
///
/// ```text
///   t:    t0    t1                     t2
///   v:    v0    v1                     v2
///   out:   -    (v1-v0)/(t1-t0)s       (v2-v1)/(t2-t1)s
/// ```
///
/// The last point of each input batch is carried, so a timeline split across
/// batches loses only its very first point. Runs under the shared driver
/// ([`UnaryOp`]).
pub type RateOp = UnaryOp<Rate>;

/// The plan node of [`RateOp`]: its options.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    opts: RateOptions,
}

/// The running state of one execution.
pub struct RateState {
    batch_size: usize,
    carry: Option<Carry>,
    ready: VecDeque<TimelineBatch>,
}

impl RateOp {
    /// The rate of each timeline of `input`.
    pub fn new(input: Box<dyn Operator>, opts: RateOptions) -> Self {
        UnaryOp::with_kernel(input, Rate { opts })
    }
}

impl Rate {
    /// Computes the rates of one input batch into `ready` batches of at most
    /// `batch_size` rows.
    fn rate_batch(&self, state: &mut RateState, batch: &TimelineBatch) -> Result<()> {
        let cap = batch.num_rows().min(state.batch_size);
        let mut out = TimelineBatchBuilder::new(Arc::clone(batch.registry()), cap);
        for tl in batch.timelines() {
            let prev = state
                .carry
                .filter(|c| c.0 == tl.series_id)
                .map(|c| (c.1, c.2));
            let (t, v) = self.rate_run(state, &tl, prev, &mut out)?;
            state.carry = Some((tl.series_id, t, v));
        }
        if !out.is_empty() {
            state.ready.push_back(out.finish()?);
        }
        Ok(())
    }

    /// Appends the rates of one timeline run, `prev` being the timeline's
    /// point before the run (from the previous batch); returns its last point.
    fn rate_run(
        &self,
        state: &mut RateState,
        tl: &Timeline<'_>,
        mut prev: Option<(i64, Option<f64>)>,
        out: &mut TimelineBatchBuilder,
    ) -> Result<(i64, Option<f64>)> {
        let opts = self.opts;
        for (i, &t) in tl.times.iter().enumerate() {
            let v = tl.value(i);
            if let Some((pt, pv)) = prev {
                if let Some(rate) = point_rate(&opts, pt, pv, t, v) {
                    out.push(tl.series_id, t, rate);
                    if out.len() == state.batch_size {
                        state.ready.push_back(out.finish()?);
                    }
                }
            }
            prev = Some((t, v));
        }
        prev.ok_or_else(|| EngineError::execution("RateOp", "empty timeline run in input batch"))
    }
}

impl Kernel for Rate {
    type State = RateState;
    const NAME: &'static str = "RateOp";

    fn display(&self) -> String {
        format!("RateOp: {}", self.opts)
    }

    fn open(&mut self, ctx: &TaskContext, _: &dyn Operator) -> Result<RateState> {
        Ok(RateState {
            batch_size: ctx.batch_size.max(1),
            carry: None,
            ready: VecDeque::new(),
        })
    }

    fn consume(&self, state: &mut RateState, batch: &TimelineBatch) -> Result<()> {
        self.rate_batch(state, batch)
    }

    fn emit(&self, state: &mut RateState, _: bool) -> Result<Option<TimelineBatch>> {
        Ok(state.ready.pop_front())
    }

    // A rate keeps a subset of its input's timestamps: the input's range
    // and grid still hold (the defaults).
}

/// The rate at `(t, v)` after `(pt, pv)`: `None` when the point is dropped (a
/// counter reset with `drop_resets`), `Some(None)` for a null rate.
#[inline]
fn point_rate(
    opts: &RateOptions,
    pt: i64,
    pv: Option<f64>,
    t: i64,
    v: Option<f64>,
) -> Option<Option<f64>> {
    let (Some(pv), Some(v)) = (pv, v) else {
        return Some(None);
    };
    // t > pt within a timeline, so the difference fits in u64.
    let secs = t.wrapping_sub(pt) as u64 as f64 / 1e9;
    if opts.counter && v < pv {
        if opts.drop_resets {
            return None;
        }
        let rate = (opts.counter_max - pv + v) / secs;
        if opts.reset_value > 0.0 && rate > opts.reset_value {
            return Some(Some(0.0));
        }
        return Some(Some(rate));
    }
    Some(Some((v - pv) / secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::collect;
    use crate::ops::values::ValuesOp;
    use crate::registry::{SeriesInfo, SeriesRegistry};

    const S: i64 = 1_000_000_000;

    /// A value that compares NaN equal to NaN, for exact assertions.
    #[derive(Debug, Clone, Copy)]
    struct V(Option<f64>);

    impl PartialEq for V {
        fn eq(&self, o: &Self) -> bool {
            match (self.0, o.0) {
                (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
                (a, b) => a.is_none() && b.is_none(),
            }
        }
    }

    type Row = (u32, i64, V);

    fn rows(r: &[(u32, i64, Option<f64>)]) -> Vec<Row> {
        r.iter().map(|&(s, t, v)| (s, t, V(v))).collect()
    }

    fn registry() -> Arc<SeriesRegistry> {
        Arc::new(SeriesRegistry::new(
            (0..3)
                .map(|i| SeriesInfo::new("m", &[("host", &format!("h{i}"))], "v"))
                .collect(),
        ))
    }

    /// `input` cut into batches of `per_batch` rows.
    fn batches(input: &[(u32, i64, Option<f64>)], per_batch: usize) -> Vec<TimelineBatch> {
        input
            .chunks(per_batch.max(1))
            .map(|chunk| {
                let mut b = TimelineBatchBuilder::new(registry(), chunk.len());
                for &(s, t, v) in chunk {
                    b.push(s, t, v);
                }
                b.finish().unwrap()
            })
            .collect()
    }

    async fn run(
        opts: RateOptions,
        input: &[(u32, i64, Option<f64>)],
        ib: usize,
        ob: usize,
    ) -> Vec<Row> {
        let mut op = RateOp::new(Box::new(ValuesOp::new(batches(input, ib))), opts);
        let out = collect(&mut op, &TaskContext::with_batch_size(ob))
            .await
            .unwrap();
        let mut got = Vec::new();
        for b in &out {
            assert!(!b.is_empty() && b.num_rows() <= ob);
            for tl in b.timelines() {
                for i in 0..tl.len() {
                    got.push((tl.series_id, tl.times[i], V(tl.value(i))));
                }
            }
        }
        assert_eq!(op.metrics().rows_in as usize, input.len());
        assert_eq!(op.metrics().rows_out as usize, got.len());
        got
    }

    /// Checks `expected` for input batches of 1, 2 and all rows and output
    /// batches of 1 and 4096 rows.
    async fn check(
        opts: RateOptions,
        input: &[(u32, i64, Option<f64>)],
        expected: &[(u32, i64, Option<f64>)],
    ) {
        for ib in [1, 2, input.len().max(1)] {
            for ob in [1, 4096] {
                let got = run(opts, input, ib, ob).await;
                assert_eq!(got, rows(expected), "input batch {ib}, output batch {ob}");
            }
        }
    }

    fn counter(max: f64) -> RateOptions {
        RateOptions {
            counter: true,
            counter_max: max,
            ..RateOptions::default()
        }
    }

    #[tokio::test]
    async fn gauge_rate_per_second_first_point_dropped() {
        let input = [
            (0, 0, Some(1.0)),
            (0, S, Some(3.0)),
            (0, 3 * S, Some(9.0)),
            (0, 3 * S + S / 2, Some(8.0)),
            (1, 10 * S, Some(5.0)),
            (1, 12 * S, Some(6.0)),
        ];
        check(
            RateOptions::default(),
            &input,
            &[
                (0, S, Some(2.0)),              // (3 - 1) / 1s
                (0, 3 * S, Some(3.0)),          // (9 - 3) / 2s
                (0, 3 * S + S / 2, Some(-2.0)), // (8 - 9) / 0.5s, no counter
                (1, 12 * S, Some(0.5)),         // (6 - 5) / 2s; 1's first point dropped
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn empty_input_and_single_points_give_nothing() {
        check(RateOptions::default(), &[], &[]).await;
        let input = [(0, 5, Some(1.0)), (1, 5, Some(2.0)), (2, -7, Some(3.0))];
        check(RateOptions::default(), &input, &[]).await;
    }

    #[tokio::test]
    async fn nan_and_null_propagate() {
        let input = [
            (0, 0, Some(1.0)),
            (0, S, Some(f64::NAN)),
            (0, 2 * S, Some(5.0)),
            (0, 3 * S, None),
            (0, 4 * S, Some(7.0)),
            (0, 6 * S, Some(11.0)),
        ];
        check(
            RateOptions::default(),
            &input,
            &[
                (0, S, Some(f64::NAN)),     // NaN - 1
                (0, 2 * S, Some(f64::NAN)), // 5 - NaN
                (0, 3 * S, None),           // null current
                (0, 4 * S, None),           // null previous
                (0, 6 * S, Some(2.0)),      // (11 - 7) / 2s
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn negative_timestamps() {
        let input = [
            (2, -3 * S, Some(10.0)),
            (2, -S, Some(4.0)),
            (2, S, Some(4.0)),
        ];
        // (4 - 10) / 2s = -3; (4 - 4) / 2s = 0
        check(
            RateOptions::default(),
            &input,
            &[(2, -S, Some(-3.0)), (2, S, Some(0.0))],
        )
        .await;
    }

    #[tokio::test]
    async fn counter_wraps_at_counter_max() {
        let input = [
            (0, 0, Some(90.0)),
            (0, 2 * S, Some(10.0)),
            (0, 3 * S, Some(15.0)),
        ];
        check(
            counter(100.0),
            &input,
            &[
                (0, 2 * S, Some(10.0)), // (100 - 90 + 10) / 2s
                (0, 3 * S, Some(5.0)),  // (15 - 10) / 1s
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn drop_resets_skips_the_drop_and_restarts_from_it() {
        let opts = RateOptions {
            drop_resets: true,
            ..counter(100.0)
        };
        let input = [
            (0, 0, Some(10.0)),
            (0, S, Some(50.0)),
            (0, 2 * S, Some(5.0)),
            (0, 3 * S, Some(25.0)),
        ];
        check(
            opts,
            &input,
            &[
                (0, S, Some(40.0)),     // (50 - 10) / 1s
                (0, 3 * S, Some(20.0)), // 5 dropped, then (25 - 5) / 1s
            ],
        )
        .await;
        assert!(opts.to_string().ends_with("drop_resets=true"));
    }

    #[tokio::test]
    async fn reset_value_applies_to_wrapped_rates_only() {
        let opts = RateOptions {
            reset_value: 5.0,
            ..counter(100.0)
        };
        let input = [
            (0, 0, Some(0.0)),
            (0, S, Some(50.0)),
            (0, 2 * S, Some(40.0)),
            (0, 3 * S, Some(99.0)),
            (0, 4 * S, Some(1.0)),
        ];
        check(
            opts,
            &input,
            &[
                (0, S, Some(50.0)),    // plain increase 50/s > 5: kept (OpenTSDB)
                (0, 2 * S, Some(0.0)), // wrap: 100 - 50 + 40 = 90/s > 5 -> 0
                (0, 3 * S, Some(59.0)),
                (0, 4 * S, Some(2.0)), // wrap: 100 - 99 + 1 = 2/s <= 5
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn display_is_the_options() {
        let op = RateOp::new(Box::new(ValuesOp::empty()), RateOptions::default());
        assert_eq!(op.display(), "RateOp: counter=false");
        assert_eq!(op.children().len(), 1);
    }
}
