//! One handle for a service: a [`Database`] owns the store (TSM files in a
//! directory, or memory), the adapter queries read through, and a memory
//! pool shared by every query of the database. Writes run on tokio's
//! blocking pool (the TSM store fsyncs its WAL); queries go through
//! [`Session`]s, whose work runs on the planner's dedicated runtime
//! (`docs/library.md`). The low-level `Store`, adapters and operators stay
//! public for those who build their own.

mod memory_ingest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsq_engine::memory::MemoryPool;
use tsq_engine::StorageAdapter;
use tsq_planner::{Session, SessionConfig};
use tsq_storage::line_protocol::Precision;
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::{OpenReport, Store, StoreOptions, TsmAdapter, TsmError, WriteReport};

/// Default size of the pool shared by all queries of a database: 4 GiB.
pub const DEFAULT_SHARED_MEMORY: usize = 4 << 30;

/// Everything opening, writing to or closing a [`Database`] can fail with.
/// Query errors are the planner's [`TsqError`](tsq_planner::TsqError).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The store could not be opened.
    #[error("cannot open the store in {}: {source}", dir.display())]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: TsmError,
    },
    /// A write failed as a whole (I/O on the WAL...); per-line problems
    /// are in the [`WriteReport`] instead.
    #[error("write failed: {0}")]
    Write(#[source] TsmError),
    /// Flushing the store at close failed.
    #[error("close failed: {0}")]
    Close(#[source] TsmError),
    /// The blocking task running the store call panicked.
    #[error("the storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Result alias of [`Database`] calls.
pub type Result<T, E = DatabaseError> = std::result::Result<T, E>;

/// How to open a [`Database`]. Build with [`DatabaseOptions::new`] and the
/// `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DatabaseOptions {
    /// Tuning of the TSM store (ignored in memory).
    pub store: StoreOptions,
    /// The settings of [`Database::session`].
    pub session: SessionConfig,
    /// Bytes all running queries of the database may reserve together
    /// (each query also has its own budget, `SessionConfig::memory_budget`).
    pub shared_memory: usize,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        DatabaseOptions {
            store: StoreOptions::default(),
            session: SessionConfig::default(),
            shared_memory: DEFAULT_SHARED_MEMORY,
        }
    }
}

impl DatabaseOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tuning of the TSM store.
    pub fn with_store_options(mut self, store: StoreOptions) -> Self {
        self.store = store;
        self
    }

    /// The settings of [`Database::session`].
    pub fn with_session_config(mut self, config: SessionConfig) -> Self {
        self.session = config;
        self
    }

    /// Bytes all running queries may reserve together.
    pub fn with_shared_memory(mut self, bytes: usize) -> Self {
        self.shared_memory = bytes;
        self
    }
}

/// Where the points live.
#[derive(Debug)]
enum Backend {
    Tsm(Arc<Store>),
    Memory(Arc<MemoryAdapter>),
}

/// A time-series database: write line protocol, query through sessions.
/// Cheap to clone (the clones share the store); `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    adapter: Arc<dyn StorageAdapter>,
    memory: Arc<MemoryPool>,
    config: SessionConfig,
    report: OpenReport,
}

