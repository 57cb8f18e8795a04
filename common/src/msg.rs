//! Every RPC body, as protobuf messages derived by hand (no `.proto`, no protoc).
//!
//! Protobuf's tag rules are what let two adjacent versions talk during a
//! rolling upgrade: add fields with new tags, never reuse or retype a tag.

use bytes::Bytes;
use prost::Message;

use crate::ids::{Ballot, Gpid, NodeAddr, PartitionId, TableId};
use crate::partition::{PartitionConfig, TableMap};
use crate::reply::Reply;

/// Method numbers, carried in every frame header.
pub mod method {
    /// server -> meta: register / renew lease, get assignments.
    pub const BEACON: u16 = 1;
    /// proxy or CLI -> meta: one table's partition map.
    pub const QUERY_TABLE: u16 = 2;
    pub const CREATE_TABLE: u16 = 3;
    pub const DROP_TABLE: u16 = 4;
    pub const LIST_TABLES: u16 = 5;
    pub const LIST_NODES: u16 = 6;
    /// proxy -> server: run one Redis command against one partition.
    pub const EXECUTE: u16 = 100;
    /// CLI -> meta: start a learner of one partition now (admin).
    pub const ADD_LEARNER: u16 = 7;
    /// CLI -> server: the state of each replica it hosts.
    pub const REPLICA_STATUS: u16 = 101;
    /// server -> server: PacificA messages between replicas of a partition.
    pub const REPLICA_MESSAGE: u16 = 102;
    /// CLI -> server: a digest of one replica's committed contents.
    pub const REPLICA_DIGEST: u16 = 103;
    /// learner -> primary: take a storage checkpoint to copy.
    pub const CHECKPOINT_PREPARE: u16 = 104;
    /// learner -> primary: one chunk of one checkpoint file.
    pub const CHECKPOINT_FETCH: u16 = 105;
    /// proxy -> primary, primary -> primary: one message of a transaction
    /// across partitions ([`super::TxnRequestMsg`], docs/TRANSACTIONS.md).
    pub const TXN: u16 = 106;
    /// proxy -> a channel's broker (partition primary): PUBLISH, a
    /// subscription registration or a PUBSUB question
    /// ([`crate::pubsub::PubSubRequest`]).
    pub const PUBSUB: u16 = 107;
    /// proxy -> server: the long poll collecting messages its brokers
    /// queued for the proxy ([`crate::pubsub::PollRequest`]).
    pub const PUBSUB_POLL: u16 = 108;
    /// proxy -> meta: keep a script (`SCRIPT LOAD`), cluster-wide.
    pub const SCRIPT_LOAD: u16 = 8;
    /// proxy -> meta: a script's body by SHA1 (`EVALSHA` missing locally).
    pub const SCRIPT_GET: u16 = 9;
    /// proxy -> meta: which of these SHA1s meta keeps (`SCRIPT EXISTS`).
    pub const SCRIPT_EXISTS: u16 = 10;
    /// proxy -> meta: forget every script (`SCRIPT FLUSH`).
    pub const SCRIPT_FLUSH: u16 = 11;
    /// proxy -> meta: add or replace a function library (`FUNCTION LOAD`).
    pub const LIBRARY_LOAD: u16 = 12;
    /// proxy -> meta: `FUNCTION DELETE`.
    pub const LIBRARY_DELETE: u16 = 13;
    /// proxy -> meta: every library and the scripting generation (a
    /// proxy's copy, `FUNCTION LIST`, `FUNCTION DUMP`).
    pub const LIBRARY_LIST: u16 = 14;
    /// proxy -> meta: `FUNCTION RESTORE` (FLUSH / APPEND / REPLACE).
    pub const LIBRARY_RESTORE: u16 = 15;
    /// proxy -> meta: `FUNCTION FLUSH`.
    pub const LIBRARY_FLUSH: u16 = 16;
    /// proxy -> meta: change cluster settings (`CONFIG SET` of a cluster
    /// parameter, e.g. `notify-keyspace-events`); answered once meta stored
    /// them and the servers acknowledged them ([`super::SettingsSetRequest`]).
    pub const SETTINGS_SET: u16 = 17;
    /// proxy -> meta: every cluster setting (`CONFIG GET`).
    pub const SETTINGS_GET: u16 = 18;
    /// meta -> meta: Raft append entries (openraft's JSON, meta/src/raft).
    pub const RAFT_APPEND: u16 = 19;
    /// meta -> meta: Raft vote request.
    pub const RAFT_VOTE: u16 = 20;
    /// meta -> meta: one chunk of a Raft snapshot.
    pub const RAFT_SNAPSHOT: u16 = 21;
    /// CLI -> any meta: that member's view of the meta group
    /// ([`super::MetaStatusResponse`]); answered by followers too.
    pub const META_STATUS: u16 = 22;
    /// CLI -> meta leader: add a meta member ([`super::MetaMemberRequest`]).
    pub const META_ADD: u16 = 23;
    /// CLI -> meta leader: remove a meta member.
    pub const META_REMOVE: u16 = 24;
    /// CLI -> meta leader: start or stop draining a server
    /// ([`super::DrainRequest`]).
    pub const DRAIN: u16 = 25;
    /// CLI -> meta leader: replica moves in flight and the plan to balance
    /// ([`super::BalanceResponse`]).
    pub const BALANCE: u16 = 26;
    /// CLI -> meta leader: double a table's partition count
    /// ([`super::SplitTableRequest`]).
    pub const SPLIT_TABLE: u16 = 27;
    /// meta -> server: the cluster settings after a change
    /// ([`super::SettingsMsg`]), so they take effect before `CONFIG SET`
    /// answers.
    pub const SETTINGS_PUSH: u16 = 109;
}

