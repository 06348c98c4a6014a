//! Prints the TSBS queries of `tsq bench` (tsq text and SQL) for a scale,
//! as markdown: `cargo run -p tsq-benches --example tsbs_queries [SCALE]`.
//! The tsq text runs as is in the REPL of `tsq demo` (same data at scale 1).

fn main() {
    let scale: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let config = tsq_benches::tsbs::config(scale);
    for q in tsq_benches::tsbs::queries::queries(&config) {
        println!("### {}\n\n{} ({} points).\n", q.name, q.about, q.points);
        println!(
            "```sql\n-- tsq\n{};\n-- DataFusion\n{};\n```\n",
            q.tsq, q.sql
        );
    }
}
