//! Lock helpers used by every store in this crate: one way to handle lock
//! poisoning. A thread that panics while holding a lock poisons it; the
//! stores keep their state consistent under a lock (a file set, a cache or a
//! series map is replaced by a finished one, never left half-updated), so a
//! poisoned lock is still usable and these helpers recover its guard instead
//! of propagating the panic to every later reader.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `m`, recovering the guard if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read-locks `l`, recovering the guard if a panicking thread poisoned it.
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// Write-locks `l`, recovering the guard if a panicking thread poisoned it.
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn poisoned_locks_are_recovered_with_their_value() {
        let m = Arc::new(Mutex::new(1));
        let l = Arc::new(RwLock::new(2));
        let (m2, l2) = (Arc::clone(&m), Arc::clone(&l));
        let panicked = std::thread::spawn(move || {
            let _m = lock(&m2);
            let _l = write(&l2);
            panic!("poison both");
        })
        .join();
        assert!(panicked.is_err());
        assert!(m.is_poisoned() && l.is_poisoned());
        *lock(&m) += 10;
        assert_eq!(*lock(&m), 11);
        *write(&l) += 20;
        assert_eq!(*read(&l), 22);
    }
}
