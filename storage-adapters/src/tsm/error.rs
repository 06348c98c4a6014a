//! The TSM engine's error type and `Result` alias. Every message names the
//! file and byte offset where that applies; [`TsmError`] converts into the
//! engine's `EngineError::Storage` at the adapter boundary.

use std::path::{Path, PathBuf};

/// Result alias of the TSM engine.
pub type Result<T, E = TsmError> = std::result::Result<T, E>;

/// Everything the TSM store can report.
#[derive(Debug, thiserror::Error)]
pub enum TsmError {
    /// An operating-system I/O call failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's bytes do not decode (checksum mismatch, truncation, bad magic...).
    #[error("corrupt file {path} at offset {offset}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damaged record or block.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// A file written in a format this build does not read (an older
    /// record framing, see `docs/storage.md`).
    #[error("unsupported file {path}: {message}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Which format it is and what to do.
        message: String,
    },
    /// A field was written with a type other than the one it already has.
    #[error("field type conflict for series '{key}': stored as {stored}, written as {written}")]
    TypeConflict {
        /// Series key.
        key: String,
        /// Type already stored.
        stored: &'static str,
        /// Type of the new write.
        written: &'static str,
    },
    /// A query needs a TSM file that failed its checks when the store was
    /// opened (`source`), and partial results were not allowed.
    #[error(
        "{source}; the query's time range needs this file{} (allow partial results to leave it out)",
        others_text(*others)
    )]
    NeededFileUnreadable {
        /// The first such file's error (names the file and the offset).
        source: std::sync::Arc<TsmError>,
        /// How many other unreadable files the query also needs.
        others: usize,
    },
    /// A caller passed something the store cannot handle.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Another writer holds the directory's lock (docs/storage.md,
    /// "Multi-process rules").
    #[error("{}", in_use_message(dir, holder, *reading))]
    InUse {
        /// The store directory.
        dir: PathBuf,
        /// Who holds it: `pid N (command)`.
        holder: String,
        /// True when a read-only open was refused.
        reading: bool,
    },
    /// A write, flush, compaction or delete on a store opened read-only.
    #[error("store {} is open read-only: cannot {}", .0.display(), .1)]
    ReadOnly(PathBuf, &'static str),
    /// The write was logged (durable) but the snapshot it triggered failed;
    /// the WAL still holds every point and the store stays openable.
    #[error("snapshot failed ({points} points of this write are durable in the WAL): {source}")]
    SnapshotFailed {
        /// Points this write made durable before the snapshot failed.
        points: usize,
        /// Why the snapshot failed.
        #[source]
        source: Box<TsmError>,
    },
}

fn in_use_message(dir: &Path, holder: &str, reading: bool) -> String {
    let dir = dir.display();
    if reading {
        format!("store {dir} is in use by a writer, {holder}; open it again once that process has finished")
    } else {
        format!(
            "store {dir} is in use by {holder}; only one process may write to a store at a time"
        )
    }
}

impl TsmError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        TsmError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A corruption error in `path` at `offset`.
    pub fn corrupt(path: &Path, offset: u64, message: impl Into<String>) -> Self {
        TsmError::Corrupt {
            path: path.to_path_buf(),
            offset,
            message: message.into(),
        }
    }
}

/// " and N other unreadable files", or nothing for 0.
fn others_text(others: usize) -> String {
    match others {
        0 => String::new(),
        1 => " and 1 other unreadable file".into(),
        n => format!(" and {n} other unreadable files"),
    }
}

impl From<TsmError> for tsq_engine::EngineError {
    fn from(e: TsmError) -> Self {
        tsq_engine::EngineError::Storage(e.to_string())
    }
}

/// Extension to attach a path to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    /// Maps an I/O error into [`TsmError::Io`] naming `path`.
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| TsmError::io(path, e))
    }
}
