//! Pub/sub between proxies and brokers (docs/PUBSUB.md).
//!
//! A channel hashes to a partition like a key does; that partition's
//! primary is the channel's *broker*. Proxies register with the broker how
//! many of their clients listen to each channel (patterns: with every
//! partition's primary), `PUBLISH` goes to the broker, which counts the
//! receivers and queues the message for each proxy that has one; a proxy
//! collects its queue with a long poll ([`PollRequest`]). Nothing is
//! logged or replicated: delivery is at most once, in order per channel.
//!
//! This module holds the wire messages and the rules both sides share.

use bytes::Bytes;
use prost::Message;

/// What a subscription listens to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SubKind {
    /// `SUBSCRIBE channel`.
    Channel = 0,
    /// `PSUBSCRIBE pattern`: registered with every partition.
    Pattern = 1,
    /// `SSUBSCRIBE shardchannel`: its own namespace; patterns never match it.
    Shard = 2,
    /// `CLIENT TRACKING` of a key a client read: the key's partition sends
    /// one invalidation when it is next written, then forgets it.
    Tracking = 3,
    /// `CLIENT TRACKING ... BCAST [PREFIX p]`: every partition sends an
    /// invalidation for every written key starting with the prefix.
    TrackingPrefix = 4,
}

/// A request to a channel's broker, routed like an `ExecuteRequest`
/// (table, partition, ballot, partition count) and checked the same way.
/// Exactly one of `publish`, `register`, `query` is set.
#[derive(Clone, PartialEq, Message)]
pub struct PubSubRequest {
    #[prost(uint32, tag = "1")]
    pub table_id: u32,
    #[prost(uint32, tag = "2")]
    pub partition_id: u32,
    #[prost(uint64, tag = "3")]
    pub ballot: u64,
    #[prost(uint32, tag = "4")]
    pub partition_count: u32,
    #[prost(message, optional, tag = "5")]
    pub publish: Option<PublishMsg>,
    #[prost(message, optional, tag = "6")]
    pub register: Option<RegisterMsg>,
    #[prost(message, optional, tag = "7")]
    pub query: Option<QueryMsg>,
}

/// `PUBLISH` / `SPUBLISH`.
#[derive(Clone, PartialEq, Message)]
pub struct PublishMsg {
    #[prost(bytes = "bytes", tag = "1")]
    pub channel: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub message: Bytes,
    /// `SPUBLISH`: reaches shard subscribers only.
    #[prost(bool, tag = "3")]
    pub shard: bool,
    /// Which of the (non-shard) listeners it reaches ([`Audience`]).
    #[prost(enumeration = "Audience", tag = "4")]
    pub audience: i32,
}

/// Which listeners of a (non-shard) channel a message is for. A keyspace
/// event that one partition raises for another partition's key goes to the
/// patterns from the partition that raised it (in order with its other
/// events) and to the channel's subscribers from the key's partition
/// (where they are registered): each listener hears it once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum Audience {
    /// The channel's subscribers and every matching pattern's (`PUBLISH`;
    /// the default, also what a sender that predates the field means).
    Everyone = 0,
    /// The channel's subscribers only.
    Channel = 1,
    /// The matching patterns' subscribers only.
    Patterns = 2,
}

/// A proxy's subscriptions at one partition: how many of its clients
/// listen to each name. `full` replaces everything the proxy registered at
/// this partition; otherwise the entries are upserts (count 0 removes).
#[derive(Clone, PartialEq, Message)]
pub struct RegisterMsg {
    #[prost(uint64, tag = "1")]
    pub proxy_id: u64,
    #[prost(bool, tag = "2")]
    pub full: bool,
    #[prost(message, repeated, tag = "3")]
    pub entries: Vec<SubEntry>,
}

/// One registered name and its listener count at the proxy.
#[derive(Clone, PartialEq, Message)]
pub struct SubEntry {
    #[prost(enumeration = "SubKind", tag = "1")]
    pub kind: i32,
    #[prost(bytes = "bytes", tag = "2")]
    pub name: Bytes,
    #[prost(uint32, tag = "3")]
    pub count: u32,
}

/// What `PUBSUB` asks a broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum QueryKind {
    /// Listener counts of the named channels (`NUMSUB`).
    NumSub = 0,
    /// Channels with listeners, matching the pattern when one is given.
    Channels = 1,
    /// The distinct patterns registered here (`NUMPAT` is their count).
    Patterns = 2,
    /// `SHARDNUMSUB`.
    ShardNumSub = 3,
    /// `SHARDCHANNELS`.
    ShardChannels = 4,
}

/// A `PUBSUB` question for one partition.
#[derive(Clone, PartialEq, Message)]
pub struct QueryMsg {
    #[prost(enumeration = "QueryKind", tag = "1")]
    pub kind: i32,
    /// NUMSUB: the channels; CHANNELS: at most one pattern.
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub args: Vec<Bytes>,
}

