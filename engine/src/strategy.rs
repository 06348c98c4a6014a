//! Which cross-timeline aggregation strategy can run a pipeline: the rule,
//! in one place (`docs/semantics.md` §4 for interpolation,
//! `docs/architecture.md` "How a batch flows" for the three operators).
//!
//! The planner's `choose_aggregation` rule asks [`strategy_error`] which
//! strategies are valid and picks among them (and checks a forced one with
//! it); [`build_pipeline`](crate::pipeline::build_pipeline) refuses an
//! invalid one with the same message.
//!
//! ```text
//!   PipeAggOp     no interpolation needed (`interpolation`) && incremental aggregator
//!   GroupedAggOp  the adapter delivers timelines ordered by group
//!   MTAggOp       always
//! ```

use crate::spec::{AggStrategy, Downsample, FillPolicy, Interval, PipelineSpec};
use crate::storage::{Capabilities, StorageAdapter};

/// Whether cross-timeline interpolation may be needed for `spec`:
/// `Ok(why not)` when it is not, `Err(why)` when it may be.
///
/// It may be needed when there is no `SAMPLE BY`, with `FILL(none)` and an
/// interval (`SAMPLE BY ALL` never: one bucket per timeline at the range
/// start), or after a counter rate with `drop_resets` (it removes interior
/// points). `previous` / `linear` fills leave gaps only at the edges of a
/// timeline's span, where it contributes nothing anyway.
pub fn interpolation(spec: &PipelineSpec) -> Result<&'static str, &'static str> {
    if spec.rate.is_some_and(|r| r.may_drop_points()) {
        return Err(
            "rate(counter, drop_resets) removes interior points, so timelines can miss timestamps",
        );
    }
    downsample_interpolation(spec.downsample.as_ref())
}

/// [`interpolation`] as the downsample alone decides it (a pipeline
/// without a rate that drops points): `Ok(why not)` when every timeline has
/// a value at every timestamp of its span.
pub fn downsample_interpolation(
    downsample: Option<&Downsample>,
) -> Result<&'static str, &'static str> {
    match downsample {
        None => {
            Err("without SAMPLE BY, timelines are aggregated at every timestamp any of them has")
        }
        Some(d) if d.interval == Interval::All => {
            Ok("SAMPLE BY ALL gives one bucket per timeline, all at the range start")
        }
        Some(d) if d.fill == FillPolicy::None => {
            Err("FILL(none) leaves empty buckets out, so timelines can miss timestamps")
        }
        Some(d) if d.max_gap.is_some() => Err(
            "a FILL with a maximum gap leaves longer gaps empty, so timelines can miss timestamps",
        ),
        Some(d) if matches!(d.fill, FillPolicy::Previous | FillPolicy::Linear) => {
            Ok("FILL(previous/linear) leaves gaps only at the edges of a timeline's span")
        }
        Some(_) => Ok("the fill emits every bucket of a timeline's span"),
    }
}

/// Why `strategy` cannot run `spec` over an adapter named `adapter` with
/// `caps`, if it cannot; `None` when it can (or the spec has no
/// aggregate, where the strategy is not used).
pub fn strategy_error(
    spec: &PipelineSpec,
    caps: Capabilities,
    adapter: &str,
    strategy: AggStrategy,
) -> Option<String> {
    let agg = spec.aggregate?;
    match strategy {
        AggStrategy::Pipe => match interpolation(spec) {
            Err(why) => Some(format!("PipeAggOp cannot interpolate ({why})")),
            Ok(_) if !agg.is_incremental() => Some(format!("{agg} is not incremental")),
            Ok(_) => None,
        },
        AggStrategy::Grouped if !caps.ordered_by_group => Some(format!(
            "adapter '{adapter}' cannot deliver timelines ordered by group"
        )),
        AggStrategy::Grouped | AggStrategy::MT => None,
    }
}

/// [`strategy_error`] for `adapter`'s capabilities and name.
pub fn check_strategy(
    spec: &PipelineSpec,
    adapter: &dyn StorageAdapter,
    strategy: AggStrategy,
) -> Option<String> {
    strategy_error(spec, adapter.capabilities(), adapter.name(), strategy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Aggregator, Downsample, GroupBy, RateOptions};
    use crate::storage::ScanRequest;

    fn spec(ds: Option<(Interval, FillPolicy)>, agg: Aggregator) -> PipelineSpec {
        PipelineSpec {
            scan: ScanRequest::new("cpu", "u"),
            downsample: ds.map(|(interval, fill)| Downsample {
                interval,
                agg: Aggregator::Avg,
                fill,
                max_gap: None,
            }),
            rate: None,
            aggregate: Some(agg),
            group_by: GroupBy::None,
            output_name: "x".into(),
        }
    }

    #[test]
    fn pipe_needs_aligned_input_and_an_incremental_aggregator() {
        let minute = Interval::Every(60_000_000_000);
        let valid =
            |s: &PipelineSpec| strategy_error(s, Capabilities::NONE, "m", AggStrategy::Pipe);
        for fill in [
            FillPolicy::Value(0.0),
            FillPolicy::Null,
            FillPolicy::Previous,
            FillPolicy::Linear,
        ] {
            assert_eq!(valid(&spec(Some((minute, fill)), Aggregator::Sum)), None);
        }
        assert_eq!(
            valid(&spec(
                Some((Interval::All, FillPolicy::None)),
                Aggregator::Max
            )),
            None
        );
        assert_eq!(
            valid(&spec(Some((minute, FillPolicy::None)), Aggregator::Sum)).as_deref(),
            Some(
                "PipeAggOp cannot interpolate (FILL(none) leaves empty buckets out, so \
                 timelines can miss timestamps)"
            )
        );
        assert_eq!(
            valid(&spec(None, Aggregator::Sum)).as_deref(),
            Some(
                "PipeAggOp cannot interpolate (without SAMPLE BY, timelines are aggregated at \
                 every timestamp any of them has)"
            )
        );
        let p99 = spec(
            Some((minute, FillPolicy::Value(0.0))),
            Aggregator::Percentile(990),
        );
        assert_eq!(valid(&p99).as_deref(), Some("p99 is not incremental"));
        let mut dropped = spec(Some((minute, FillPolicy::Value(0.0))), Aggregator::Sum);
        dropped.rate = Some(RateOptions {
            counter: true,
            drop_resets: true,
            ..RateOptions::default()
        });
        assert!(valid(&dropped).unwrap().contains("drop_resets"));
    }

    #[test]
    fn grouped_needs_ordered_scans_mt_always_runs() {
        let s = spec(None, Aggregator::Percentile(500));
        assert_eq!(
            strategy_error(&s, Capabilities::NONE, "tsm", AggStrategy::Grouped).as_deref(),
            Some("adapter 'tsm' cannot deliver timelines ordered by group")
        );
        assert_eq!(
            strategy_error(&s, Capabilities::ALL, "tsm", AggStrategy::Grouped),
            None
        );
        assert_eq!(
            strategy_error(&s, Capabilities::NONE, "tsm", AggStrategy::MT),
            None
        );
        let raw = PipelineSpec {
            aggregate: None,
            ..s
        };
        assert_eq!(
            strategy_error(&raw, Capabilities::NONE, "tsm", AggStrategy::Pipe),
            None
        );
    }
}
