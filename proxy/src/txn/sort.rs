//! SORT and SORT_RO whose `BY`/`GET` patterns name keys: those keys are
//! known only once the sorted key is read, and may lie in any partition.
//! The command runs as a transaction in three steps, each a round of the
//! script driver ([`super::script`]), under the transaction's locks:
//!
//! 1. `SORT_RO key BY nosort` at the key's partition: its elements.
//! 2. Every string (`GET`) and hash field (`HGET`) the patterns name for
//!    those elements, each at its own partition, in one round.
//! 3. `petrel.sort` with those values at the key's partition: the server
//!    sorts and answers exactly as SORT does, and with `STORE` writes the
//!    destination (when that lies elsewhere, the sort runs there with the
//!    sorted key carried, `super::plan`).
//!
//! The same steps serve a script's `redis.call('SORT', ...)` across
//! partitions (`crate::script::session`). A SORT whose patterns name no
//! key is an ordinary command (its key and STORE's, `super::run_command`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use petrel_common::command::{table, Command, Internal};
use petrel_common::hash::partition_of;
use petrel_common::reply::Reply;
use petrel_common::sort::{lookup_of, parse, Lookup};
use tokio::sync::mpsc;

use super::call::Call;
use super::plan::{plan, plan_txn, Planned};
use super::script::{Event, Session, Start};
use crate::route::router::Router;

/// Whether `args` (a SORT or SORT_RO call) has patterns that name keys;
/// `false` also for arguments the server will refuse.
pub(crate) fn names_keys(command: &Command, args: &[Bytes]) -> bool {
    let readonly = command.name() == "sort_ro";
    parse(args, readonly, true).is_ok_and(|a| a.key_patterns().next().is_some())
}

/// Runs the SORT call `args` (name first) as one transaction by `deadline`.
pub(crate) async fn run(router: &Arc<Router>, args: Vec<Bytes>, deadline: Instant) -> Reply {
    let start = move |map: &petrel_common::partition::TableMap| -> Start {
        let partitions = map.partition_count;
        Box::new(move || session(args.clone(), partitions))
    };
    super::run_script(router, start, deadline).await.reply
}

/// One run of the steps on a thread of its own, asking the driver.
fn session(args: Vec<Bytes>, partitions: u32) -> Session {
    let (events, rx) = mpsc::unbounded_channel();
    let (replies, answers) = std::sync::mpsc::channel::<Reply>();
    std::thread::spawn(move || {
        let mut ask = |event: Event| -> Reply {
            if events.send(event).is_err() {
                return Reply::error("ERR the SORT was stopped");
            }
            answers
                .recv()
                .unwrap_or_else(|_| Reply::error("ERR the SORT was stopped"))
        };
        let reply = steps(&args, false, partitions, &mut ask);
        let _ = events.send(Event::Done(reply, Vec::new()));
    });
    Session {
        events: rx,
        replies,
        // Dropping `replies` ends the thread at its next question.
        stop: Box::new(|| {}),
    }
}

/// Runs the SORT call `args` by the steps above, each step's calls asked
/// of `ask` (which runs them inside the transaction and answers); `script`
/// when a script calls it (a set then sorts even `BY nosort`).
pub(crate) fn steps(
    args: &[Bytes],
    script: bool,
    partitions: u32,
    ask: &mut dyn FnMut(Event) -> Reply,
) -> Reply {
    let pid = |k: &[u8]| partition_of(k, partitions);
    let Some(source) = args.get(1) else {
        return Reply::error("ERR wrong number of arguments for 'sort' command");
    };
    let readonly = args[0].eq_ignore_ascii_case(b"sort_ro");
    let mut values: Vec<Bytes> = Vec::new();
    let mut count = 0usize;
    if let Ok(opts) = parse(args, readonly, true) {
        let patterns: Vec<&Bytes> = opts.key_patterns().collect();
        if !patterns.is_empty() {
            let elements = match ask(read_elements(source, pid(source))) {
                Reply::Array(items) => items,
                other => return other,
            };
            let mut wanted: Vec<(Bytes, Option<Bytes>)> = Vec::new();
            let mut seen = HashSet::new();
            for e in &elements {
                let Reply::Bulk(e) = e else {
                    return Reply::error("ERR SORT: unexpected element reply");
                };
                for p in &patterns {
                    if let Lookup::Key { key, field } = lookup_of(p, e) {
                        let at = (Bytes::from(key), field.map(Bytes::copy_from_slice));
                        if seen.insert(at.clone()) {
                            wanted.push(at);
                        }
                    }
                }
            }
            let read = read_values(&wanted, ask, &pid);
            let read = match read {
                Ok(r) => r,
                Err(e) => return e,
            };
            count = wanted.len();
            for ((key, field), value) in wanted.into_iter().zip(read) {
                let kind: &'static [u8] = match (field.is_some(), value.is_some()) {
                    (false, true) => b"s",
                    (true, true) => b"h",
                    (false, false) => b"s-",
                    (true, false) => b"h-",
                };
                values.extend([
                    Bytes::from_static(kind),
                    key,
                    field.unwrap_or_default(),
                    value.unwrap_or_default(),
                ]);
            }
        }
    }
    let mut sort = vec![
        Bytes::from_static(b"petrel.sort"),
        Bytes::from_static(if script { b"1" } else { b"0" }),
        Bytes::from(count.to_string()),
    ];
    sort.extend(values);
    sort.extend(args.iter().cloned());
    let call = Call::internal(Internal::Sort, sort);
    match plan(std::slice::from_ref(&call), &[], pid) {
        Planned::Txn(plan) => ask(Event::Planned(plan)),
        Planned::OnePartition => ask(Event::Call {
            partition: pid(source),
            call,
        }),
    }
}

