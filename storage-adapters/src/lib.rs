//! tsq storage adapters: the TSM storage engine (block encodings, files, WAL, cache, index) and the
//! InfluxDB line-protocol parser that feeds its write path.

pub mod line_protocol;
pub mod tsm;
