//! The TSM storage engine (`docs/storage.md`, after InfluxDB 1.x): line protocol →
//! WAL → in-memory cache → immutable TSM files per time shard, merged by
//! compaction, with an inverted series index, tombstones and retention.
//! [`store::Store`] is the engine; [`adapter::TsmAdapter`] exposes it to the
//! query engine as a `StorageAdapter`.

pub mod adapter;
#[cfg(test)]
mod background_tests;
pub(crate) mod bytes;
pub mod cache;
pub mod check;
pub mod compact;
#[cfg(test)]
mod disk_full_tests;
pub mod encoding;
pub mod error;
pub mod export;
pub mod file;
pub(crate) mod framing;
pub mod group_commit;
pub mod index;
pub mod ingest;
pub mod key;
pub mod last_point;
#[cfg(test)]
mod last_point_tests;
pub mod lock;
pub mod maint;
pub(crate) mod recover;
pub mod repair;
pub(crate) mod scan_batch;
#[cfg(test)]
mod scan_group_tests;
#[cfg(test)]
mod scan_tests;
pub mod shard;
pub(crate) mod snapshot;
#[cfg(test)]
mod snapshot_tests;
pub mod store;
pub mod tombstone;
pub mod value;
pub mod view;
pub mod wal;

pub use adapter::{ReadOptions, TsmAdapter};
pub use error::{Result, TsmError};
pub use ingest::WriteReport;
pub use store::{Access, OpenReport, SeriesWrite, Store, StoreOptions};

/// A fresh, empty directory under the system temp dir for one test.
#[cfg(test)]
pub(crate) fn test_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tsq-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}
