//! Helpers of the planner's and the driver's tests.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use petrel_common::command::table;
use petrel_common::reply::Reply;
use petrel_common::txn::{Request, Response, TxnId};

use super::call::Call;
use super::driver::{Answer, Msg, Transport};

/// Words as arguments.
pub(crate) fn words(w: &[&str]) -> Vec<Bytes> {
    w.iter().map(|s| Bytes::from(s.to_string())).collect()
}

/// A command from its words.
pub(crate) fn call(w: &[&str]) -> Call {
    let args = words(w);
    let command = table().find(&args[0]).expect("command");
    Call { command, args }
}

/// Keys name their partition by their first character: `1a` is in 1.
pub(crate) fn by_digit(k: &[u8]) -> u32 {
    u32::from(k[0] - b'0')
}

/// A bulk string reply.
pub(crate) fn b(s: &str) -> Reply {
    Reply::Bulk(Bytes::from(s.to_string()))
}

type Script = dyn Fn(u32, &Msg, &Fake) -> Option<Answer> + Send + Sync;

/// A participant for every partition, answering at once by `script`;
/// every message is logged.
pub(crate) struct Fake {
    pub(crate) log: Mutex<Vec<(u32, Msg)>>,
    /// (txn, partition) that ran a write.
    writers: Mutex<HashSet<(TxnId, u32)>>,
    script: Box<Script>,
}

impl Fake {
    pub(crate) fn new(
        script: impl Fn(u32, &Msg, &Fake) -> Option<Answer> + Send + Sync + 'static,
    ) -> Arc<Fake> {
        Arc::new(Fake {
            log: Mutex::new(Vec::new()),
            writers: Mutex::new(HashSet::new()),
            script: Box::new(script),
        })
    }

    /// A participant that accepts everything; EXECUTE replies by `reply`.
    pub(crate) fn happy(
        &self,
        to: u32,
        msg: &Msg,
        reply: impl Fn(&Call) -> Reply,
    ) -> Option<Answer> {
        let resp = match msg {
            Msg::Execute { head, commands } => {
                let mut w = self.writers.lock().expect("lock");
                if commands.iter().any(|c| c.command.is_write()) {
                    w.insert((head.txn, to));
                }
                let replies = commands.iter().map(reply).collect();
                return Some(Answer {
                    resp: Response::Executed {
                        txn: head.txn,
                        seq: head.seq,
                        epoch: 1,
                        writes: w.contains(&(head.txn, to)),
                    },
                    replies,
                });
            }
            Msg::Request(r) => match r {
                Request::Prepare { txn, .. } => Response::Prepared { txn: *txn },
                Request::CommitOne { txn, .. } => Response::Committed { txn: *txn },
                Request::Decide { txn, .. } => Response::Decided { txn: *txn },
                Request::Release { txn } => Response::Released { txn: *txn },
                Request::Heartbeat { txn } => Response::Alive { txn: *txn },
                Request::Status { txn } => Response::Status {
                    txn: *txn,
                    decision: petrel_common::txn::Decision::Committed,
                },
                Request::Prevent { txn } => Response::Prevent {
                    txn: *txn,
                    found: true,
                },
            },
        };
        Some(Answer {
            resp,
            replies: Vec::new(),
        })
    }

    pub(crate) fn requests(&self) -> Vec<(u32, String)> {
        let log = self.log.lock().expect("lock");
        log.iter()
            .map(|(to, m)| {
                let what = match m {
                    Msg::Execute { commands, .. } => format!(
                        "EXECUTE {}",
                        commands
                            .iter()
                            .map(|c| String::from_utf8_lossy(&c.args[0]).to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    Msg::Request(r) => format!("{r:?}")
                        .split([' ', '{'])
                        .next()
                        .unwrap_or("")
                        .to_string(),
                };
                (*to, what)
            })
            .collect()
    }
}

impl Transport for Fake {
    fn send(&self, to: u32, msg: Msg) -> BoxFuture<'static, Option<Answer>> {
        let answer = (self.script)(to, &msg, self);
        self.log.lock().expect("lock").push((to, msg));
        Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        })
    }
}

/// A participant that refuses the first EXECUTE at `partition` as wounded
/// and otherwise answers like [`Fake::happy`] with `reply`.
pub(crate) fn wounds_once(partition: u32, reply: fn(&Call) -> Reply) -> Arc<Fake> {
    let wounded = Mutex::new(false);
    Fake::new(move |to, m, f| {
        if let Msg::Execute { head, .. } = m {
            let mut w = wounded.lock().expect("lock");
            if to == partition && !*w {
                *w = true;
                return Some(Answer {
                    resp: Response::Refused {
                        txn: head.txn,
                        to: petrel_common::txn::msg::Asked::Execute,
                        why: petrel_common::txn::msg::Refusal::Wounded,
                    },
                    replies: Vec::new(),
                });
            }
        }
        f.happy(to, m, reply)
    })
}
