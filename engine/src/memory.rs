//! Per-query memory accounting.
//!
//! A [`MemoryPool`] holds the query's budget; an operator that buffers state
//! owns a [`MemoryReservation`] on it and grows it (`try_grow`) before holding
//! more, shrinking it when it emits. An operator does not reserve the batches
//! it hands on. When a reservation would push the query past its budget the
//! query stops with [`EngineError::ResourcesExhausted`] naming the operator,
//! the bytes, and what the user can change, instead of the process running
//! out of memory.
//!
//! A pool can have a parent ([`MemoryPool::with_parent`]): every byte
//! reserved from the child is also reserved from the parent, so a database
//! bounds the memory of all its queries together while each query keeps its
//! own budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{EngineError, Result};

/// Default per-query budget: 2 GiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 2 << 30;

/// The budget of one query and the bytes reserved against it.
#[derive(Debug)]
pub struct MemoryPool {
    budget: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    parent: Option<Arc<MemoryPool>>,
}

impl MemoryPool {
    /// A pool allowing `budget` bytes.
    pub fn new(budget: usize) -> Arc<Self> {
        Arc::new(MemoryPool {
            budget,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            parent: None,
        })
    }

    /// A pool allowing `budget` bytes whose reservations also count against
    /// `parent` (and fail when the parent is full).
    pub fn with_parent(budget: usize, parent: Arc<MemoryPool>) -> Arc<Self> {
        Arc::new(MemoryPool {
            budget,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            parent: Some(parent),
        })
    }

    /// Adds `bytes` here and in every parent, or nothing: on failure, the
    /// bytes in use and the budget of the pool that was full.
    fn try_add(&self, bytes: usize) -> std::result::Result<(), (usize, usize)> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let new = used.saturating_add(bytes);
            if new > self.budget {
                return Err((used, self.budget));
            }
            match self
                .used
                .compare_exchange_weak(used, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => used = actual,
            }
        }
        if let Some(parent) = &self.parent {
            if let Err(full) = parent.try_add(bytes) {
                self.used.fetch_sub(bytes, Ordering::Relaxed);
                return Err(full);
            }
        }
        self.peak.fetch_max(used + bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Releases `bytes` here and in every parent.
    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.release(bytes);
        }
    }

    /// A pool with no practical limit.
    pub fn unbounded() -> Arc<Self> {
        Self::new(usize::MAX)
    }

    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes currently reserved.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Most bytes reserved at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// A new empty reservation for `operator`; `hint` is appended to the
    /// error if the reservation cannot grow.
    pub fn reservation(self: &Arc<Self>, operator: &str, hint: &str) -> MemoryReservation {
        MemoryReservation {
            pool: Arc::clone(self),
            operator: operator.to_string(),
            hint: hint.to_string(),
            size: 0,
            peak: 0,
        }
    }
}

/// Bytes held by one operator, released when dropped.
#[derive(Debug)]
pub struct MemoryReservation {
    pool: Arc<MemoryPool>,
    operator: String,
    hint: String,
    size: usize,
    peak: usize,
}

impl MemoryReservation {
    /// Bytes held by this reservation.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Most bytes this reservation held at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Reserves `bytes` more, or fails without reserving anything.
    pub fn try_grow(&mut self, bytes: usize) -> Result<()> {
        if let Err((used, budget)) = self.pool.try_add(bytes) {
            return Err(EngineError::ResourcesExhausted {
                operator: self.operator.clone(),
                requested: bytes,
                held: self.size,
                used,
                budget,
                hint: self.hint.clone(),
            });
        }
        self.size += bytes;
        self.peak = self.peak.max(self.size);
        Ok(())
    }

    /// Grows or shrinks the reservation to exactly `bytes`.
    pub fn try_resize(&mut self, bytes: usize) -> Result<()> {
        if bytes > self.size {
            self.try_grow(bytes - self.size)
        } else {
            self.shrink(self.size - bytes);
            Ok(())
        }
    }

    /// Releases `bytes` (at most what is held).
    pub fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.size);
        self.pool.release(bytes);
        self.size -= bytes;
    }

    /// Releases everything held.
    pub fn free(&mut self) {
        self.shrink(self.size);
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        self.free();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_until_budget_then_names_operator() {
        let pool = MemoryPool::new(100);
        let mut a = pool.reservation("MTAggOp", "add FILL(zero)");
        a.try_grow(60).unwrap();
        let mut b = pool.reservation("GroupedAggOp", "");
        b.try_grow(40).unwrap();
        let err = a.try_grow(1).unwrap_err().to_string();
        assert!(
            err.contains("MTAggOp") && err.contains("needed 1 more bytes"),
            "{err}"
        );
        assert!(err.contains("add FILL(zero)"), "{err}");
        assert_eq!(pool.used(), 100);
        drop(b);
        assert_eq!(pool.used(), 60);
        a.try_resize(10).unwrap();
        assert_eq!((pool.used(), pool.peak(), a.peak()), (10, 100, 60));
    }

    #[test]
    fn child_pools_share_their_parent() {
        let shared = MemoryPool::new(100);
        let q1 = MemoryPool::with_parent(80, Arc::clone(&shared));
        let q2 = MemoryPool::with_parent(80, Arc::clone(&shared));
        let mut a = q1.reservation("MTAggOp", "");
        a.try_grow(70).unwrap();
        let mut b = q2.reservation("GroupedAggOp", "");
        // q2 alone has room (40 <= 80), the shared pool does not (70 + 40 > 100)
        let err = b.try_grow(40).unwrap_err();
        let EngineError::ResourcesExhausted { used, budget, .. } = err else {
            panic!("{err}")
        };
        assert_eq!((used, budget), (70, 100));
        assert_eq!((q2.used(), shared.used()), (0, 70));
        b.try_grow(30).unwrap();
        assert_eq!(shared.used(), 100);
        // the query budget still applies on its own
        assert!(a.try_grow(11).is_err());
        drop(a);
        assert_eq!((q1.used(), shared.used(), shared.peak()), (0, 30, 100));
    }
}
