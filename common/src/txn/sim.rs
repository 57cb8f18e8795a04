//! A seeded simulation of transactions across partitions: participants
//! (primaries that crash and come back with only their durable state), the
//! record holder among them, coordinators that crash mid-transaction, a
//! network that drops, duplicates, delays and reorders, and fast-path
//! commands interleaved.
//!
//! Everything random comes from one `StdRng`, so a seed replays exactly.
//! `history::History` asserts the properties of
//! docs/TRANSACTIONS.md after every step; [`Sim::heal`] then stops the
//! faults, kills every coordinator, and asserts that every lock goes within
//! a bound and that every transaction is applied everywhere or nowhere.
//!
//! The shells here are the models the server and proxy follow: see how
//! `Node` answers EXECUTE only once what it read is durable, and how a
//! crash keeps a prefix of the proposals in flight (PacificA's uncommitted
//! tail survives a failover or not, in log order).

mod history;
mod world;

#[cfg(test)]
mod tests;