impl Database {
    /// Opens (creating) the TSM store in `dir` with the default options:
    /// loads its index and files and replays its WAL, on the blocking pool.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Database> {
        Self::open_with(dir, DatabaseOptions::default()).await
    }

    /// Opens (creating) the TSM store in `dir` with `options`.
    pub async fn open_with(dir: impl AsRef<Path>, options: DatabaseOptions) -> Result<Database> {
        let dir = dir.as_ref().to_path_buf();
        let store_options = options.store.clone();
        let opened = blocking(move || {
            Store::open(&dir, store_options).map_err(|source| DatabaseError::Open { dir, source })
        })
        .await??;
        let (store, report) = opened;
        let store = Arc::new(store);
        let adapter: Arc<dyn StorageAdapter> = Arc::new(TsmAdapter::new(Arc::clone(&store)));
        Ok(Self::assemble(
            Backend::Tsm(store),
            adapter,
            options,
            report,
        ))
    }

    /// An empty database in memory (lost when the last clone is dropped).
    pub fn in_memory() -> Database {
        Self::in_memory_with(DatabaseOptions::default())
    }

    /// An empty database in memory with `options` (the store options are
    /// ignored).
    pub fn in_memory_with(options: DatabaseOptions) -> Database {
        let memory = Arc::new(MemoryAdapter::new());
        let adapter: Arc<dyn StorageAdapter> = Arc::clone(&memory) as Arc<dyn StorageAdapter>;
        Self::assemble(
            Backend::Memory(memory),
            adapter,
            options,
            OpenReport::default(),
        )
    }

    fn assemble(
        backend: Backend,
        adapter: Arc<dyn StorageAdapter>,
        options: DatabaseOptions,
        report: OpenReport,
    ) -> Database {
        Database {
            inner: Arc::new(Inner {
                backend,
                adapter,
                memory: MemoryPool::new(options.shared_memory),
                config: options.session,
                report,
            }),
        }
    }

    /// What opening the store found (WAL entries replayed, recoverable
    /// problems such as a truncated WAL tail); empty in memory.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// Writes line protocol with nanosecond timestamps. Every valid line is
    /// written (durably, for a TSM store, when this returns); bad lines are
    /// listed with their line and column in [`WriteReport::errors`].
    pub async fn write_lp(&self, text: impl Into<String>) -> Result<WriteReport> {
        self.write_lp_with_precision(text, Precision::Nanoseconds)
            .await
    }

    /// Writes line protocol whose timestamps are in `precision`.
    pub async fn write_lp_with_precision(
        &self,
        text: impl Into<String>,
        precision: Precision,
    ) -> Result<WriteReport> {
        let text = text.into();
        let inner = Arc::clone(&self.inner);
        blocking(move || match &inner.backend {
            Backend::Tsm(store) => store
                .write_lines(&text, precision)
                .map_err(DatabaseError::Write),
            Backend::Memory(memory) => Ok(memory_ingest::write(memory, &text, precision)),
        })
        .await?
    }

    /// A session with the database's settings; its queries share the
    /// database's memory pool.
    pub fn session(&self) -> Session {
        self.session_with(self.inner.config.clone())
    }

    /// A session with other settings (still sharing the memory pool).
    pub fn session_with(&self, config: SessionConfig) -> Session {
        Session::new(Arc::clone(&self.inner.adapter), config)
            .with_shared_memory(Arc::clone(&self.inner.memory))
    }

    /// The adapter queries read through (for hand-built operator DAGs).
    pub fn adapter(&self) -> Arc<dyn StorageAdapter> {
        Arc::clone(&self.inner.adapter)
    }

    /// The TSM store, for maintenance calls (`None` in memory).
    pub fn store(&self) -> Option<&Arc<Store>> {
        match &self.inner.backend {
            Backend::Tsm(store) => Some(store),
            Backend::Memory(_) => None,
        }
    }

    /// The pool shared by all queries of the database.
    pub fn memory_pool(&self) -> &Arc<MemoryPool> {
        &self.inner.memory
    }

    /// Shuts down cleanly: flushes the store's cache into TSM files (on the
    /// blocking pool), so that the next open has no WAL to replay. Other
    /// clones stay usable; the store closes when the last one is dropped.
    pub async fn close(self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        drop(self);
        blocking(move || match &inner.backend {
            Backend::Tsm(store) => store.flush().map_err(DatabaseError::Close),
            Backend::Memory(_) => Ok(()),
        })
        .await?
    }
}

/// Runs `f` on tokio's blocking pool when called inside a tokio runtime,
/// else right here (the caller is then not a runtime worker).
async fn blocking<T, F>(f: F) -> Result<T, tokio::task::JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.spawn_blocking(f).await,
        Err(_) => Ok(f()),
    }
}
