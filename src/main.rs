//! The `tsq` command.
fn main() {}
