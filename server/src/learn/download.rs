//! The learner's side: copying a primary's checkpoint into a staging
//! directory.
//!
//! Files are fetched in chunks, a few requests in flight; a listing that
//! could write outside the staging directory is refused before anything is
//! written, and every file is checked against its listed length and fsynced.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use petrel_common::ids::{Ballot, Decree, Gpid};
use petrel_common::msg::{
    method, CheckpointFetchRequest, CheckpointFetchResponse, CheckpointFileMsg,
    CheckpointPrepareRequest, CheckpointPrepareResponse,
};
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::RpcError;
use tokio::io::AsyncWriteExt;
use tracing::{debug, info, warn};

use super::{blocking, files, io_err, sync_dir, LearnError};
use crate::storage::rocks;

/// Bytes asked for in one CHECKPOINT_FETCH.
pub(crate) const FETCH_CHUNK: u32 = 1 << 20;
/// Chunk requests in flight at once during a download.
const FETCH_WINDOW: usize = 4;
/// Deadline of one CHECKPOINT_FETCH.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline of CHECKPOINT_PREPARE: it flushes memtables on the primary,
/// which a write stall can hold up for a while.
pub(crate) const PREPARE_TIMEOUT: Duration = Duration::from_secs(30);

/// Copies a checkpoint of `gpid` from `primary` into `staging` (replaced if
/// present) and returns the applied decree it holds. Every file is checked
/// against its listed length and fsynced, and the staged database is opened
/// read-only to confirm the decree. On error `staging` is removed.
pub(crate) async fn download(
    rpc: &RpcClient,
    primary: &str,
    gpid: Gpid,
    ballot: Ballot,
    staging: &Path,
) -> Result<Decree, LearnError> {
    let result = download_into(rpc, primary, gpid, ballot, staging).await;
    if let Err(e) = &result {
        warn!(%gpid, %primary, error = %e, "checkpoint download failed");
        let dir = staging.to_path_buf();
        let removed = blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", &dir)(e)),
            _ => Ok(()),
        })
        .await;
        if let Err(e) = removed {
            warn!(staging = %staging.display(), error = %e, "cannot remove failed staging directory");
        }
    }
    result
}

async fn download_into(
    rpc: &RpcClient,
    primary: &str,
    gpid: Gpid,
    ballot: Ballot,
    staging: &Path,
) -> Result<Decree, LearnError> {
    let started = Instant::now();
    let req = CheckpointPrepareRequest {
        table_id: gpid.table.0,
        partition_id: gpid.partition.0,
        ballot: ballot.0,
    };
    let prepared: CheckpointPrepareResponse = rpc
        .call(primary, method::CHECKPOINT_PREPARE, &req, PREPARE_TIMEOUT)
        .await
        .map_err(rpc_err("prepare", primary))?;
    check_listing(&prepared.files)?;
    let announced = Decree(prepared.decree);
    let bytes: u64 = prepared.files.iter().map(|f| f.len).sum();
    info!(%gpid, %primary, id = %prepared.id, decree = %announced, files = prepared.files.len(), bytes, "downloading checkpoint");

    let dir = staging.to_path_buf();
    blocking(move || fresh_dir(&dir)).await?;
    for file in &prepared.files {
        fetch_file(rpc, primary, gpid, &prepared.id, file, staging).await?;
    }
    let dir = staging.to_path_buf();
    let found = blocking(move || {
        sync_dir(&dir)?;
        Ok(rocks::applied_decree_of(&dir)?)
    })
    .await?;
    if found != announced {
        return Err(LearnError::DecreeMismatch { announced, found });
    }
    info!(%gpid, %primary, decree = %announced, bytes, elapsed_ms = started.elapsed().as_millis() as u64, "checkpoint downloaded");
    Ok(announced)
}

/// Refuses a listing that could write outside the staging directory, names
/// a file twice, or is not a database.
fn check_listing(files: &[CheckpointFileMsg]) -> Result<(), LearnError> {
    let mut seen = std::collections::HashSet::new();
    for f in files {
        files::validate_name(&f.name)
            .map_err(|_| LearnError::BadListing(format!("unsafe file name {:?}", f.name)))?;
        if !seen.insert(f.name.as_str()) {
            return Err(LearnError::BadListing(format!("{:?} listed twice", f.name)));
        }
    }
    if !seen.contains("CURRENT") {
        return Err(LearnError::BadListing("no CURRENT file".into()));
    }
    Ok(())
}

/// Fetches one file in chunks, a few requests in flight, writing them in
/// order; then checks its length and fsyncs it.
async fn fetch_file(
    rpc: &RpcClient,
    primary: &str,
    gpid: Gpid,
    id: &str,
    file: &CheckpointFileMsg,
    staging: &Path,
) -> Result<(), LearnError> {
    let path = staging.join(&file.name);
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(io_err("create", &path))?;
    let chunk = u64::from(FETCH_CHUNK);
    let offsets = (0..file.len.div_ceil(chunk)).map(|i| i * chunk);
    let mut chunks = futures::stream::iter(offsets)
        .map(|offset| {
            let want = (file.len - offset).min(chunk);
            let req = CheckpointFetchRequest {
                table_id: gpid.table.0,
                partition_id: gpid.partition.0,
                id: id.to_string(),
                name: file.name.clone(),
                offset,
                // At most FETCH_CHUNK, so lossless.
                len: want as u32,
            };
            async move {
                let resp: CheckpointFetchResponse = rpc
                    .call(primary, method::CHECKPOINT_FETCH, &req, FETCH_TIMEOUT)
                    .await
                    .map_err(rpc_err("fetch", primary))?;
                Ok::<_, LearnError>((offset, want, resp.data))
            }
        })
        .buffered(FETCH_WINDOW);
    let mut written = 0u64;
    while let Some((offset, want, data)) = chunks.try_next().await? {
        let got = data.len() as u64;
        // Every chunk lies inside the listed length, so the primary owes
        // exactly what was asked; less means its file is shorter than listed.
        if got < want {
            return Err(LearnError::Truncated {
                name: file.name.clone(),
                expected: file.len,
                got: offset + got,
            });
        }
        if got > want {
            return Err(LearnError::OversizedChunk {
                name: file.name.clone(),
                offset,
                asked: want,
                got,
            });
        }
        out.write_all(&data).await.map_err(io_err("write", &path))?;
        written += got;
    }
    out.flush().await.map_err(io_err("write", &path))?;
    out.sync_all().await.map_err(io_err("fsync", &path))?;
    let on_disk = out
        .metadata()
        .await
        .map_err(io_err("inspect", &path))?
        .len();
    if written != file.len || on_disk != file.len {
        return Err(LearnError::Truncated {
            name: file.name.clone(),
            expected: file.len,
            got: on_disk,
        });
    }
    debug!(%gpid, name = %file.name, bytes = file.len, "checkpoint file fetched");
    Ok(())
}

fn rpc_err<'a>(method: &'static str, peer: &'a str) -> impl FnOnce(RpcError) -> LearnError + 'a {
    move |source| LearnError::Rpc {
        method,
        peer: peer.to_string(),
        source,
    }
}

/// Removes `dir` if present and creates it empty.
fn fresh_dir(dir: &Path) -> Result<(), LearnError> {
    if dir.try_exists().map_err(io_err("inspect", dir))? {
        std::fs::remove_dir_all(dir).map_err(io_err("remove", dir))?;
    }
    std::fs::create_dir_all(dir).map_err(io_err("create", dir))
}
