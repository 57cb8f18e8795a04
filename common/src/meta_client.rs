//! Calling meta, which is a Raft group of 1, 3 or 5 processes: only its
//! leader answers; the others redirect with the leader's address
//! ([`ServiceError::NotLeader`]).
//!
//! A [`MetaClient`] tries the meta it last heard from first, then every
//! configured address, following redirects (even to a meta that is not in
//! its list, e.g. one added since), and remembers who answered. While the
//! group elects a leader nobody answers; the client tries again every
//! [`RETRY_PAUSE`] until the caller's timeout. Servers, proxies and the
//! CLI all reach meta through it.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;

use crate::rpc::client::RpcClient;
use crate::rpc::{RpcError, ServiceError};
use crate::sync::lock;

/// Pause between two rounds over every meta address when none answered as
/// leader (an election takes a few hundred milliseconds).
pub const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Why a call to meta produced no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetaCallError {
    /// The leader refused the request; this is its answer.
    #[error("meta {addr}: {error}")]
    Refused { addr: String, error: ServiceError },
    /// No meta answered as leader before the deadline; what each said.
    #[error("{0}")]
    NoLeader(String),
}

impl MetaCallError {
    /// The leader's refusal, if that is what this is.
    pub fn refusal(&self) -> Option<&ServiceError> {
        match self {
            MetaCallError::Refused { error, .. } => Some(error),
            MetaCallError::NoLeader(_) => None,
        }
    }
}

/// The meta group as a caller sees it; clones share what they learned.
#[derive(Clone)]
pub struct MetaClient {
    rpc: RpcClient,
    addrs: Arc<Vec<String>>,
    /// The meta that answered last: the leader, as far as we know.
    leader: Arc<Mutex<Option<String>>>,
}

impl MetaClient {
    /// A client of the metas at `addrs`, over `rpc`.
    pub fn new(rpc: RpcClient, addrs: Vec<String>) -> MetaClient {
        MetaClient {
            rpc,
            addrs: Arc::new(addrs),
            leader: Arc::default(),
        }
    }

    /// The configured meta addresses.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// The RPC client calls go through.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The meta that answered last, if any did.
    pub fn leader(&self) -> Option<String> {
        lock(&self.leader).clone()
    }

    /// Calls method `m` at the meta leader, waiting up to `timeout` in all.
    ///
    /// Only an unanswered request is sent again (to another meta or after
    /// a pause): a request that reached a meta which lost its leadership
    /// meanwhile may have been carried out, like any request that timed out.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        m: u16,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, MetaCallError> {
        let deadline = Instant::now() + timeout;
        let mut failures: Vec<String> = Vec::new();
        loop {
            let mut queue: VecDeque<String> = self.leader().into_iter().collect();
            queue.extend(self.addrs.iter().cloned());
            let mut tried = HashSet::new();
            while let Some(addr) = queue.pop_front() {
                if !tried.insert(addr.clone()) {
                    continue;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match self.rpc.call::<Req, Resp>(&addr, m, req, left).await {
                    Ok(resp) => {
                        *lock(&self.leader) = Some(addr);
                        return Ok(resp);
                    }
                    Err(RpcError::Remote(ServiceError::NotLeader(named))) => {
                        if let Some(l) = named {
                            failures.push(format!("meta {addr}: not the leader ({l} is)"));
                            queue.push_front(l);
                        } else {
                            failures.push(format!("meta {addr}: not the leader (none known yet)"));
                        }
                    }
                    // Just elected, or cut off from its group: ask again.
                    Err(RpcError::Remote(ServiceError::Unavailable(why))) => {
                        failures.push(format!("meta {addr}: {why}"));
                    }
                    Err(RpcError::Remote(error)) => {
                        *lock(&self.leader) = Some(addr.clone());
                        return Err(MetaCallError::Refused { addr, error });
                    }
                    Err(e) => {
                        let mut leader = lock(&self.leader);
                        if leader.as_deref() == Some(addr.as_str()) {
                            *leader = None;
                        }
                        failures.push(format!("meta {addr}: {e}"));
                    }
                }
            }
            if Instant::now() + RETRY_PAUSE >= deadline {
                if failures.is_empty() {
                    failures.push("no meta address configured".to_string());
                }
                // The last word from each meta is what matters.
                let keep = failures.len().saturating_sub(self.addrs.len().max(1) * 2);
                return Err(MetaCallError::NoLeader(failures[keep..].join("; ")));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{method, ListTablesRequest, ListTablesResponse};
    use crate::rpc::server::{encode, serve, Handled, Service};
    use bytes::Bytes;
    use futures::future::BoxFuture;
    use futures::FutureExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    /// A meta that redirects to `leader`, or answers when `leader` is None.
    struct Fake {
        leader: Mutex<Option<Option<String>>>,
        calls: AtomicUsize,
    }

    impl Service for Fake {
        fn call(self: Arc<Self>, _m: u16, _body: Bytes) -> BoxFuture<'static, Handled> {
            async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                match lock(&self.leader).clone() {
                    Some(named) => Err(ServiceError::NotLeader(named)),
                    None => encode(&ListTablesResponse { tables: Vec::new() }),
                }
            }
            .boxed()
        }
    }

    async fn fake(redirect: Option<Option<String>>) -> (String, Arc<Fake>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let f = Arc::new(Fake {
            leader: Mutex::new(redirect),
            calls: AtomicUsize::new(0),
        });
        tokio::spawn(serve(l, f.clone()));
        (addr, f)
    }

    async fn list(c: &MetaClient, timeout: Duration) -> Result<ListTablesResponse, MetaCallError> {
        c.call(method::LIST_TABLES, &ListTablesRequest {}, timeout)
            .await
    }

    #[tokio::test]
    async fn a_redirect_is_followed_even_outside_the_list_and_remembered() {
        let (leader, lf) = fake(None).await;
        let (follower, _) = fake(Some(Some(leader.clone()))).await;
        let c = MetaClient::new(RpcClient::new(), vec![follower]);
        list(&c, Duration::from_secs(2)).await.expect("answered");
        assert_eq!(c.leader(), Some(leader));
        list(&c, Duration::from_secs(2)).await.expect("answered");
        assert_eq!(lf.calls.load(Ordering::SeqCst), 2, "straight to the leader");
    }

    #[tokio::test]
    async fn during_an_election_it_asks_again_until_a_leader_answers() {
        let (a, fa) = fake(Some(None)).await;
        let (b, _) = fake(Some(None)).await;
        let c = MetaClient::new(RpcClient::new(), vec![a, b]);
        let elect = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            *lock(&fa.leader) = None;
        };
        let (r, ()) = tokio::join!(list(&c, Duration::from_secs(2)), elect);
        r.expect("answered once elected");
    }

    #[tokio::test]
    async fn without_a_leader_the_error_says_what_each_meta_said() {
        let (a, _) = fake(Some(None)).await;
        let c = MetaClient::new(RpcClient::new(), vec![a.clone(), "127.0.0.1:1".into()]);
        let e = list(&c, Duration::from_millis(300))
            .await
            .expect_err("no leader");
        let text = e.to_string();
        assert!(text.contains(&a) && text.contains("127.0.0.1:1"), "{text}");
        assert!(e.refusal().is_none());
    }
}
