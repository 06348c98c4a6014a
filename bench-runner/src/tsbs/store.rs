//! The TSBS `cpu-only` queries against an existing store (`tsq bench
//! --suite tsbs-store`): the data's span and hostnames come from the
//! adapter (the store's index), [`super::random`] draws N instances of each
//! query type from a seed, and one engine runs them all in this process,
//! one after the other, type by type; each instance is timed from query
//! text to result batches (planning included, no printing).

use std::sync::Arc;
use std::time::Instant;

use tsq_engine::{EngineError, Result, ScanRequest, StorageAdapter};
use tsq_planner::Executor;

use super::engines::{QueryEngine, TsqEngine};
use super::latency::TypeSummary;
use super::random::{generate, QuerySpace, QueryType};
use crate::demo::{FIELDS, MEASUREMENT};
use crate::measure::{heap_peak_since, process_peak_rss, reset_peak_rss, start_heap_peak};

const SECOND: i64 = 1_000_000_000;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreRunOptions {
    /// Instances of each query type.
    pub queries: usize,
    /// Seed of the parameters.
    pub seed: u64,
    /// The query types, in the order run.
    pub types: Vec<QueryType>,
    /// Threads of one query.
    pub threads: usize,
    /// Memory budget of one query, bytes (`None`: the session's default).
    pub memory_budget: Option<usize>,
}

/// The span and hostnames of the `cpu` data behind `adapter`: from the
/// first to one second past the last timestamp of `usage_user`, and the
/// `hostname` values in their natural order (`host_2` before `host_10`).
pub fn query_space(adapter: &dyn StorageAdapter) -> Result<QuerySpace> {
    let request = ScanRequest::new(MEASUREMENT, FIELDS[0]);
    let span = futures::executor::block_on(adapter.time_span(&request))?;
    let (first, last) = span.ok_or_else(|| {
        EngineError::execution(
            "tsbs-store",
            format!("the store holds no {MEASUREMENT}.{} point", FIELDS[0]),
        )
    })?;
    let mut hosts = futures::executor::block_on(adapter.tag_values(MEASUREMENT, "hostname"))?;
    if hosts.is_empty() {
        return Err(EngineError::execution(
            "tsbs-store",
            format!("the store's {MEASUREMENT} series have no hostname tag"),
        ));
    }
    hosts.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
    Ok(QuerySpace {
        start: first,
        end: (last.div_euclid(SECOND) + 1) * SECOND,
        hosts,
    })
}

/// `host_10` → (`host_`, 10, …): text before the trailing number, the
/// number, then the text itself to break ties.
fn natural_key(s: &str) -> (&str, u64, &str) {
    let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = s.split_at(s.len() - digits);
    (stem, number.parse().unwrap_or(0), s)
}

/// Runs `options` over `adapter` (whose data is `space`) with tsq's
/// pipelined engine; one summary per query type. A failing instance is
/// counted, its first message kept, and the run goes on.
pub fn run(
    adapter: Arc<dyn StorageAdapter>,
    space: &QuerySpace,
    options: &StoreRunOptions,
) -> Vec<TypeSummary> {
    let engine = TsqEngine::with_memory_budget(
        adapter,
        Executor::Pipelined,
        options.threads,
        options.memory_budget,
    );
    generate(space, &options.types, options.queries, options.seed)
        .into_iter()
        .map(|(t, instances)| {
            let can_reset = reset_peak_rss();
            let mut times = Vec::with_capacity(instances.len());
            let (mut rows, mut errors, mut first_error) = (0, 0, None);
            let (mut engine_peak, mut heap_peak) = (None::<usize>, None::<usize>);
            for query in &instances {
                let base = start_heap_peak();
                let started = Instant::now();
                match engine.run(query) {
                    Ok((batches, peak)) => {
                        times.push(started.elapsed());
                        rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
                        engine_peak = peak.map(|p| p.max(engine_peak.unwrap_or(0)));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
                if let Some(base) = base {
                    heap_peak = Some(heap_peak.unwrap_or(0).max(heap_peak_since(base)));
                }
            }
            let mut summary = TypeSummary::new(t.name(), times);
            summary.rows = rows;
            summary.errors = errors;
            summary.first_error = first_error;
            summary.engine_peak = engine_peak;
            summary.heap_peak = heap_peak;
            summary.rss_peak = if can_reset { process_peak_rss() } else { None };
            summary
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{DemoConfig, DEFAULT_START};
    use crate::tsbs::dataset::TsbsData;
    use crate::tsbs::random::QUERY_TYPES;

    #[test]
    fn hostnames_sort_by_their_number() {
        let mut hosts = vec!["host_10", "host_2", "host_1", "x", "host_0"];
        hosts.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
        assert_eq!(hosts, ["host_0", "host_1", "host_2", "host_10", "x"]);
    }

    #[test]
    fn every_type_runs_on_the_memory_adapter() {
        // 3 hosts × 2 h: the span ends one second past the last row
        let data = TsbsData::generate(DemoConfig {
            hosts: 3,
            hours: 2,
            seed: 5,
            start: DEFAULT_START,
        });
        let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
        let space = query_space(adapter.as_ref()).unwrap();
        assert_eq!(space.start, DEFAULT_START);
        assert_eq!(space.end, DEFAULT_START + (7200 - 10 + 1) * SECOND);
        assert_eq!(space.hosts, ["host_0", "host_1", "host_2"]);
        let options = StoreRunOptions {
            queries: 2,
            seed: 1,
            types: QUERY_TYPES.iter().map(|(_, t)| *t).collect(),
            threads: 1,
            memory_budget: None,
        };
        let report = run(adapter, &space, &options);
        assert_eq!(report.len(), 15);
        for r in &report {
            assert_eq!(
                (r.count, r.errors),
                (2, 0),
                "{}: {:?}",
                r.name,
                r.first_error
            );
        }
        // lastpoint: one row per host, twice
        let lastpoint = report.iter().find(|r| r.name == "lastpoint").unwrap();
        assert_eq!(lastpoint.rows, 6);
        // groupby-orderby-limit: five minutes, twice
        let limit = report.iter().find(|r| r.name == "groupby-orderby-limit");
        assert_eq!(limit.unwrap().rows, 10);
        // double-groupby: the whole 2 h (shorter than 12 h): 3 hosts × 2 hours, twice
        let double = report
            .iter()
            .find(|r| r.name == "double-groupby-1")
            .unwrap();
        assert_eq!(double.rows, 12);
    }
}