#[derive(Clone, PartialEq, Message)]
pub struct PartitionConfigMsg {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    #[prost(uint64, tag = "3")]
    pub ballot: u64,
    /// Empty when the partition has no primary.
    #[prost(string, tag = "4")]
    pub primary: String,
    #[prost(string, repeated, tag = "5")]
    pub secondaries: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TableMapMsg {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(uint32, tag = "3")]
    pub partition_count: u32,
    #[prost(uint32, tag = "4")]
    pub replica_count: u32,
    #[prost(uint64, tag = "5")]
    pub version: u64,
    #[prost(message, repeated, tag = "6")]
    pub partitions: Vec<PartitionConfigMsg>,
}

/// What a server reports about one replica it hosts.
#[derive(Clone, PartialEq, Message)]
pub struct ReplicaInfoMsg {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    #[prost(uint64, tag = "3")]
    pub ballot: u64,
    #[prost(uint64, tag = "4")]
    pub last_committed_decree: u64,
    /// The role as text ([`ReplicaRole::name`]), for metas that predate
    /// [`ReplicaInfoMsg::role`]. Read it only through
    /// [`ReplicaInfoMsg::reported_role`]; stop sending it once no such meta
    /// can be in a cluster.
    #[prost(string, tag = "5")]
    pub role_name: String,
    /// Highest decree in this replica's log (prepared, maybe not committed);
    /// meta promotes the member with the longest log.
    #[prost(uint64, tag = "6")]
    pub last_prepared_decree: u64,
    /// (Primary) learners that caught up and count for commit: meta may
    /// make them secondaries.
    #[prost(string, repeated, tag = "7")]
    pub ready_learners: Vec<String>,
    /// (Primary) members or learners that stopped answering: the primary
    /// asks meta to remove them.
    #[prost(string, repeated, tag = "8")]
    pub unreachable: Vec<String>,
    /// The replica's role ([`ReplicaRole`]); 0 from a server that predates it.
    #[prost(enumeration = "ReplicaRole", tag = "9")]
    pub role: i32,
}

impl ReplicaInfoMsg {
    /// Sets the role, as both the enum and the text older metas read.
    pub fn with_role(mut self, role: ReplicaRole) -> Self {
        self.set_role(role);
        self.role_name = role.name().to_string();
        self
    }

    /// The role the replica reported, whichever version sent it.
    pub fn reported_role(&self) -> ReplicaRole {
        ReplicaRole::reported(self.role, &self.role_name)
    }
}

/// What a replica is in its partition, as servers report it.
///
/// Protobuf enum: values are fixed forever; a value this build does not
/// know reads as [`ReplicaRole::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ReplicaRole {
    /// Not reported, or a role this build does not know (a newer server).
    Unknown = 0,
    Primary = 1,
    Secondary = 2,
    /// Catching up, not yet in the configuration.
    Learner = 3,
    /// Not serving: not a member, or a restarted primary waiting for a new
    /// ballot.
    Inactive = 4,
    /// The replica's storage or log failed: it does nothing more and must be
    /// replaced.
    Error = 5,
}

impl ReplicaRole {
    /// The lower-case name shown to operators (and sent as text to peers
    /// that predate the enum).
    pub fn name(self) -> &'static str {
        match self {
            ReplicaRole::Unknown => "unknown",
            ReplicaRole::Primary => "primary",
            ReplicaRole::Secondary => "secondary",
            ReplicaRole::Learner => "learner",
            ReplicaRole::Inactive => "inactive",
            ReplicaRole::Error => "error",
        }
    }

    /// The role in a message: the enum `value` when the sender set it,
    /// else the text `legacy` an older sender put in its place.
    fn reported(value: i32, legacy: &str) -> Self {
        if value != 0 {
            return ReplicaRole::try_from(value).unwrap_or(ReplicaRole::Unknown);
        }
        [
            ReplicaRole::Primary,
            ReplicaRole::Secondary,
            ReplicaRole::Learner,
            ReplicaRole::Inactive,
            ReplicaRole::Error,
        ]
        .into_iter()
        .find(|r| r.name() == legacy)
        .unwrap_or(ReplicaRole::Unknown)
    }
}

impl std::fmt::Display for ReplicaRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct BeaconRequest {
    /// The address the server serves RPC on; its identity.
    #[prost(string, tag = "1")]
    pub node: String,
    #[prost(message, repeated, tag = "2")]
    pub replicas: Vec<ReplicaInfoMsg>,
}

