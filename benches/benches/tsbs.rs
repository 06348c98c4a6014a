//! Criterion benchmarks of the TSBS `cpu-only` queries on the demo dataset
//! (scale 0.2: 20 hosts × 12 h, 864,000 points): tsq's pipelined engine
//! against its materialized executor, and DataFusion on one thread with
//! `--features datafusion`. Results are checked equal once before timing.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::queries::queries;
use tsq_benches::tsbs::{check_query, config, engines};

fn tsbs_queries(c: &mut Criterion) {
    let data = TsbsData::generate(config(0.2));
    let engines = engines(&data).expect("engines start");
    for query in queries(&data.config) {
        check_query(&query, &engines).expect("engines agree");
        let mut group = c.benchmark_group(query.name);
        group.throughput(Throughput::Elements(query.points as u64));
        group.sample_size(10);
        for engine in &engines {
            group.bench_function(engine.label(), |b| {
                b.iter(|| black_box(engine.run(&query).expect("query runs")))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, tsbs_queries);
criterion_main!(benches);
