//! A whole stream to and from Redis's serialization
//! ([`petrel_common::rdb::Stream`], DUMP and RESTORE).
//!
//! Dumping writes each node record as one radix-tree node holding its
//! live entries (the content of entries XDEL removed is gone, so a node
//! dumps without them). Restoring keeps the payload's nodes: each becomes
//! a node record with Redis's counters and listpack size, so XADD, `~`
//! trimming and XINFO go on as they would in the Redis that dumped it.

use petrel_common::rdb;

use super::groups::{Consumer, Group, Nack};
use super::id::StreamId;
use super::listpack;
use super::store::{encode_pairs, entry_element, Node, Stream};
use crate::cmd::db::Db;
use crate::cmd::outcome::CmdError;
use crate::storage::StorageError;

fn to_rdb_id(id: StreamId) -> rdb::StreamId {
    rdb::StreamId {
        ms: id.ms,
        seq: id.seq,
    }
}

fn from_rdb_id(id: rdb::StreamId) -> StreamId {
    StreamId::new(id.ms, id.seq)
}

/// The stream at `key` as Redis serializes it; `WRONGTYPE` if `key` holds
/// another type.
pub(crate) fn load_rdb(db: &Db<'_>, key: &[u8]) -> Result<Option<rdb::Stream>, CmdError> {
    match Stream::load(db, key)? {
        Some(stream) => Ok(Some(to_rdb(db, &stream)?)),
        None => Ok(None),
    }
}

fn to_rdb(db: &Db<'_>, stream: &Stream<'_>) -> Result<rdb::Stream, StorageError> {
    let mut nodes = Vec::new();
    let mut after = None;
    while let Some(node) = stream.next_node(db, after)? {
        after = Some(node.master);
        let entries = stream
            .range(db, node.master, node.last, 0, false)?
            .into_iter()
            .map(|(id, pairs)| rdb::StreamEntry {
                id: to_rdb_id(id),
                pairs,
            })
            .collect();
        nodes.push(rdb::StreamNode {
            master: to_rdb_id(node.master),
            fields: node.fields,
            entries,
            deleted: 0,
            last: to_rdb_id(node.last),
            bytes: 0,
        });
    }
    let mut groups = Vec::new();
    for g in stream.all_groups(db)? {
        let consumers = stream
            .all_consumers(db, &g.name)?
            .into_iter()
            .map(|c| rdb::Consumer {
                name: c.name,
                seen_time: c.seen,
            })
            .collect();
        let mut pending = Vec::new();
        stream.scan_pending(
            db,
            &g.name,
            StreamId::MIN,
            StreamId::MAX,
            &mut |id, nack| {
                pending.push(rdb::Nack {
                    id: to_rdb_id(id),
                    delivery_time: nack.delivered,
                    delivery_count: nack.deliveries,
                    consumer: nack.consumer,
                });
                true
            },
        )?;
        groups.push(rdb::Group {
            name: g.name,
            last_id: to_rdb_id(g.last_id),
            entries_read: g.entries_read,
            pending,
            consumers,
        });
    }
    Ok(rdb::Stream {
        nodes,
        length: stream.len(),
        last_id: to_rdb_id(stream.last_id),
        first_id: to_rdb_id(stream.first_id),
        max_deleted: to_rdb_id(stream.max_deleted),
        entries_added: stream.entries_added,
        groups,
    })
}

/// Stores `s` at `key` as a new incarnation expiring at `expire_at_ms`
/// (0: never); whatever `key` held must be deleted first.
pub(crate) fn store_rdb(
    db: &mut Db<'_>,
    key: &[u8],
    s: &rdb::Stream,
    expire_at_ms: u64,
) -> Result<(), StorageError> {
    let mut stream = Stream::create(db, key)?;
    stream.entry.header.expire_at_ms = expire_at_ms;
    let version = stream.version();
    for node in &s.nodes {
        // Redis drops a node once its last live entry goes.
        if node.entries.is_empty() {
            continue;
        }
        let count = node.entries.len() as u64;
        let overhead = listpack::node_bytes(count, node.deleted, 0);
        let body = match node.bytes {
            0 => {
                // Not read from a payload: the size of its live entries.
                let master = from_rdb_id(node.master);
                listpack::master_body(&node.fields)
                    + node
                        .entries
                        .iter()
                        .map(|e| {
                            let same = rdb::stream::same_fields(&node.fields, &e.pairs);
                            listpack::entry(master, from_rdb_id(e.id), &e.pairs, same)
                        })
                        .sum::<u64>()
            }
            bytes => bytes.saturating_sub(overhead),
        };
        stream.put_node(
            db,
            &Node {
                master: from_rdb_id(node.master),
                count,
                deleted: node.deleted,
                body,
                last: from_rdb_id(node.last),
                fields: node.fields.clone(),
            },
        );
        for e in &node.entries {
            db.put_element(
                key,
                version,
                &entry_element(from_rdb_id(e.id)),
                &encode_pairs(&e.pairs),
            );
        }
        stream.nodes += 1;
        stream.tail = from_rdb_id(node.master);
    }
    stream.entry.header.size = s.length;
    stream.last_id = from_rdb_id(s.last_id);
    stream.first_id = from_rdb_id(s.first_id);
    stream.max_deleted = from_rdb_id(s.max_deleted);
    stream.entries_added = s.entries_added;
    stream.groups = s.groups.len() as u64;
    for g in &s.groups {
        stream.put_group(
            db,
            &Group {
                name: g.name.clone(),
                last_id: from_rdb_id(g.last_id),
                entries_read: g.entries_read,
                consumers: g.consumers.len() as u64,
                pending: g.pending.len() as u64,
            },
        );
        for c in &g.consumers {
            let owned = g.pending.iter().filter(|p| p.consumer == c.name).count();
            stream.put_consumer(
                db,
                &g.name,
                &Consumer {
                    name: c.name.clone(),
                    seen: c.seen_time,
                    pending: owned as u64,
                },
            );
        }
        for p in &g.pending {
            let id = from_rdb_id(p.id);
            stream.put_nack(
                db,
                &g.name,
                id,
                &Nack {
                    delivered: p.delivery_time,
                    deliveries: p.delivery_count,
                    consumer: p.consumer.clone(),
                },
            );
            stream.set_owned(db, &g.name, &p.consumer, id, true);
        }
    }
    stream.save(db);
    Ok(())
}