/// The broker's answer: routing fields as in `ExecuteResponse`, then the
/// operation's result.
#[derive(Clone, PartialEq, Message)]
pub struct PubSubResponse {
    /// An `ExecCode`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(uint64, tag = "2")]
    pub ballot: u64,
    #[prost(string, tag = "3")]
    pub primary: String,
    #[prost(string, tag = "4")]
    pub reason: String,
    /// PUBLISH: how many subscribed clients the message was queued for.
    #[prost(int64, tag = "5")]
    pub receivers: i64,
    /// REGISTER: an incremental registration reached a broker that has no
    /// full one from this proxy (it restarted, failed over or forgot the
    /// proxy): nothing was applied; send everything.
    #[prost(bool, tag = "6")]
    pub needs_full: bool,
    /// Query answers: names (CHANNELS, patterns) ...
    #[prost(bytes = "bytes", repeated, tag = "7")]
    pub names: Vec<Bytes>,
    /// ... or counts, one per asked name (NUMSUB).
    #[prost(int64, repeated, tag = "8")]
    pub counts: Vec<i64>,
}

/// A proxy's long poll for the messages its brokers at one server queued
/// for it. Not routed: one per server, whatever partitions it leads.
#[derive(Clone, PartialEq, Message)]
pub struct PollRequest {
    #[prost(uint64, tag = "1")]
    pub proxy_id: u64,
    /// How long the server may hold the poll when nothing is queued.
    #[prost(uint32, tag = "2")]
    pub wait_ms: u32,
}

/// Messages queued since the last poll, oldest first.
#[derive(Clone, PartialEq, Message)]
pub struct PollResponse {
    /// False when the server did not know the proxy (it restarted or
    /// dropped the proxy after a silence): registrations there are gone.
    #[prost(bool, tag = "1")]
    pub known: bool,
    #[prost(message, repeated, tag = "2")]
    pub deliveries: Vec<Delivery>,
    /// Messages dropped for this proxy since the last poll (queue full).
    #[prost(uint64, tag = "3")]
    pub dropped: u64,
}

/// One published message; the proxy hands it to its subscribers of the
/// channel and of every pattern matching it (shard: shard subscribers).
#[derive(Clone, PartialEq, Message)]
pub struct Delivery {
    #[prost(bytes = "bytes", tag = "1")]
    pub channel: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub message: Bytes,
    #[prost(bool, tag = "3")]
    pub shard: bool,
    /// A tracking invalidation of the key in `channel` (no message).
    #[prost(bool, tag = "4")]
    pub invalidate: bool,
    /// A tracking invalidation of every key (FLUSHDB, FLUSHALL).
    #[prost(bool, tag = "5")]
    pub everything: bool,
    /// Which of the proxy's listeners get it ([`Audience`]).
    #[prost(enumeration = "Audience", tag = "6")]
    pub audience: i32,
}

impl Delivery {
    /// Bytes it holds in a queue (payloads and a fixed overhead).
    pub fn weight(&self) -> usize {
        self.channel.len() + self.message.len() + 64
    }
}

/// Which partitions broker a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Brokers<'a> {
    /// The partition of this key: a channel's own name, or for a keyspace
    /// channel (`__keyspace@<db>__:<key>`) the key, so the primary that
    /// writes the key publishes its events to itself.
    Key(&'a [u8]),
    /// Every partition: keyevent channels (`__keyevent@<db>__:<event>`),
    /// whose messages come from whichever primary wrote a key.
    Every,
}

const KEYSPACE: &[u8] = b"__keyspace@";
const KEYEVENT: &[u8] = b"__keyevent@";

/// The partitions that broker `channel` (shard channels: always [`Brokers::Key`] of the name).
pub fn brokers(channel: &[u8]) -> Brokers<'_> {
    if channel.starts_with(KEYEVENT) && notification_suffix(channel).is_some() {
        return Brokers::Every;
    }
    if channel.starts_with(KEYSPACE) {
        if let Some(key) = notification_suffix(channel) {
            return Brokers::Key(key);
        }
    }
    Brokers::Key(channel)
}

/// What follows `__keyspace@<db>__:` / `__keyevent@<db>__:` (`<db>` digits).
fn notification_suffix(channel: &[u8]) -> Option<&[u8]> {
    let rest = &channel[KEYSPACE.len()..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    rest[digits..].strip_prefix(b"__:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_channels_are_brokered_by_their_key_and_keyevent_channels_everywhere() {
        assert_eq!(brokers(b"news"), Brokers::Key(b"news"));
        assert_eq!(brokers(b"__keyspace@0__:user:1"), Brokers::Key(b"user:1"));
        assert_eq!(brokers(b"__keyspace@12__:"), Brokers::Key(b""));
        assert_eq!(brokers(b"__keyevent@0__:set"), Brokers::Every);
        assert_eq!(
            brokers(b"__keyspace@x__:k"),
            Brokers::Key(b"__keyspace@x__:k")
        );
        assert_eq!(brokers(b"__keyevent@"), Brokers::Key(b"__keyevent@"));
    }
}
