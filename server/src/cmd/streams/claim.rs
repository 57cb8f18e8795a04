//! XCLAIM and XAUTOCLAIM: giving pending entries to another consumer.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::groups::{Consumer, Group, Nack};
use super::id::{self, StreamId};
use super::pending::stream_and_group;
use super::read::seen_consumer;
use super::reply::entry_reply;
use super::reply::{c_text, no_group};
use super::store::Stream;
use crate::cmd::db::Db;
use crate::cmd::outcome::{CmdError, CmdResult};
use crate::cmd::parse::{is_option, parse_i64};

/// An integer argument, or `ERR <text>`.
fn long_or(arg: &[u8], text: &str) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or_else(|| CmdError::reply(format!("ERR {text}")))
}

/// What one claim does to the pending entry.
struct Claim {
    /// The new delivery time (unix ms).
    delivered: u64,
    /// RETRYCOUNT, when given.
    retries: Option<u64>,
    /// JUSTID: the ids only, and the delivery count unchanged.
    just_id: bool,
}

/// A consumer made on first use, as Redis looks it up only once it claims.
struct Claimant<'a> {
    name: &'a Bytes,
    consumer: Option<Consumer>,
}

impl Claimant<'_> {
    /// Gives pending entry `id` (`nack`; `owned` is false for one FORCE
    /// just made, which nobody owns yet) to the claimant; the entry's reply.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        db: &mut Db<'_>,
        stream: &mut Stream<'_>,
        group: &mut Group,
        id: StreamId,
        mut nack: Nack,
        owned: bool,
        claim: &Claim,
    ) -> Result<Reply, CmdError> {
        let consumer = match &mut self.consumer {
            Some(c) => c,
            None => self
                .consumer
                .insert(seen_consumer(db, stream, group, self.name)?),
        };
        if !owned || nack.consumer != consumer.name {
            if owned {
                stream.set_owned(db, &group.name, &nack.consumer, id, false);
                if let Some(mut owner) = stream.consumer(db, &group.name, &nack.consumer)? {
                    owner.pending = owner.pending.saturating_sub(1);
                    stream.put_consumer(db, &group.name, &owner);
                }
            }
            stream.set_owned(db, &group.name, &consumer.name, id, true);
            consumer.pending += 1;
            nack.consumer = consumer.name.clone();
        }
        nack.delivered = claim.delivered;
        match claim.retries {
            Some(n) => nack.deliveries = n,
            None if !claim.just_id => nack.deliveries += 1,
            None => {}
        }
        stream.put_nack(db, &group.name, id, &nack);
        stream.put_consumer(db, &group.name, consumer);
        if claim.just_id {
            return Ok(id.reply());
        }
        let pairs = stream.get(db, id)?.unwrap_or_default();
        Ok(entry_reply(id, pairs))
    }
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms]
/// [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID]
/// [LASTID lastid]`
pub(crate) fn xclaim(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let Some((mut stream, mut group)) = stream_and_group(db, &args[1], &args[2])? else {
        return Err(no_group(&args[1], &args[2]));
    };
    let min_idle = long_or(&args[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while let Some(id) = args.get(j).and_then(|a| id::parse_strict(a).ok()) {
        ids.push(id);
        j += 1;
    }
    let now = db.now_i64();
    let (mut force, mut just_id) = (false, false);
    let mut time: i64 = -1;
    let mut retries: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if is_option(opt, "force") {
            force = true;
        } else if is_option(opt, "justid") {
            just_id = true;
        } else if is_option(opt, "idle") && more > 0 {
            j += 1;
            time = now.saturating_sub(long_or(
                &args[j],
                "Invalid IDLE option argument for XCLAIM",
            )?);
        } else if is_option(opt, "time") && more > 0 {
            j += 1;
            time = long_or(&args[j], "Invalid TIME option argument for XCLAIM")?;
        } else if is_option(opt, "retrycount") && more > 0 {
            j += 1;
            retries = long_or(&args[j], "Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if is_option(opt, "lastid") && more > 0 {
            j += 1;
            last_id = id::parse_strict(&args[j])?;
        } else {
            return Err(CmdError::reply(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                c_text(opt)
            )));
        }
        j += 1;
    }
    let mut changed = false;
    if last_id > group.last_id {
        group.last_id = last_id;
        changed = true;
    }
    // A time in the future, or before 1970, is now.
    let delivered = if time < 0 || time > now { now } else { time };
    let claim = Claim {
        delivered: u64::try_from(delivered).unwrap_or(0),
        retries: u64::try_from(retries).ok(),
        just_id,
    };
    let mut claimant = Claimant {
        name: &args[3],
        consumer: None,
    };
    let mut out = Vec::new();
    for id in ids {
        let nack = stream.nack(db, &group.name, id)?;
        if !stream.contains(db, id)? {
            if let Some(nack) = nack {
                stream.drop_nack(db, &mut group, id, &nack)?;
                changed = true;
            }
            continue;
        }
        let (nack, owned) = match nack {
            Some(nack) => {
                let idle = now.saturating_sub(i64::try_from(nack.delivered).unwrap_or(i64::MAX));
                if min_idle > 0 && idle < min_idle {
                    continue;
                }
                (nack, true)
            }
            None if force => {
                group.pending += 1;
                let nack = Nack {
                    delivered: u64::try_from(now).unwrap_or(0),
                    deliveries: 1,
                    consumer: Bytes::new(),
                };
                (nack, false)
            }
            None => continue,
        };
        out.push(claimant.take(db, &mut stream, &mut group, id, nack, owned, &claim)?);
        changed = true;
    }
    if changed {
        stream.put_group(db, &group);
    }
    Ok(Reply::Array(out))
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
pub(crate) fn xautoclaim(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    let min_idle = long_or(&args[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = id::range_start(&args[5])?;
    let mut count: i64 = 100;
    let mut just_id = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if is_option(&args[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            count = parse_i64(&args[j + 1])
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CmdError::reply("ERR COUNT must be > 0"))?;
            j += 1;
        } else if is_option(&args[j], "justid") {
            just_id = true;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
        j += 1;
    }
    let Some((mut stream, mut group)) = stream_and_group(db, &args[1], &args[2])? else {
        return Err(no_group(&args[1], &args[2]));
    };
    let now = db.now_i64();
    let claim = Claim {
        delivered: u64::try_from(now).unwrap_or(0),
        retries: None,
        just_id,
    };
    let mut claimant = Claimant {
        name: &args[3],
        consumer: None,
    };
    let mut attempts = count.saturating_mul(10);
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut changed = false;
    let mut from = Some(start);
    // The pending entry after the last one looked at: the next call's start.
    let mut cursor = StreamId::MIN;
    'pages: while let Some(page_start) = from {
        let mut page = Vec::new();
        stream.scan_pending(
            db,
            &group.name,
            page_start,
            StreamId::MAX,
            &mut |id, nack| {
                page.push((id, nack));
                page.len() < 1024
            },
        )?;
        let full = page.len() == 1024;
        from = page.last().and_then(|(id, _)| id.next()).filter(|_| full);
        for (id, nack) in page {
            if attempts == 0 || count == 0 {
                cursor = id;
                break 'pages;
            }
            attempts -= 1;
            if !stream.contains(db, id)? {
                stream.drop_nack(db, &mut group, id, &nack)?;
                deleted.push(id.reply());
                changed = true;
                count -= 1;
                continue;
            }
            let idle = now.saturating_sub(i64::try_from(nack.delivered).unwrap_or(i64::MAX));
            if min_idle > 0 && idle < min_idle {
                continue;
            }
            claimed.push(claimant.take(db, &mut stream, &mut group, id, nack, true, &claim)?);
            changed = true;
            count -= 1;
        }
    }
    if changed {
        stream.put_group(db, &group);
    }
    Ok(Reply::Array(vec![
        cursor.reply(),
        Reply::Array(claimed),
        Reply::Array(deleted),
    ]))
}
