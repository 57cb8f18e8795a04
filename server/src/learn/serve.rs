//! The primary's side: answering a learner's CHECKPOINT_PREPARE and
//! CHECKPOINT_FETCH from the [`CheckpointStore`], off the async runtime
//! (checkpoints flush memtables; chunks are disk reads).
//!
//! Whether this server may serve the partition at the learner's ballot is
//! the caller's check, made before [`prepare`].

use std::sync::Arc;

use petrel_common::ids::Gpid;
use petrel_common::msg::{
    CheckpointFetchRequest, CheckpointFetchResponse, CheckpointPrepareResponse,
};

use super::store::CheckpointStore;
use super::{blocking, LearnError};
use crate::storage::Engine;

/// Checkpoints `engine`, the storage of this server's replica of `gpid`, for
/// a learner, and lists its files.
pub(crate) async fn prepare(
    store: Arc<CheckpointStore>,
    gpid: Gpid,
    engine: Arc<dyn Engine>,
) -> Result<CheckpointPrepareResponse, LearnError> {
    let resp = blocking(move || {
        let rocks = engine.as_rocks().ok_or(LearnError::NotCheckpointable)?;
        store.prepare(gpid, rocks)
    })
    .await?;
    metrics::counter!("petrel_server_checkpoints_served_total").increment(1);
    Ok(resp)
}

/// Serves one chunk of one file of a prepared checkpoint.
pub(crate) async fn fetch(
    store: Arc<CheckpointStore>,
    req: CheckpointFetchRequest,
) -> Result<CheckpointFetchResponse, LearnError> {
    blocking(move || store.fetch(&req)).await
}
