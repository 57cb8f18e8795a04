//! Cluster-wide state a proxy takes from meta (DESIGN.md "Cluster-wide
//! state"): every [`SYNC_INTERVAL`] it reads the cluster settings and
//! applies what changed since its last look: ACL users
//! ([`crate::cluster_acl`]; connections of a deleted user are closed) and `CONFIG SET` values
//! ([`crate::cmd::config::apply_cluster`]), so a change made through any
//! proxy holds through this one within that interval.

use std::sync::Arc;
use std::time::Duration;

use crate::state::Shared;

/// How often a proxy looks for changes made through other proxies.
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Applies the cluster's settings every [`SYNC_INTERVAL`], for as long as
/// the proxy runs.
pub(crate) async fn sync_loop(shared: Arc<Shared>) {
    let mut applied = None;
    loop {
        if let Ok(settings) = shared.settings.fetch().await {
            if applied != Some(settings.generation) {
                for user in crate::cluster_acl::apply(&shared.acl, &settings) {
                    shared.clients.kill_user(&user, None);
                }
                crate::cmd::config::apply_cluster(&shared, &settings);
                applied = Some(settings.generation);
            }
        }
        tokio::time::sleep(SYNC_INTERVAL).await;
    }
}
