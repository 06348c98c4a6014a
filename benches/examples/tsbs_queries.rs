//! Prints the TSBS queries of `tsq bench` (tsq text and SQL) as markdown:
//! `cargo run -p tsq-benches --example tsbs_queries [SCALE]` gives the fixed
//! set of `--suite tsbs` for a scale (the tsq text runs as is in the REPL of
//! `tsq demo`, same data at scale 1);
//! `cargo run -p tsq-benches --example tsbs_queries -- --hosts 4000 --hours 72
//! --seed 1 --queries 2` gives the random instances `tsq bench --suite
//! tsbs-store --seed 1 --queries 2` runs on a `tsq demo --hosts 4000 --hours
//! 72` store.

use tsq_benches::demo::{DemoConfig, DEFAULT_START, INTERVAL_SECONDS};
use tsq_benches::tsbs::queries::TsbsQuery;
use tsq_benches::tsbs::random::{generate, QuerySpace, QUERY_TYPES};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let queries: Vec<TsbsQuery> = match flag("--hosts") {
        Some(hosts) => {
            let config = DemoConfig {
                hosts: hosts as usize,
                hours: flag("--hours").unwrap_or(72),
                seed: 42,
                start: DEFAULT_START,
            };
            // what `tsq bench --suite tsbs-store` reads from the store: one
            // second past the last row
            let space = QuerySpace {
                start: config.start,
                end: config.end() - (INTERVAL_SECONDS - 1) * 1_000_000_000,
                hosts: (0..config.hosts).map(|h| format!("host_{h}")).collect(),
            };
            let types: Vec<_> = QUERY_TYPES.iter().map(|(_, t)| *t).collect();
            let n = flag("--queries").unwrap_or(1) as usize;
            generate(&space, &types, n, flag("--seed").unwrap_or(1))
                .into_iter()
                .flat_map(|(_, instances)| instances)
                .collect()
        }
        None => {
            let scale: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(1.0);
            tsq_benches::tsbs::queries::queries(&tsq_benches::tsbs::config(scale))
        }
    };
    for q in queries {
        println!("### {}\n\n{} ({} points).\n", q.name, q.about, q.points);
        println!(
            "```sql\n-- tsq\n{};\n-- DataFusion\n{};\n```\n",
            q.tsq, q.sql
        );
    }
}