/// Step 1: the sorted key's elements, in its own order.
fn read_elements(source: &Bytes, partition: u32) -> Event {
    let args = vec![
        Bytes::from_static(b"SORT_RO"),
        source.clone(),
        Bytes::from_static(b"BY"),
        Bytes::from_static(b"nosort"),
    ];
    Event::Call {
        partition,
        call: Call {
            command: table().find(b"sort_ro").expect("SORT_RO is in the table"),
            args,
        },
    }
}

/// Step 2: the value of each wanted string or hash field (`None`: missing
/// or of another type).
fn read_values(
    wanted: &[(Bytes, Option<Bytes>)],
    ask: &mut dyn FnMut(Event) -> Reply,
    pid: &impl Fn(&[u8]) -> u32,
) -> Result<Vec<Option<Bytes>>, Reply> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let get = table().find(b"get").expect("GET is in the table");
    let hget = table().find(b"hget").expect("HGET is in the table");
    let calls: Vec<Call> = wanted
        .iter()
        .map(|(key, field)| match field {
            None => Call {
                command: get,
                args: vec![Bytes::from_static(b"GET"), key.clone()],
            },
            Some(f) => Call {
                command: hget,
                args: vec![Bytes::from_static(b"HGET"), key.clone(), f.clone()],
            },
        })
        .collect();
    let Some(plan) = plan_txn(&calls, pid) else {
        return Ok(vec![None; wanted.len()]);
    };
    let replies = match ask(Event::Planned(plan)) {
        Reply::Array(r) if wanted.len() > 1 => r,
        e @ Reply::Error(_) if wanted.len() > 1 => return Err(e),
        one => vec![one],
    };
    if replies.len() != wanted.len() {
        return Err(Reply::error("ERR SORT: pattern reads went unanswered"));
    }
    // A key of another type reads as missing, as in Redis.
    Ok(replies
        .into_iter()
        .map(|r| match r {
            Reply::Bulk(v) => Some(v),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn words(call: &Call) -> Vec<String> {
        call.args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn patterns_are_read_then_sorted_with_their_values() {
        let sort = args(&[
            "SORT",
            "{t}l",
            "BY",
            "{t}w_*",
            "GET",
            "{t}h_*->f",
            "GET",
            "#",
        ]);
        let sort_ro = table().find(b"sort_ro").expect("sort_ro");
        assert!(names_keys(sort_ro, &args(&["SORT_RO", "l", "GET", "x_*"])));
        assert!(!names_keys(
            sort_ro,
            &args(&["SORT_RO", "l", "BY", "nosort", "GET", "#"])
        ));
        let mut asked = Vec::new();
        let reply = steps(&sort, false, 8, &mut |event| {
            let reply = match &event {
                Event::Call { call, .. } if call.command.name() == "sort_ro" => {
                    Reply::Array(vec![Reply::Bulk("a".into()), Reply::Bulk("b".into())])
                }
                Event::Planned(_) => Reply::Array(vec![
                    Reply::Bulk("2".into()),
                    Reply::error(
                        "WRONGTYPE Operation against a key holding the wrong kind of value",
                    ),
                    Reply::Nil,
                    Reply::Bulk("v".into()),
                ]),
                Event::Call { call, .. } => {
                    Reply::Array(vec![Reply::Bulk(words(call).join(" ").into())])
                }
                _ => Reply::error("ERR unexpected"),
            };
            asked.push(event);
            reply
        });
        assert_eq!(asked.len(), 3, "elements, values, sort");
        assert_eq!(
            reply,
            Reply::Array(vec![Reply::Bulk(
                "petrel.sort 0 4 s {t}w_a  2 h- {t}h_a f  s- {t}w_b   h {t}h_b f v \
                 SORT {t}l BY {t}w_* GET {t}h_*->f GET #"
                    .into()
            )])
        );
    }

    #[test]
    fn without_patterns_only_the_sort_runs() {
        let mut asked = 0;
        steps(&args(&["SORT", "l", "DESC"]), true, 8, &mut |event| {
            asked += 1;
            match event {
                Event::Call { call, .. } => {
                    assert_eq!(words(&call), ["petrel.sort", "1", "0", "SORT", "l", "DESC"]);
                }
                _ => panic!("one call expected"),
            }
            Reply::Int(0)
        });
        assert_eq!(asked, 1);
    }
}