/// One replica a server must host, with the table facts it needs to check keys.
#[derive(Clone, PartialEq, Message)]
pub struct AssignmentMsg {
    #[prost(string, tag = "1")]
    pub table_name: String,
    #[prost(uint32, tag = "2")]
    pub partition_count: u32,
    #[prost(message, optional, tag = "3")]
    pub config: Option<PartitionConfigMsg>,
    /// This server hosts the replica as a learner (not in `config` yet).
    #[prost(bool, tag = "4")]
    pub learner: bool,
    /// (To the primary) the learners it should invite and feed.
    #[prost(string, repeated, tag = "5")]
    pub learners: Vec<String>,
    /// The partition was made by a split: its members build it from their
    /// replica of the parent and never create it empty (a learner does).
    #[prost(bool, tag = "6")]
    pub from_split: bool,
    /// The partition count the table was created with (0 from a meta that
    /// predates splits): a replica whose data records no split serves that
    /// many partitions, and splits when `partition_count` is more.
    #[prost(uint32, tag = "7")]
    pub created_with: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct BeaconResponse {
    /// How long the server may act on this answer without another one.
    #[prost(uint64, tag = "1")]
    pub lease_ms: u64,
    /// Every replica this server should host; anything else it must close.
    #[prost(message, repeated, tag = "2")]
    pub assignments: Vec<AssignmentMsg>,
    /// The cluster settings, which the server applies before it takes the
    /// lease this answer renews (absent from a meta that predates them).
    #[prost(message, optional, tag = "3")]
    pub settings: Option<SettingsMsg>,
}

/// Cluster settings: `CONFIG` parameters that hold for the whole cluster,
/// kept by meta (docs/PUBSUB.md "Keyspace notifications").
#[derive(Clone, PartialEq, Message)]
pub struct SettingsMsg {
    /// Bumped by every change; a server ignores settings older than the
    /// ones it has.
    #[prost(uint64, tag = "1")]
    pub generation: u64,
    /// Every setting meta keeps, by name (one not listed has its default).
    #[prost(message, repeated, tag = "2")]
    pub settings: Vec<SettingMsg>,
}

/// One cluster setting: its `CONFIG` name and value, as `CONFIG SET` gave it.
#[derive(Clone, PartialEq, Message)]
pub struct SettingMsg {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `CONFIG SET` of cluster parameters, already checked by the proxy.
#[derive(Clone, PartialEq, Message)]
pub struct SettingsSetRequest {
    #[prost(message, repeated, tag = "1")]
    pub settings: Vec<SettingMsg>,
}

/// The answer to a change of the cluster settings.
#[derive(Clone, PartialEq, Message)]
pub struct SettingsSetResponse {
    /// The settings after the change.
    #[prost(message, optional, tag = "1")]
    pub settings: Option<SettingsMsg>,
    /// Servers that did not acknowledge the change in time (their lease
    /// ran out first, so they serve nothing before they hear of it).
    #[prost(string, repeated, tag = "2")]
    pub unacknowledged: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct SettingsGetRequest {}

/// A server's answer to [`method::SETTINGS_PUSH`].
#[derive(Clone, PartialEq, Message)]
pub struct SettingsPushResponse {
    /// The generation the server now applies.
    #[prost(uint64, tag = "1")]
    pub generation: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct QueryTableRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct QueryTableResponse {
    /// Absent when no table has that name.
    #[prost(message, optional, tag = "1")]
    pub table: Option<TableMapMsg>,
    /// Meta's scripting generation, bumped by every change to its scripts
    /// or function libraries: a proxy whose copy is older fetches them
    /// again. 0 from a meta that predates it.
    #[prost(uint64, tag = "2")]
    pub scripting_generation: u64,
}

/// `SCRIPT LOAD`: the script's body (meta names it by its SHA1).
#[derive(Clone, PartialEq, Message)]
pub struct ScriptLoadRequest {
    #[prost(bytes = "bytes", tag = "1")]
    pub body: Bytes,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScriptLoadResponse {
    /// The script's SHA1, lowercase hex.
    #[prost(string, tag = "1")]
    pub sha: String,
    #[prost(uint64, tag = "2")]
    pub generation: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScriptGetRequest {
    /// Lowercase hex.
    #[prost(string, tag = "1")]
    pub sha: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScriptGetResponse {
    #[prost(bool, tag = "1")]
    pub found: bool,
    #[prost(bytes = "bytes", tag = "2")]
    pub body: Bytes,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScriptExistsRequest {
    /// Lowercase hex.
    #[prost(string, repeated, tag = "1")]
    pub shas: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScriptExistsResponse {
    /// One per requested SHA1, in order.
    #[prost(bool, repeated, tag = "1")]
    pub exists: Vec<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScriptFlushRequest {}

/// One function library as meta keeps it.
#[derive(Clone, PartialEq, Message)]
pub struct LibraryMsg {
    /// `#!lua name=<name>`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The code as loaded, shebang included.
    #[prost(bytes = "bytes", tag = "2")]
    pub code: Bytes,
    /// The functions it registers (unique across libraries).
    #[prost(string, repeated, tag = "3")]
    pub functions: Vec<String>,
}

/// `FUNCTION LOAD [REPLACE]`: a library the proxy compiled and checked.
#[derive(Clone, PartialEq, Message)]
pub struct LibraryLoadRequest {
    #[prost(message, optional, tag = "1")]
    pub library: Option<LibraryMsg>,
    #[prost(bool, tag = "2")]
    pub replace: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct LibraryDeleteRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct LibraryListRequest {}

#[derive(Clone, PartialEq, Message)]
pub struct LibraryListResponse {
    /// The scripting generation these libraries are at.
    #[prost(uint64, tag = "1")]
    pub generation: u64,
    /// How many times `SCRIPT FLUSH` ran: a proxy that saw fewer empties
    /// its own script cache.
    #[prost(uint64, tag = "2")]
    pub script_flushes: u64,
    /// By name.
    #[prost(message, repeated, tag = "3")]
    pub libraries: Vec<LibraryMsg>,
}

/// How `FUNCTION RESTORE` treats libraries meta already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum RestorePolicy {
    /// Refuse the whole restore if a library exists (Redis's default).
    Append = 0,
    /// Replace the libraries of the same name.
    Replace = 1,
    /// Delete every library first.
    Flush = 2,
}

#[derive(Clone, PartialEq, Message)]
pub struct LibraryRestoreRequest {
    #[prost(message, repeated, tag = "1")]
    pub libraries: Vec<LibraryMsg>,
    #[prost(enumeration = "RestorePolicy", tag = "2")]
    pub policy: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct LibraryFlushRequest {}

/// The answer to a change of meta's scripts or libraries.
#[derive(Clone, PartialEq, Message)]
pub struct ScriptingChangeResponse {
    /// Redis's error text (`ERR Library 'x' already exists`) when the
    /// change was refused and nothing changed; empty on success.
    #[prost(string, tag = "1")]
    pub error: String,
    /// The scripting generation after the change.
    #[prost(uint64, tag = "2")]
    pub generation: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct CreateTableRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint32, tag = "2")]
    pub partition_count: u32,
    #[prost(uint32, tag = "3")]
    pub replica_count: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct CreateTableResponse {
    #[prost(message, optional, tag = "1")]
    pub table: Option<TableMapMsg>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DropTableRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct DropTableResponse {}

#[derive(Clone, PartialEq, Message)]
pub struct ListTablesRequest {}

#[derive(Clone, PartialEq, Message)]
pub struct ListTablesResponse {
    #[prost(message, repeated, tag = "1")]
    pub tables: Vec<TableMapMsg>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ListNodesRequest {}

#[derive(Clone, PartialEq, Message)]
pub struct NodeInfoMsg {
    #[prost(string, tag = "1")]
    pub addr: String,
    #[prost(bool, tag = "2")]
    pub alive: bool,
    /// Milliseconds since meta last heard a beacon from it.
    #[prost(uint64, tag = "3")]
    pub last_beacon_ms_ago: u64,
    #[prost(uint32, tag = "4")]
    pub primary_count: u32,
    #[prost(uint32, tag = "5")]
    pub replica_count: u32,
    /// The admin is draining it (`petrel drain`).
    #[prost(bool, tag = "6")]
    pub draining: bool,
    /// Replica moves in flight towards it.
    #[prost(uint32, tag = "7")]
    pub moves_in: u32,
    /// Replica moves in flight away from it.
    #[prost(uint32, tag = "8")]
    pub moves_out: u32,
}

/// Start (or with `cancel`, stop) draining a server.
#[derive(Clone, PartialEq, Message)]
pub struct DrainRequest {
    #[prost(string, tag = "1")]
    pub node: String,
    #[prost(bool, tag = "2")]
    pub cancel: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct DrainResponse {
    /// Whether the request changed anything (false: it was already so).
    #[prost(bool, tag = "1")]
    pub changed: bool,
    /// Members and learners the server holds now.
    #[prost(uint32, tag = "2")]
    pub replicas: u32,
}

/// Split a table (double its partition count), or with `status_only` just
/// say how far its last split is.
#[derive(Clone, PartialEq, Message)]
pub struct SplitTableRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(bool, tag = "2")]
    pub status_only: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct SplitTableResponse {
    /// The table's map (after the split).
    #[prost(message, optional, tag = "1")]
    pub table: Option<TableMapMsg>,
    /// Partitions whose primary does not host them yet (0: the split is
    /// done everywhere).
    #[prost(uint32, tag = "2")]
    pub unbuilt: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct BalanceRequest {}

/// One replica move or primary switch, in flight or planned.
#[derive(Clone, PartialEq, Message)]
pub struct MoveMsg {
    #[prost(string, tag = "1")]
    pub table: String,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    /// `move` (a replica) or `switch_primary`.
    #[prost(string, tag = "3")]
    pub kind: String,
    #[prost(string, tag = "4")]
    pub from: String,
    #[prost(string, tag = "5")]
    pub to: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct BalanceResponse {
    /// Moves meta started and that are not finished.
    #[prost(message, repeated, tag = "1")]
    pub in_flight: Vec<MoveMsg>,
    /// What meta would do next, in order, until balanced (every learner
    /// assumed to catch up, every server to stay alive).
    #[prost(message, repeated, tag = "2")]
    pub planned: Vec<MoveMsg>,
    /// Servers being drained.
    #[prost(string, repeated, tag = "3")]
    pub draining: Vec<String>,
    /// Whether `planned` was cut short.
    #[prost(bool, tag = "4")]
    pub truncated: bool,
}

/// One member of the meta group, as the asked meta knows it.
#[derive(Clone, PartialEq, Message)]
pub struct MetaMemberMsg {
    #[prost(string, tag = "1")]
    pub addr: String,
    /// Its Raft id (derived from the address).
    #[prost(uint64, tag = "2")]
    pub id: u64,
    /// A voter, or a learner still catching up.
    #[prost(bool, tag = "3")]
    pub voter: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetaStatusRequest {}

/// One meta member's own view of the group.
#[derive(Clone, PartialEq, Message)]
pub struct MetaStatusResponse {
    /// The answering member.
    #[prost(string, tag = "1")]
    pub addr: String,
    #[prost(uint64, tag = "2")]
    pub id: u64,
    /// `leader`, `follower`, `candidate` or `learner`.
    #[prost(string, tag = "3")]
    pub role: String,
    #[prost(uint64, tag = "4")]
    pub term: u64,
    /// Index of its last log entry (0 when none).
    #[prost(uint64, tag = "5")]
    pub last_log_index: u64,
    /// Index of the last entry applied to its state (0 when none).
    #[prost(uint64, tag = "6")]
    pub applied_index: u64,
    /// The leader's address as it knows it; empty when it knows none.
    #[prost(string, tag = "7")]
    pub leader: String,
    /// The membership it holds.
    #[prost(message, repeated, tag = "8")]
    pub members: Vec<MetaMemberMsg>,
}

/// Add or remove the meta member at `addr` ([`method::META_ADD`],
/// [`method::META_REMOVE`]).
#[derive(Clone, PartialEq, Message)]
pub struct MetaMemberRequest {
    #[prost(string, tag = "1")]
    pub addr: String,
}

/// The membership once the change committed.
#[derive(Clone, PartialEq, Message)]
pub struct MetaMemberResponse {
    #[prost(message, repeated, tag = "1")]
    pub members: Vec<MetaMemberMsg>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ListNodesResponse {
    #[prost(message, repeated, tag = "1")]
    pub nodes: Vec<NodeInfoMsg>,
}

/// Outcome of an [`ExecuteResponse`].
///
/// Protobuf enum with the values the `int32` code always had, so the wire
/// is unchanged. `Ok` is 0, so read a response's code with
/// [`ExecuteResponse::outcome`], never the generated `code()` getter, which
/// turns a code this build does not know into `Ok`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum ExecCode {
    /// Executed; `reply` holds the answer.
    Ok = 0,
    /// This server is not the partition's primary; `ballot`/`primary` say what it knows.
    /// The command was not executed, so the caller may retry it elsewhere.
    NotPrimary = 1,
    /// This server does not host the partition (yet). Not executed.
    NoReplica = 2,
    /// The request's ballot or partition count is stale. Not executed.
    StaleMap = 3,
    /// The replica cannot serve right now (opening, lease lost). Not executed.
    Unavailable = 4,
    /// The primary has as many writes in flight as it allows. Not executed;
    /// the same primary takes it again in a moment (no map refresh needed).
    Busy = 5,
}

impl ExecCode {
    /// Whether the code proves the command was not executed (so even a
    /// write may be sent again).
    pub fn not_executed(self) -> bool {
        self != ExecCode::Ok
    }

    /// The name logs and error texts use (`NOT_PRIMARY`).
    pub fn name(self) -> &'static str {
        match self {
            ExecCode::Ok => "OK",
            ExecCode::NotPrimary => "NOT_PRIMARY",
            ExecCode::NoReplica => "NO_REPLICA",
            ExecCode::StaleMap => "STALE_MAP",
            ExecCode::Unavailable => "UNAVAILABLE",
            ExecCode::Busy => "BUSY",
        }
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct ExecuteRequest {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    /// The ballot of the proxy's cached configuration.
    #[prost(uint64, tag = "3")]
    pub ballot: u64,
    /// The command name and its arguments, as the client sent them.
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub args: Vec<Bytes>,
    /// The partition count the proxy routed with; the server checks it.
    #[prost(uint32, tag = "5")]
    pub partition_count: u32,
    /// The command's id in the one command table (`crate::command`); the
    /// server runs it without looking its name up, after checking that
    /// `args` name the same command.
    #[prost(uint32, tag = "6")]
    pub command: u32,
    /// Blocking commands: when the client first asked (unix microseconds,
    /// set by the proxy and kept across its repeated requests), so
    /// clients blocked on a key are served first come, first served.
    #[prost(uint64, tag = "7")]
    pub block_ticket: u64,
}

/// A transaction's message to a partition's primary: routed like
/// [`ExecuteRequest`] (table, partition, ballot, partition count), carrying
/// one `crate::txn::msg` request (`crate::txn::wire` converts) and, for an
/// EXECUTE, the commands to run.
#[derive(Clone, PartialEq, Message)]
pub struct TxnRequestMsg {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    #[prost(uint64, tag = "3")]
    pub ballot: u64,
    #[prost(uint32, tag = "4")]
    pub partition_count: u32,
    #[prost(message, optional, tag = "5")]
    pub body: Option<TxnBodyMsg>,
    /// EXECUTE only: the commands, in order.
    #[prost(message, repeated, tag = "6")]
    pub commands: Vec<TxnCommandMsg>,
}

/// One command of an EXECUTE: its id in the command table and its
/// arguments, name first (checked against the id like [`ExecuteRequest`]).
#[derive(Clone, PartialEq, Message)]
pub struct TxnCommandMsg {
    #[prost(uint32, tag = "1")]
    pub command: u32,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub args: Vec<Bytes>,
}

/// The answer: `code` says whether the partition's primary took the
/// message at all (as in [`ExecuteResponse`]); when it did, `body` is its
/// `crate::txn::msg::Response` and, for an EXECUTE that ran, `replies` the
/// commands' replies in order.
#[derive(Clone, PartialEq, Message)]
pub struct TxnResponseMsg {
    #[prost(enumeration = "ExecCode", tag = "1")]
    pub code: i32,
    #[prost(uint64, tag = "2")]
    pub ballot: u64,
    #[prost(string, tag = "3")]
    pub primary: String,
    #[prost(string, tag = "4")]
    pub reason: String,
    #[prost(message, optional, tag = "5")]
    pub body: Option<TxnBodyMsg>,
    #[prost(message, repeated, tag = "6")]
    pub replies: Vec<ReplyMsg>,
}

/// A `crate::txn::msg` request or response, flattened: `kind` says which
/// (a [`TxnKind`]) and which of the other fields mean something.
#[derive(Clone, PartialEq, Message)]
pub struct TxnBodyMsg {
    #[prost(enumeration = "TxnKind", tag = "1")]
    pub kind: i32,
    #[prost(uint64, tag = "2")]
    pub start_ms: u64,
    #[prost(uint64, tag = "3")]
    pub nonce: u64,
    /// EXECUTE: the record partition `R` (same table).
    #[prost(uint32, tag = "4")]
    pub record_partition: u32,
    /// EXECUTE / Executed: the EXECUTE's sequence number.
    #[prost(uint32, tag = "5")]
    pub seq: u32,
    /// PREPARE / COMMIT_ONE / Executed: the primary's epoch.
    #[prost(uint64, tag = "6")]
    pub epoch: u64,
    /// PREPARE / COMMIT_ONE: the EXECUTEs the coordinator saw answered.
    #[prost(uint32, tag = "7")]
    pub executes: u32,
    /// PREPARE at `R`: the partitions with writes (same table).
    #[prost(bool, tag = "8")]
    pub has_writers: bool,
    #[prost(uint32, repeated, tag = "9")]
    pub writers: Vec<u32>,
    /// DECIDE / Status: 0 committed, 1 aborted.
    #[prost(uint32, tag = "10")]
    pub decision: u32,
    /// Executed: T has pending writes there. Prevent: found.
    #[prost(bool, tag = "11")]
    pub flag: bool,
    /// Refused: the request refused and why (`crate::txn::wire` codes).
    #[prost(uint32, tag = "12")]
    pub asked: u32,
    #[prost(uint32, tag = "13")]
    pub refusal: u32,
}

/// What a [`TxnBodyMsg`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum TxnKind {
    Unknown = 0,
    Execute = 1,
    Prepare = 2,
    CommitOne = 3,
    Decide = 4,
    Release = 5,
    Heartbeat = 6,
    Status = 7,
    Prevent = 8,
    Executed = 101,
    Refused = 102,
    Prepared = 103,
    Committed = 104,
    Decided = 105,
    Released = 106,
    Alive = 107,
    StatusIs = 108,
    PreventIs = 109,
}

#[derive(Clone, PartialEq, Message)]
pub struct ExecuteResponse {
    /// An [`ExecCode`]; read it with [`ExecuteResponse::outcome`].
    #[prost(enumeration = "ExecCode", tag = "1")]
    pub code: i32,
    #[prost(message, optional, tag = "2")]
    pub reply: Option<ReplyMsg>,
    /// The server's current ballot for the partition (when known).
    #[prost(uint64, tag = "3")]
    pub ballot: u64,
    /// The primary as the server knows it; empty when unknown.
    #[prost(string, tag = "4")]
    pub primary: String,
    /// Human-readable reason for a non-OK code.
    #[prost(string, tag = "5")]
    pub reason: String,
    /// What a script run here (`petrel.eval`, `petrel.fcall`) published,
    /// in order: its writes have committed, and the proxy sends these to
    /// the channels' brokers before it answers the client.
    #[prost(message, repeated, tag = "6")]
    pub published: Vec<crate::pubsub::PublishMsg>,
}

impl ExecuteResponse {
    /// The outcome, or the raw code when this build does not know it (a
    /// newer server's): such a code proves nothing about execution.
    pub fn outcome(&self) -> Result<ExecCode, i32> {
        ExecCode::try_from(self.code).map_err(|e| e.0)
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct ReplicaStatusRequest {}

#[derive(Clone, PartialEq, Message)]
pub struct ReplicaStatusResponse {
    #[prost(message, repeated, tag = "1")]
    pub replicas: Vec<ReplicaInfoMsg>,
}

/// Admin request: add a learner to one partition, optionally on `node`.
#[derive(Clone, PartialEq, Message)]
pub struct AddLearnerRequest {
    #[prost(string, tag = "1")]
    pub table: String,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    /// Empty: meta picks the least loaded eligible server.
    #[prost(string, tag = "3")]
    pub node: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct AddLearnerResponse {}

/// One log entry on the wire.
#[derive(Clone, PartialEq, Message)]
pub struct EntryMsg {
    #[prost(uint64, tag = "1")]
    pub ballot: u64,
    #[prost(uint64, tag = "2")]
    pub decree: u64,
    #[prost(bytes = "bytes", tag = "3")]
    pub mutation: Bytes,
}

/// One PacificA message between replicas; `kind` says which fields matter
/// (the server maps it to and from its own message type).
#[derive(Clone, PartialEq, Message)]
pub struct ReplicaMessageMsg {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    #[prost(uint32, tag = "3")]
    pub kind: u32,
    #[prost(message, optional, tag = "4")]
    pub config: Option<PartitionConfigMsg>,
    #[prost(uint64, tag = "5")]
    pub ballot: u64,
    #[prost(uint64, tag = "6")]
    pub decree: u64,
    #[prost(uint64, tag = "7")]
    pub last_committed: u64,
    #[prost(uint64, tag = "8")]
    pub last_prepared: u64,
    #[prost(bool, tag = "9")]
    pub learner: bool,
    #[prost(message, repeated, tag = "10")]
    pub entries: Vec<EntryMsg>,
}

/// Messages from one server to another, in the order they were produced.
#[derive(Clone, PartialEq, Message)]
pub struct ReplicaBatchMsg {
    /// The sender's RPC address (its identity).
    #[prost(string, tag = "1")]
    pub from: String,
    #[prost(message, repeated, tag = "2")]
    pub messages: Vec<ReplicaMessageMsg>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ReplicaBatchAck {}

#[derive(Clone, PartialEq, Message)]
pub struct ReplicaDigestRequest {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
}

/// A digest of one replica's committed contents at `applied_decree`.
#[derive(Clone, PartialEq, Message)]
pub struct ReplicaDigestResponse {
    #[prost(uint64, tag = "1")]
    pub applied_decree: u64,
    #[prost(uint64, tag = "2")]
    pub records: u64,
    /// Order-dependent hash over every (key, value) record, hex.
    #[prost(string, tag = "3")]
    pub digest: String,
    /// The role as text, for callers that predate [`ReplicaDigestResponse::role`];
    /// read it through [`ReplicaDigestResponse::reported_role`].
    #[prost(string, tag = "4")]
    pub role_name: String,
    #[prost(uint64, tag = "5")]
    pub ballot: u64,
    /// The replica's role ([`ReplicaRole`]); 0 from a server that predates it.
    #[prost(enumeration = "ReplicaRole", tag = "6")]
    pub role: i32,
}

impl ReplicaDigestResponse {
    /// Sets the role, as both the enum and the text older callers read.
    pub fn with_role(mut self, role: ReplicaRole) -> Self {
        self.set_role(role);
        self.role_name = role.name().to_string();
        self
    }

    /// The role the replica reported, whichever version sent it.
    pub fn reported_role(&self) -> ReplicaRole {
        ReplicaRole::reported(self.role, &self.role_name)
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct CheckpointPrepareRequest {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    #[prost(uint64, tag = "3")]
    pub ballot: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct CheckpointFileMsg {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(uint64, tag = "2")]
    pub len: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct CheckpointPrepareResponse {
    /// Names the checkpoint in later fetches.
    #[prost(string, tag = "1")]
    pub id: String,
    /// The applied decree the checkpoint holds.
    #[prost(uint64, tag = "2")]
    pub decree: u64,
    #[prost(message, repeated, tag = "3")]
    pub files: Vec<CheckpointFileMsg>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CheckpointFetchRequest {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(uint64, tag = "5")]
    pub offset: u64,
    #[prost(uint32, tag = "6")]
    pub len: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct CheckpointFetchResponse {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: Bytes,
}

/// Wire form of [`Reply`].
#[derive(Clone, PartialEq, Message)]
pub struct ReplyMsg {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(int64, tag = "2")]
    pub int: i64,
    #[prost(bytes = "bytes", tag = "3")]
    pub data: Bytes,
    #[prost(double, tag = "4")]
    pub double: f64,
    /// Elements; for maps, keys and values alternate.
    #[prost(message, repeated, tag = "5")]
    pub elems: Vec<ReplyMsg>,
}

mod reply_kind {
    pub const STATUS: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const INT: i32 = 2;
    pub const BULK: i32 = 3;
    pub const NIL: i32 = 4;
    pub const ARRAY: i32 = 5;
    pub const NIL_ARRAY: i32 = 6;
    pub const DOUBLE: i32 = 7;
    pub const MAP: i32 = 8;
    pub const SET: i32 = 9;
    pub const VERBATIM: i32 = 10;
    pub const PAIRS: i32 = 11;
    pub const BOOL: i32 = 12;
    pub const BIG_NUMBER: i32 = 13;
    pub const KEYED: i32 = 14;
    pub const HUMAN_DOUBLE: i32 = 15;
}

impl From<&Reply> for ReplyMsg {
    fn from(r: &Reply) -> Self {
        use reply_kind::*;
        let mut m = ReplyMsg {
            kind: 0,
            int: 0,
            data: Bytes::new(),
            double: 0.0,
            elems: Vec::new(),
        };
        match r {
            Reply::Status(s) => {
                m.kind = STATUS;
                m.data = Bytes::copy_from_slice(s.as_bytes());
            }
            Reply::Error(s) => {
                m.kind = ERROR;
                m.data = Bytes::copy_from_slice(s.as_bytes());
            }
            Reply::Int(i) => {
                m.kind = INT;
                m.int = *i;
            }
            Reply::Bulk(b) => {
                m.kind = BULK;
                m.data = b.clone();
            }
            Reply::Nil => m.kind = NIL,
            Reply::Array(v) | Reply::Push(v) | Reply::Frames(v) => {
                m.kind = ARRAY;
                m.elems = v.iter().map(ReplyMsg::from).collect();
            }
            Reply::NilArray => m.kind = NIL_ARRAY,
            Reply::Double(d) | Reply::HumanDouble(d) => {
                m.kind = if matches!(r, Reply::Double(_)) {
                    DOUBLE
                } else {
                    HUMAN_DOUBLE
                };
                m.double = *d;
                // Protobuf drops a zero double (negative zero included) as
                // the default value: keep the sign of zero on the side.
                if *d == 0.0 && d.is_sign_negative() {
                    m.int = 1;
                }
            }
            Reply::Map(pairs) | Reply::Pairs(pairs) | Reply::Keyed(pairs) => {
                m.kind = match r {
                    Reply::Map(_) => MAP,
                    Reply::Pairs(_) => PAIRS,
                    _ => KEYED,
                };
                for (k, v) in pairs {
                    m.elems.push(ReplyMsg::from(k));
                    m.elems.push(ReplyMsg::from(v));
                }
            }
            Reply::Set(v) => {
                m.kind = SET;
                m.elems = v.iter().map(ReplyMsg::from).collect();
            }
            Reply::Verbatim(b) => {
                m.kind = VERBATIM;
                m.data = b.clone();
            }
            Reply::Bool(b) => {
                m.kind = BOOL;
                m.int = i64::from(*b);
            }
            Reply::BigNumber(n) => {
                m.kind = BIG_NUMBER;
                m.data = Bytes::copy_from_slice(n.as_bytes());
            }
        }
        m
    }
}

impl From<ReplyMsg> for Reply {
    fn from(m: ReplyMsg) -> Self {
        use reply_kind::*;
        let text = |d: Bytes| String::from_utf8_lossy(&d).into_owned();
        match m.kind {
            STATUS => Reply::Status(text(m.data)),
            ERROR => Reply::Error(text(m.data)),
            INT => Reply::Int(m.int),
            BULK => Reply::Bulk(m.data),
            NIL => Reply::Nil,
            ARRAY => Reply::Array(m.elems.into_iter().map(Reply::from).collect()),
            NIL_ARRAY => Reply::NilArray,
            DOUBLE if m.double == 0.0 && m.int == 1 => Reply::Double(-0.0),
            DOUBLE => Reply::Double(m.double),
            HUMAN_DOUBLE if m.double == 0.0 && m.int == 1 => Reply::HumanDouble(-0.0),
            HUMAN_DOUBLE => Reply::HumanDouble(m.double),
            MAP | PAIRS | KEYED => {
                let kind = m.kind;
                let mut it = m.elems.into_iter().map(Reply::from);
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                match kind {
                    MAP => Reply::Map(pairs),
                    PAIRS => Reply::Pairs(pairs),
                    _ => Reply::Keyed(pairs),
                }
            }
            SET => Reply::Set(m.elems.into_iter().map(Reply::from).collect()),
            VERBATIM => Reply::Verbatim(m.data),
            BOOL => Reply::Bool(m.int != 0),
            BIG_NUMBER => Reply::BigNumber(text(m.data)),
            other => Reply::Error(format!("ERR unknown reply kind {other} from server")),
        }
    }
}

impl From<&PartitionConfig> for PartitionConfigMsg {
    fn from(c: &PartitionConfig) -> Self {
        PartitionConfigMsg {
            table_id: c.gpid.table.0,
            partition_id: c.gpid.partition.0,
            ballot: c.ballot.0,
            primary: c.primary.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
            secondaries: c.secondaries.iter().map(|s| s.0.clone()).collect(),
        }
    }
}

impl From<&PartitionConfigMsg> for PartitionConfig {
    fn from(m: &PartitionConfigMsg) -> Self {
        PartitionConfig {
            gpid: Gpid {
                table: TableId(m.table_id),
                partition: PartitionId(m.partition_id),
            },
            ballot: Ballot(m.ballot),
            primary: (!m.primary.is_empty()).then(|| NodeAddr(m.primary.clone())),
            secondaries: m.secondaries.iter().map(|s| NodeAddr(s.clone())).collect(),
        }
    }
}

impl From<&TableMap> for TableMapMsg {
    fn from(t: &TableMap) -> Self {
        TableMapMsg {
            id: t.id.0,
            name: t.name.clone(),
            partition_count: t.partition_count,
            replica_count: t.replica_count,
            version: t.version,
            partitions: t.partitions.iter().map(PartitionConfigMsg::from).collect(),
        }
    }
}

impl From<&TableMapMsg> for TableMap {
    fn from(m: &TableMapMsg) -> Self {
        TableMap {
            id: TableId(m.id),
            name: m.name.clone(),
            partition_count: m.partition_count,
            replica_count: m.replica_count,
            version: m.version,
            partitions: m.partitions.iter().map(PartitionConfig::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_round_trips_through_wire_form() {
        let r = Reply::Array(vec![
            Reply::ok(),
            Reply::error("ERR x"),
            Reply::Int(-7),
            Reply::bulk(&b"v\r\n"[..]),
            Reply::Nil,
            Reply::NilArray,
            Reply::Double(1.5),
            Reply::Map(vec![(Reply::bulk("k"), Reply::Int(1))]),
            Reply::Set(vec![Reply::bulk("m")]),
            Reply::Verbatim(Bytes::from_static(b"txt")),
            Reply::Pairs(vec![(Reply::bulk("m"), Reply::Double(0.0))]),
            Reply::Keyed(vec![(Reply::bulk("s"), Reply::Array(vec![]))]),
            Reply::Bool(true),
            Reply::Bool(false),
            Reply::BigNumber("12345678901234567890".into()),
            Reply::HumanDouble(13.361389338970184),
        ]);
        let wire = ReplyMsg::from(&r).encode_to_vec();
        let back = Reply::from(ReplyMsg::decode(&wire[..]).expect("decodes"));
        assert_eq!(back, r);
    }

    #[test]
    fn negative_zero_keeps_its_sign_on_the_wire() {
        for d in [-0.0f64, 0.0, f64::INFINITY, -2.5] {
            let wire = ReplyMsg::from(&Reply::Double(d)).encode_to_vec();
            let back = Reply::from(ReplyMsg::decode(&wire[..]).expect("decodes"));
            let Reply::Double(b) = back else {
                panic!("double expected")
            };
            assert_eq!(b.to_bits(), d.to_bits(), "{d}");
        }
    }

    /// `ExecuteResponse.code` as it was before the enum: a plain int32.
    #[derive(Clone, PartialEq, Message)]
    struct OldExecuteResponse {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "5")]
        reason: String,
    }

    #[test]
    fn exec_codes_keep_their_values_on_the_wire() {
        let codes = [
            (ExecCode::Ok, 0),
            (ExecCode::NotPrimary, 1),
            (ExecCode::NoReplica, 2),
            (ExecCode::StaleMap, 3),
            (ExecCode::Unavailable, 4),
            (ExecCode::Busy, 5),
        ];
        for (code, value) in codes {
            assert_eq!(code as i32, value);
            let new = ExecuteResponse {
                code: code.into(),
                reason: "r".into(),
                ..Default::default()
            };
            let old = OldExecuteResponse::decode(&new.encode_to_vec()[..]).expect("decodes");
            assert_eq!(old.code, value);
            let back = ExecuteResponse::decode(&old.encode_to_vec()[..]).expect("decodes");
            assert_eq!(back.outcome(), Ok(code));
            assert_eq!(code.not_executed(), code != ExecCode::Ok);
        }
        // A newer server's code is not mistaken for OK.
        let newer = ExecuteResponse {
            code: 17,
            ..Default::default()
        };
        assert_eq!(newer.outcome(), Err(17));
    }

    /// `ReplicaInfoMsg` as servers sent it before the role enum.
    #[derive(Clone, PartialEq, Message)]
    struct OldReplicaInfoMsg {
        #[prost(uint32, tag = "1")]
        table_id: u32,
        #[prost(string, tag = "5")]
        role: String,
    }

    #[test]
    fn roles_travel_as_an_enum_and_as_text_for_older_peers() {
        for role in [
            ReplicaRole::Primary,
            ReplicaRole::Secondary,
            ReplicaRole::Learner,
            ReplicaRole::Inactive,
            ReplicaRole::Error,
        ] {
            // New sender, old reader: the text is still there.
            let new = ReplicaInfoMsg {
                table_id: 3,
                ..Default::default()
            }
            .with_role(role);
            let old = OldReplicaInfoMsg::decode(&new.encode_to_vec()[..]).expect("decodes");
            assert_eq!(old.role, role.name());
            // Old sender, new reader: the text is understood.
            let back = ReplicaInfoMsg::decode(&old.encode_to_vec()[..]).expect("decodes");
            assert_eq!(back.role, 0);
            assert_eq!(back.reported_role(), role);
            // New to new: the enum decides, whatever the text says.
            let mut both = new.clone();
            both.role_name = "nonsense".into();
            let back = ReplicaInfoMsg::decode(&both.encode_to_vec()[..]).expect("decodes");
            assert_eq!(back.reported_role(), role);
            let digest = ReplicaDigestResponse::default().with_role(role);
            let back = ReplicaDigestResponse::decode(&digest.encode_to_vec()[..]).expect("decodes");
            assert_eq!(
                (back.reported_role(), back.role_name.as_str()),
                (role, role.name())
            );
        }
        // Nothing, a strange text or a newer enum value: unknown.
        assert_eq!(
            ReplicaInfoMsg::default().reported_role(),
            ReplicaRole::Unknown
        );
        let odd = ReplicaInfoMsg {
            role_name: "observer".into(),
            ..Default::default()
        };
        assert_eq!(odd.reported_role(), ReplicaRole::Unknown);
        let newer = ReplicaInfoMsg {
            role: 42,
            ..Default::default()
        };
        assert_eq!(newer.reported_role(), ReplicaRole::Unknown);
    }
}
