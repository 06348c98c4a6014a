//! Criterion benchmarks of HiTSDB's two seed cases: the pipelined engine
//! (PipeAggOp, as the planner chooses for FILL(zero) + sum) against the
//! materialized executor, plus a plain slice sum as the throughput ceiling.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsq_benches::cases::{seed_case_1, seed_case_2};
use tsq_benches::data::gauge_dataset;
use tsq_benches::runner::{run_once, slice_sum, Engine};
use tsq_engine::{AggStrategy, StorageAdapter, TaskContext};

fn seed_cases(c: &mut Criterion) {
    for case in [seed_case_1(1000), seed_case_2()] {
        let adapter: Arc<dyn StorageAdapter> = Arc::new(gauge_dataset(case.shape, 42));
        let mut group = c.benchmark_group(
            case.name
                .split(':')
                .next()
                .unwrap_or(&case.name)
                .to_string(),
        );
        group.throughput(Throughput::Elements(case.shape.points() as u64));
        group.sample_size(10);
        for engine in [Engine::Pipelined(AggStrategy::Pipe), Engine::Materialized] {
            group.bench_function(engine.to_string(), |b| {
                b.iter(|| {
                    let out = run_once(engine, &case.spec, &adapter, &TaskContext::default());
                    black_box(out.expect("query runs"))
                })
            });
        }
        let values: Vec<f64> = (0..case.shape.points()).map(|i| i as f64).collect();
        group.bench_function("ceiling: slice sum", |b| {
            b.iter(|| black_box(slice_sum(black_box(&values))))
        });
        group.finish();
    }
}

criterion_group!(benches, seed_cases);
criterion_main!(benches);
