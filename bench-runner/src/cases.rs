//! The benchmark cases. The two seed cases are HiTSDB's headline
//! comparison: (1) 1000 timelines hit, one point every 5 s, 3600 s window,
//! 1m avg downsample with FILL(zero), sum across timelines grouped by a tag
//! with 10 values; (2) one timeline, one point every 1 s, 36000 s window, the
//! same downsample.

use tsq_engine::{
    Aggregator, Downsample, FillPolicy, GroupBy, Interval, PipelineSpec, ScanRequest, TimeRange,
};

use crate::data::{GaugeShape, SECOND};

/// A named query over a generated dataset.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name for tables.
    pub name: String,
    /// The dataset.
    pub shape: GaugeShape,
    /// The query, as the planner would resolve it.
    pub spec: PipelineSpec,
}

fn downsample_sum(shape: &GaugeShape, group_by: GroupBy) -> PipelineSpec {
    let mut scan = ScanRequest::new("m", "v");
    scan.range = TimeRange::new(0, shape.window_s * SECOND);
    PipelineSpec {
        scan,
        downsample: Some(Downsample {
            interval: Interval::Every(60 * SECOND),
            agg: Aggregator::Avg,
            fill: FillPolicy::Value(0.0),
            max_gap: None,
        }),
        rate: None,
        aggregate: Some(Aggregator::Sum),
        group_by,
        output_name: "sum(v)".into(),
    }
}

/// Seed case 1, with `timelines` timelines (1000 in the seed).
pub fn seed_case_1(timelines: usize) -> Case {
    let shape = GaugeShape {
        timelines,
        interval_s: 5,
        window_s: 3600,
        groups: 10,
    };
    Case {
        name: format!("seed1: {timelines} timelines, 5s, 1h, 1m avg fill(zero), sum by grp"),
        shape,
        spec: downsample_sum(&shape, GroupBy::Tags(vec!["grp".into()])),
    }
}

/// Seed case 2: one timeline, one point a second for 36000 s.
pub fn seed_case_2() -> Case {
    let shape = GaugeShape {
        timelines: 1,
        interval_s: 1,
        window_s: 36_000,
        groups: 1,
    };
    Case {
        name: "seed2: 1 timeline, 1s, 10h, 1m avg fill(zero), sum".into(),
        shape,
        spec: downsample_sum(&shape, GroupBy::None),
    }
}
