//! Pub/sub across proxies (docs/PUBSUB.md): this proxy's side.
//!
//! - [`hub`]: which of this proxy's connections listen to what, and the
//!   hand-off of a message to them.
//! - [`registrar`]: one task keeping every channel broker (partition
//!   primary) told how many of our clients listen to its channels, and
//!   every partition of our patterns; it starts over at a new primary.
//! - [`poller`]: one long poll per broker server collecting the messages
//!   queued for this proxy, handed to the hub.
//! - [`publish`]: a message sent to its channel's brokers (`PUBLISH`), and
//!   the messages a script or `MULTI` block held until its writes
//!   committed.
//!
//! A SUBSCRIBE is answered once the brokers have the change (or after the
//! request timeout, when a broker is away: the registrar keeps trying), so
//! a message published after the answer reaches the subscriber.

pub(crate) mod hub;
mod poller;
pub(crate) mod publish;
mod registrar;
mod shared;

pub(crate) use registrar::run;
pub(crate) use shared::PubSub;
