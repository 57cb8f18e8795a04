//! Test helpers: a memory engine driven command by command with a fake clock.

use bytes::Bytes;
use petrel_common::ids::Decree;
use petrel_common::reply::Reply;

use std::cell::Cell;

use petrel_common::command::{self, Resolved};

use crate::cmd::{errors, execute, execute_with, Execution, Notify};
use crate::storage::layout::{self, KeyType, MetaHeader};
use crate::storage::memory::MemEngine;
use crate::storage::{Engine, Mutation, ReadView, StorageError, WriteOp};

/// A `petrel.exec` call as the proxy sends it: the watched keys and their
/// fingerprints (`watch` alternates them), then each command's id, its
/// argument count and its arguments.
pub(crate) fn exec_batch(watch: &[&str], commands: &[&[&str]]) -> Vec<String> {
    let mut out = vec!["petrel.exec".to_string(), (watch.len() / 2).to_string()];
    out.extend(watch.iter().map(|s| s.to_string()));
    for c in commands {
        let id = command::table()
            .find(c[0].as_bytes())
            .map_or(u16::MAX, |c| c.id.0);
        out.push(id.to_string());
        out.push(c.len().to_string());
        out.extend(c.iter().map(|a| a.to_string()));
    }
    out
}

/// `&str`s of `strings`.
pub(crate) fn strs(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}

/// Whether the command named `name` may write (the command table's flag).
pub(crate) fn is_write(name: &[u8]) -> bool {
    command::table().find(name).is_some_and(|c| c.is_write())
}

/// An engine plus a clock; `run` executes a command and applies its mutation.
pub(crate) struct Harness {
    pub(crate) engine: MemEngine,
    pub(crate) now: u64,
    decree: u64,
    /// The keyspace event classes commands raise (0: none).
    pub(crate) notify: u32,
}

/// A fixed, realistic wall-clock start (2023-11-14T22:13:20Z).
pub(crate) const START_MS: u64 = 1_700_000_000_000;

impl Harness {
    pub(crate) fn new() -> Self {
        Harness {
            engine: MemEngine::new(),
            now: START_MS,
            decree: 0,
            notify: 0,
        }
    }

    /// A harness whose commands raise every keyspace event (`AKEnm`).
    pub(crate) fn with_events() -> Self {
        Harness {
            notify: petrel_common::notify::parse(b"AKEnm").unwrap_or(0),
            ..Harness::new()
        }
    }

    /// Runs (and applies) a command; its events as `"<event> <key>"`.
    pub(crate) fn events(&mut self, args: &[&str]) -> Vec<String> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.events_bytes(&args)
    }

    /// [`Harness::events`] of raw-byte arguments.
    pub(crate) fn events_bytes(&mut self, args: &[&[u8]]) -> Vec<String> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let exec = self.exec_bytes(&args);
        self.apply(&exec.mutation);
        exec.events
            .list
            .iter()
            .map(|e| format!("{} {}", e.name, String::from_utf8_lossy(&e.key)))
            .collect()
    }

    /// Executes without applying.
    pub(crate) fn exec(&mut self, args: &[&str]) -> Execution {
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        self.exec_bytes(&args)
    }

    /// Executes raw-byte arguments and applies the mutation.
    pub(crate) fn run_bytes(&mut self, args: &[&[u8]]) -> Reply {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let exec = self.exec_bytes(&args);
        self.apply(&exec.mutation);
        exec.reply
    }

    /// Resolves the command as a proxy would, then executes it.
    fn exec_bytes(&mut self, args: &[Bytes]) -> Execution {
        match command::table().resolve(args) {
            Resolved::Command(c) => {
                let notify = Notify {
                    flags: self.notify,
                    reading: !c.is_write(),
                };
                execute_with(&self.engine, c, args, self.now, notify)
            }
            _ => Execution::only(Reply::error(errors::unknown_call(args))),
        }
    }

    /// Executes and applies the mutation, returning the reply.
    pub(crate) fn run(&mut self, args: &[&str]) -> Reply {
        let exec = self.exec(args);
        self.apply(&exec.mutation);
        exec.reply
    }

    pub(crate) fn apply(&mut self, mutation: &Mutation) {
        self.decree += 1;
        self.engine.apply(Decree(self.decree), mutation).unwrap();
    }

    /// Stores the metadata of a hash (no elements), as later code will.
    pub(crate) fn seed_hash(&mut self, key: &str, expire_at_ms: u64) {
        self.seed(key, KeyType::Hash, expire_at_ms);
    }

    /// Stores the metadata of a key of any type.
    pub(crate) fn seed(&mut self, key: &str, key_type: KeyType, expire_at_ms: u64) {
        let header = MetaHeader {
            key_type,
            expire_at_ms,
            version: 7,
            size: 1,
        };
        let put = WriteOp::Put(
            layout::meta_key(key.as_bytes()),
            layout::encode_meta(&header, b""),
        );
        self.apply(&Mutation { ops: vec![put] });
    }

    /// The stored metadata header of `key`, expired or not.
    pub(crate) fn header(&self, key: &str) -> Option<MetaHeader> {
        let raw = self
            .engine
            .get(&layout::meta_key(key.as_bytes()))
            .unwrap()?;
        Some(layout::decode_meta(&raw).unwrap().0)
    }
}

impl Harness {
    /// Executes on a [`Counting`] view without applying: the execution, the
    /// point lookups and the records scanned (what a command touches).
    pub(crate) fn counted(&self, args: &[&str]) -> (Execution, u64, u64) {
        let view = Counting::new(&self.engine);
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let command = command::table().find(&args[0]).expect("a command");
        let exec = execute(&view, command, &args, self.now);
        (exec, view.gets.get(), view.scanned.get())
    }
}

/// A view that counts what a command reads: point lookups and scanned records.
pub(crate) struct Counting<'a> {
    inner: &'a dyn ReadView,
    pub(crate) gets: Cell<u64>,
    pub(crate) scanned: Cell<u64>,
}

impl<'a> Counting<'a> {
    pub(crate) fn new(inner: &'a dyn ReadView) -> Self {
        Counting {
            inner,
            gets: Cell::new(0),
            scanned: Cell::new(0),
        }
    }
}

impl ReadView for Counting<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.gets.set(self.gets.get() + 1);
        self.inner.get(key)
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.inner.scan(start, end, &mut |k, v| {
            self.scanned.set(self.scanned.get() + 1);
            visit(k, v)
        })
    }

    fn scan_rev(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        self.inner.scan_rev(start, end, &mut |k, v| {
            self.scanned.set(self.scanned.get() + 1);
            visit(k, v)
        })
    }
}

/// A view whose every read fails, for storage-failure paths.
pub(crate) struct BrokenView;

impl ReadView for BrokenView {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Err(StorageError::Corrupt("broken".into()))
    }

    fn scan(
        &self,
        _start: &[u8],
        _end: &[u8],
        _visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        Err(StorageError::Corrupt("broken".into()))
    }

    fn scan_rev(
        &self,
        _start: &[u8],
        _end: &[u8],
        _visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        Err(StorageError::Corrupt("broken".into()))
    }
}

pub(crate) fn ok() -> Reply {
    Reply::ok()
}

pub(crate) fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

pub(crate) fn int(n: i64) -> Reply {
    Reply::Int(n)
}

pub(crate) fn nil() -> Reply {
    Reply::Nil
}

pub(crate) fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

pub(crate) fn status(text: &str) -> Reply {
    Reply::Status(text.to_string())
}
