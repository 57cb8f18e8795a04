//! A host with a few string and hash commands over a map, enough for
//! scripts to read and write like they would on Redis.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use crate::host::{Host, LogLevel};

/// An in-memory keyspace answering the commands the tests use.
#[derive(Default)]
pub(crate) struct FakeHost {
    pub strings: HashMap<Bytes, Bytes>,
    pub hashes: HashMap<Bytes, BTreeMap<Bytes, Bytes>>,
    /// Every command run, for tests that check what reached the host.
    pub calls: Vec<Vec<Bytes>>,
    /// Every `redis.log` line.
    pub logs: Vec<(LogLevel, Vec<u8>)>,
    /// Commands the ACL refuses.
    pub denied: Vec<&'static str>,
}

impl Host for FakeHost {
    fn call(&mut self, args: Vec<Bytes>) -> Reply {
        self.calls.push(args.clone());
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        match (name.as_str(), &args[1..]) {
            ("ping", []) => Reply::Status("PONG".into()),
            ("get", [k]) => {
                if self.hashes.contains_key(k) {
                    return Reply::error(errors::WRONGTYPE);
                }
                self.strings.get(k).cloned().map_or(Reply::Nil, Reply::Bulk)
            }
            ("set", [k, v]) => {
                self.hashes.remove(k);
                self.strings.insert(k.clone(), v.clone());
                Reply::ok()
            }
            ("incr", [k]) => {
                let cur = match self.strings.get(k) {
                    None => 0,
                    Some(v) => match std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                    {
                        Some(n) => n,
                        None => return Reply::error(errors::NOT_INTEGER),
                    },
                };
                self.strings
                    .insert(k.clone(), Bytes::from((cur + 1).to_string()));
                Reply::Int(cur + 1)
            }
            ("del", keys) => {
                let n = keys
                    .iter()
                    .filter(|k| {
                        self.strings.remove(*k).is_some() | self.hashes.remove(*k).is_some()
                    })
                    .count();
                Reply::Int(n as i64)
            }
            ("hset", [k, rest @ ..]) if rest.len() % 2 == 0 => {
                let h = self.hashes.entry(k.clone()).or_default();
                let mut added = 0;
                for pair in rest.chunks(2) {
                    if h.insert(pair[0].clone(), pair[1].clone()).is_none() {
                        added += 1;
                    }
                }
                Reply::Int(added)
            }
            ("hgetall", [k]) => Reply::Map(
                self.hashes
                    .get(k)
                    .map(|h| {
                        h.iter()
                            .map(|(f, v)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => Reply::error(format!("ERR fake host has no '{name}'")),
        }
    }

    fn acl_check(&mut self, args: &[Bytes]) -> Result<(), String> {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        if self.denied.contains(&name.as_str()) {
            return Err(format!("No permissions to run the '{name}' command"));
        }
        Ok(())
    }

    fn log(&mut self, level: LogLevel, message: &[u8]) {
        self.logs.push((level, message.to_vec()));
    }
}
