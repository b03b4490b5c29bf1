//! The one way the engine takes a mutex.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, carrying on if another thread panicked while holding it: every critical
/// section leaves its data consistent before anything that could panic (and a panic in a
/// backend call is caught before it unwinds through the engine: `Shared::guard_panic`).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
