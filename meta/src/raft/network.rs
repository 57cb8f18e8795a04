//! Raft messages between meta members over Petrel's RPC layer.
//!
//! Each of openraft's three requests (append entries, vote, one snapshot
//! chunk) travels as the JSON of openraft's own serde form in one RPC
//! ([`method::RAFT_APPEND`], [`method::RAFT_VOTE`],
//! [`method::RAFT_SNAPSHOT`]); the answer is the JSON of openraft's
//! `Result`. JSON is self-describing, so adjacent versions of openraft's
//! types with added fields still read each other.

use std::time::Duration;

use bytes::Bytes;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use petrel_common::msg::method;
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::{RpcError, ServiceError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{Node, NodeId, Raft, TypeConfig};

/// Makes a [`Connection`] per peer; they share one RPC client.
#[derive(Clone)]
pub struct Network {
    rpc: RpcClient,
}

impl Network {
    pub fn new(rpc: RpcClient) -> Network {
        Network { rpc }
    }
}

/// openraft's handle on one peer.
pub struct Connection {
    rpc: RpcClient,
    target: NodeId,
    addr: String,
}

/// A failed message, as openraft wants it: unreachable peers are not
/// retried at once.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

impl Connection {
    async fn send<Req, Resp, E>(
        &self,
        m: u16,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let answer = self
            .rpc
            .call_raw(&self.addr, m, &body, timeout)
            .await
            .map_err(|e| match e {
                RpcError::Unreachable(..) => RPCError::Unreachable(Unreachable::new(&e)),
                other => RPCError::Network(NetworkError::new(&other)),
            })?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            serde_json::from_slice(&answer).map_err(|e| {
                RPCError::Network(NetworkError::new(&Failed(format!(
                    "undecodable raft answer from {}: {e}",
                    self.addr
                ))))
            })?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Connection {
        Connection {
            rpc: self.rpc.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        req: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(method::RAFT_APPEND, &req, option.hard_ttl())
            .await
    }

    async fn install_snapshot(
        &mut self,
        req: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(method::RAFT_SNAPSHOT, &req, option.hard_ttl())
            .await
    }

    async fn vote(
        &mut self,
        req: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(method::RAFT_VOTE, &req, option.hard_ttl()).await
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ServiceError> {
    serde_json::from_slice(body).map_err(|e| ServiceError::BadRequest(e.to_string()))
}

fn answer<T: Serialize>(result: &T) -> Result<Bytes, ServiceError> {
    serde_json::to_vec(result)
        .map(Bytes::from)
        .map_err(ServiceError::internal)
}

/// Hands a peer's Raft message (`m`, one of the three Raft methods) to
/// `raft`; the answer's body.
pub async fn handle(raft: &Raft, m: u16, body: Bytes) -> Result<Bytes, ServiceError> {
    match m {
        method::RAFT_APPEND => answer(&raft.append_entries(parse(&body)?).await),
        method::RAFT_VOTE => answer(&raft.vote(parse(&body)?).await),
        method::RAFT_SNAPSHOT => answer(&raft.install_snapshot(parse(&body)?).await),
        other => Err(ServiceError::NoMethod(other)),
    }
}
