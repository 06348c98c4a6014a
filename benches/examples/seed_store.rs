//! Writes seed case 1 (1000 × SCALE timelines of measurement `m`, field
//! `v`, one point every 5 s for an hour) into a new TSM store in DIR, for
//! the CLI measurements of `docs/benchmarks.md` ("Streaming a raw select"):
//! `cargo run --release -p tsq-benches --example seed_store SCALE DIR`.

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let scale: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: seed_store SCALE DIR");
        std::process::exit(2);
    };
    let case = tsq_benches::cases::seed_case_1(1000 * scale);
    let points = case.shape.points();
    if let Err(e) = tsq_benches::data::tsm_gauge_dataset(case.shape, 1, &dir) {
        eprintln!("cannot write the store in {}: {e}", dir.display());
        std::process::exit(1);
    }
    println!(
        "wrote {points} points of {} into {}",
        case.name,
        dir.display()
    );
}
