//! The async runtime a Petrel process runs on, sized by its
//! `worker_threads` key.

use tokio::runtime::{Builder, Runtime};

/// A multi-threaded runtime with `worker_threads` workers; 0 keeps tokio's
/// default, one per CPU (`TOKIO_WORKER_THREADS` overrides that default).
///
/// Several processes sharing a few cores (a onebox, or a proxy next to a
/// server) each do better with fewer workers: every idle worker a task wakes
/// is a futex call and a context switch on a core another process needs.
pub fn build(worker_threads: usize) -> std::io::Result<Runtime> {
    let mut builder = Builder::new_multi_thread();
    if worker_threads > 0 {
        builder.worker_threads(worker_threads);
    }
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sized_runtime_has_that_many_workers() {
        let rt = build(1).expect("runtime");
        assert_eq!(rt.metrics().num_workers(), 1);
        let rt = build(3).expect("runtime");
        assert_eq!(rt.metrics().num_workers(), 3);
        assert_eq!(
            rt.block_on(async { tokio::spawn(async { 7 }).await.ok() }),
            Some(7)
        );
    }
}
