//! Prints the TSBS `cpu-only` queries (tsq's text) for the data of
//! `tsq demo --hosts H --hours N` as a JSON array of `{"name", "tsq"}`,
//! for clients in other languages that run them (the Python Flight SQL
//! test, `tests/python/flight_sql_client.py`).
//!
//! ```text
//! cargo run --example tsbs_queries -- --hosts 4 --hours 2
//! ```

use clap::Parser;
use serde_json::json;
use tsq::demo::DemoConfig;

/// The command line: the demo dataset's shape (`tsq demo`'s defaults).
#[derive(Debug, Parser)]
struct Args {
    /// Hosts of the dataset.
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Hours of data.
    #[arg(long, default_value_t = 12)]
    hours: u64,
}

fn main() {
    let args = Args::parse();
    let config = DemoConfig {
        hosts: args.hosts,
        hours: args.hours,
        ..DemoConfig::default()
    };
    let queries: Vec<_> = tsq_bench_runner::tsbs::queries::queries(&config)
        .into_iter()
        .map(|q| json!({"name": q.name, "tsq": q.tsq}))
        .collect();
    println!("{}", serde_json::Value::Array(queries));
}
