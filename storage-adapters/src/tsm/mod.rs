//! The TSM storage engine (InfluxDB 1.x design, DESIGN.md §5): compressed column blocks, files, WAL,
//! cache and index. This module currently holds the block encodings that every TSM block is written with.

pub mod encoding;
