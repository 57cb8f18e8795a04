//! `PFSELFTEST`, answered by the proxy: the HyperLogLog code it tests is
//! the servers' own (`petrel_common::hll`), run here so no partition is
//! kept busy by its 20 million additions.

use bytes::Bytes;
use futures::FutureExt;
use petrel_common::hll::{self, DEFAULT_SPARSE_MAX_BYTES, SPARSE_MAX_BYTES_SETTING};
use petrel_common::reply::Reply;

use crate::action::{Action, Ctx};

/// `PFSELFTEST`: `OK`, or Redis's `TESTFAILED ...` error.
pub(crate) fn selftest(ctx: &mut Ctx<'_>, _: &[Bytes]) -> Action {
    let shared = ctx.shared.clone();
    Action::Later(
        async move {
            // The cluster's limit (meta keeps it in bytes) decides when the
            // sparse HLL must still be sparse, as the servers' does in
            // Redis's test.
            let cluster = shared.settings.current().await;
            let max = cluster
                .message()
                .settings
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(SPARSE_MAX_BYTES_SETTING))
                .and_then(|s| s.value.parse().ok())
                .unwrap_or(DEFAULT_SPARSE_MAX_BYTES);
            let seed = rand::random();
            match tokio::task::spawn_blocking(move || hll::selftest(seed, max)).await {
                Ok(Ok(())) => Reply::ok(),
                Ok(Err(failed)) => Reply::error(failed),
                Err(e) => Reply::error(format!("ERR PFSELFTEST did not finish: {e}")),
            }
        }
        .boxed(),
    )
}
