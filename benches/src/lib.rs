//! Benchmark support code; the criterion benches live in `benches/`.
