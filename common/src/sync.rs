//! Lock helpers.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, recovering the guard if a holder panicked: every Petrel mutex
/// guards state whose updates are single assignments or map inserts, which a
/// panic cannot leave half done.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
