//! The one command table: every command Petrel serves or knows, read by the
//! proxy (parsing, routing, ACL, `COMMAND`), the server (execution) and,
//! later, the transaction layer and scripting.
//!
//! - [`args`]: arguments as Redis's C code reads them.
//! - [`def`]: the shape of a command's description (flags as bit sets, key
//!   specs, docs).
//! - `redis.rs`: every command of Redis 7.0, generated from a real
//!   redis-server's `COMMAND INFO` and `COMMAND DOCS` by
//!   `scripts/gen-command-table` (do not edit it by hand).
//! - `internal.rs`: Petrel's internal `petrel.*` commands (proxy to server).
//! - `later.rs`: what newer Redis versions added that clients send:
//!   subcommands (`CLIENT SETINFO`) and commands whose newer definition
//!   replaces the generated one (`ZRANK ... WITHSCORE`).
//! - [`serving`]: Petrel's own column: who executes each command.
//! - [`keys`]: finding the keys in a call's arguments from its key specs.
//!
//! A command is named on the wire by its [`CommandId`]: its index in the
//! table (Redis's commands sorted by name, each followed by its sorted
//! subcommands, then the internal ones, then the later subcommands). The id is only as stable as the
//! generated table, so a server also checks that the name it is given is the
//! id's (see [`Command::names_match`]); regenerating from another Redis
//! version changes ids, which a rolling upgrade must not mix.

mod args;
pub mod def;
mod internal;
pub mod keys;
mod later;
mod redis;
pub mod serving;

use std::collections::HashMap;
use std::sync::LazyLock;

pub use args::c_arg;
pub use def::{
    AclCategories, Arg, ArgFlags, ArgType, BeginSearch, CommandDef, CommandFlags, Doc, DocFlags,
    FindKeys, KeySpec, KeySpecFlags,
};
pub use keys::InvalidKeys;
pub use serving::{Exec, Merge, Serving, TimeoutArg, BLOCK_SLICE};

/// A command's index in the table; what requests between processes carry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CommandId(pub u16);

/// One command or subcommand: Redis's description plus Petrel's column.
#[derive(Debug)]
pub struct Command {
    pub id: CommandId,
    pub def: &'static CommandDef,
    /// Lower case; `parent|sub` for a subcommand, as Redis names it in errors.
    pub full_name: &'static str,
    pub parent: Option<CommandId>,
    /// Sorted by name.
    pub subcommands: Vec<CommandId>,
    pub serving: Serving,
}

impl Command {
    /// The name Redis uses in errors and `COMMAND` (`get`, `client|list`).
    pub fn name(&self) -> &'static str {
        self.full_name
    }

    /// Whether the command carries every flag of `flags`.
    pub fn has(&self, flags: CommandFlags) -> bool {
        self.def.flags.contains(flags)
    }

    /// Whether the command may change data (Redis's `write` flag).
    pub fn is_write(&self) -> bool {
        self.has(CommandFlags::WRITE)
    }

    /// Whether Redis 7.0 gives the command its `may-replicate` flag, which
    /// `COMMAND` hides (so the generated table never has it): a script run
    /// read-only (`EVAL_RO`, `no-writes`) may not call it.
    pub fn may_replicate(&self) -> bool {
        self.has(CommandFlags::MAY_REPLICATE)
            || matches!(
                self.name(),
                "publish" | "spublish" | "eval" | "evalsha" | "fcall" | "pfcount"
            )
    }

    /// Whether the command may block waiting for data (it has a timeout
    /// argument, or an option that gives one).
    pub fn timeout_arg(&self) -> Option<TimeoutArg> {
        self.serving.timeout
    }

    /// Where the timeout of this call is, when it blocks (XREAD blocks only
    /// with its BLOCK option; BLPOP always).
    pub fn block_timeout_at(&self, args: &[impl AsRef<[u8]>]) -> Option<usize> {
        self.serving.timeout?.index(args)
    }

    /// Whether this call blocks waiting for data.
    pub fn blocks(&self, args: &[impl AsRef<[u8]>]) -> bool {
        self.block_timeout_at(args).is_some()
    }

    pub fn exec(&self) -> Exec {
        self.serving.exec
    }

    /// Whether a client may call it (served, and not internal).
    pub fn is_served(&self) -> bool {
        !matches!(self.serving.exec, Exec::Unserved | Exec::Internal)
    }

    /// Whether it is one of Petrel's `petrel.*` commands.
    pub fn is_internal(&self) -> bool {
        self.serving.exec == Exec::Internal
    }

    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.def.arity);
        (arity >= 0 && argc == arity) || (arity < 0 && argc >= -arity)
    }

    /// Calls `found` with the position of every key in `args` (name at 0).
    pub fn for_each_key(
        &self,
        args: &[impl AsRef<[u8]>],
        mut found: impl FnMut(usize, KeySpecFlags),
    ) -> Result<(), InvalidKeys> {
        // SORT's BY/GET and STORE key specs are "unknown" (Redis finds
        // them with `sortGetKeys`); `petrel.sort` carries a SORT call.
        let sort_at = match self.def.name {
            "sort" | "sort_ro" => Some(0),
            "petrel.sort" => crate::sort::embedded_at(args),
            _ => None,
        };
        let Some(base) = sort_at else {
            return keys::for_each_key(self.def.key_specs, args, found);
        };
        let readonly = args
            .get(base)
            .is_some_and(|a| a.as_ref().eq_ignore_ascii_case(b"sort_ro"));
        if args.len() < base + 2 {
            return Err(InvalidKeys);
        }
        for (n, i) in crate::sort::key_positions(args, base, readonly)
            .into_iter()
            .enumerate()
        {
            let flags = if n == 0 {
                KeySpecFlags::of(&[KeySpecFlags::RO, KeySpecFlags::ACCESS])
            } else {
                KeySpecFlags::of(&[KeySpecFlags::OW, KeySpecFlags::UPDATE])
            };
            found(i, flags);
        }
        Ok(())
    }

    /// The positions of the keys in `args`; empty when they cannot be found.
    pub fn key_positions(&self, args: &[impl AsRef<[u8]>]) -> Vec<usize> {
        let mut out = Vec::new();
        if self.for_each_key(args, |i, _| out.push(i)).is_err() {
            out.clear();
        }
        out
    }

    /// The position of the first key (no allocation: asked on every request).
    pub fn first_key(&self, args: &[impl AsRef<[u8]>]) -> Option<usize> {
        let mut first = None;
        let _ = self.for_each_key(args, |i, _| {
            first.get_or_insert(i);
        });
        first
    }

    /// Whether `args` call this command: the name (and subcommand) match.
    /// A server checks this so a request carrying an id from another
    /// version of the table is refused instead of running the wrong command.
    pub fn names_match(&self, args: &[impl AsRef<[u8]>]) -> bool {
        let (top, sub) = match self.full_name.split_once('|') {
            Some((top, sub)) => (top, Some(sub)),
            None => (self.full_name, None),
        };
        let same = |i: usize, name: &str| {
            args.get(i)
                .is_some_and(|a| a.as_ref().eq_ignore_ascii_case(name.as_bytes()))
        };
        same(0, top) && sub.is_none_or(|s| same(1, s))
    }
}

/// What the name (and subcommand) at the start of a call resolve to.
#[derive(Debug, Clone, Copy)]
pub enum Resolved<'a> {
    Command(&'a Command),
    /// No command has the name.
    Unknown,
    /// The container exists, the subcommand does not.
    UnknownSubcommand(&'a Command),
}

/// Petrel's internal commands, which the proxy and the server name by
/// this enum (in the order of `internal.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Internal {
    /// `petrel.scan`: one partition's share of SCAN.
    Scan,
    /// `petrel.expired`: keys past their expiry, for the sweep.
    Expired,
    /// `petrel.dump`: a key's records (MOVE).
    Dump,
    /// `petrel.restore`: writes what `petrel.dump` read (MOVE).
    Restore,
    /// `petrel.sweep`: deletes expired keys.
    Sweep,
    /// `petrel.exec`: a MULTI block on one partition.
    Exec,
    /// `petrel.fingerprint`: a key's digest (WATCH).
    Fingerprint,
    /// `petrel.txn.run`: a command run with keys of other partitions
    /// brought along (a transaction's data flow between partitions).
    TxnRun,
    /// `petrel.txn.replace`: a key set to the state `petrel.txn.run` left it in.
    TxnReplace,
    /// `petrel.eval`: a script whose keys are in one partition.
    Eval,
    /// `petrel.script.kill`: stops the scripts running at a server.
    ScriptKill,
    /// `petrel.fcall`: a function whose keys are in one partition.
    Fcall,
    /// `petrel.moved`: MOVE's delete at the source database.
    Moved,
    /// `petrel.sort`: SORT with its patterns' values read beforehand.
    Sort,
}

/// The table; see the module documentation.
pub struct Table {
    commands: Vec<Command>,
    by_name: HashMap<Box<[u8]>, CommandId>,
    top_level: Vec<CommandId>,
    /// The id of the first internal command.
    first_internal: usize,
}

/// Longest full name any command has (the lookup buffer's size).
const MAX_NAME: usize = 64;

/// The table, built on first use.
pub fn table() -> &'static Table {
    static TABLE: LazyLock<Table> = LazyLock::new(Table::build);
    &TABLE
}

impl Table {
    fn build() -> Table {
        let mut table = Table {
            commands: Vec::new(),
            by_name: HashMap::new(),
            top_level: Vec::new(),
            first_internal: 0,
        };
        for (i, def) in redis::COMMANDS.iter().chain(internal::COMMANDS).enumerate() {
            if i == redis::COMMANDS.len() {
                table.first_internal = table.commands.len();
            }
            let def = later::REPLACED
                .iter()
                .find(|r| r.name == def.name)
                .unwrap_or(def);
            let id = table.add(def, None, def.name.to_string());
            table.top_level.push(id);
            for sub in def.subcommands {
                let full = format!("{}|{}", def.name, sub.name);
                let sub_id = table.add(sub, Some(id), full);
                table.commands[id.0 as usize].subcommands.push(sub_id);
            }
        }
        for (parent, sub) in later::SUBCOMMANDS {
            let Some(pid) = table.find(parent.as_bytes()).map(|p| p.id) else {
                continue;
            };
            let sub_id = table.add(sub, Some(pid), format!("{parent}|{}", sub.name));
            let mut subs = table.commands[usize::from(pid.0)].subcommands.clone();
            subs.push(sub_id);
            subs.sort_by_key(|&s| table.commands[usize::from(s.0)].full_name);
            table.commands[usize::from(pid.0)].subcommands = subs;
        }
        table
    }

    fn add(
        &mut self,
        def: &'static CommandDef,
        parent: Option<CommandId>,
        full: String,
    ) -> CommandId {
        let id = CommandId(u16::try_from(self.commands.len()).expect("fewer than 65536 commands"));
        assert!(full.len() <= MAX_NAME, "{full} is longer than MAX_NAME");
        // Kept for the process's life: names are `&'static str` everywhere
        // (metric labels, replies), and the table is built once.
        let full_name: &'static str = Box::leak(full.into_boxed_str());
        let serving = serving::serving(full_name);
        self.by_name.insert(full_name.as_bytes().into(), id);
        self.commands.push(Command {
            id,
            def,
            full_name,
            parent,
            subcommands: Vec::new(),
            serving,
        });
        id
    }

    /// One of Petrel's internal commands.
    pub fn internal(&self, which: Internal) -> &Command {
        &self.commands[self.first_internal + which as usize]
    }

    /// The command with this id.
    pub fn get(&self, id: CommandId) -> Option<&Command> {
        self.commands.get(usize::from(id.0))
    }

    /// The command (or `parent|sub`) named `name`, in any ASCII case: the one
    /// name lookup of the whole tree.
    pub fn find(&self, name: &[u8]) -> Option<&Command> {
        if name.len() > MAX_NAME {
            return None;
        }
        let mut lower = [0u8; MAX_NAME];
        let lower = &mut lower[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).and_then(|&id| self.get(id))
    }

    /// The subcommand `sub` of `parent`.
    /// The command a call names (`args[0]`, and `args[1]` when that
    /// command has subcommands), as scripts' `redis.call` looks it up.
    pub fn command_of<A: AsRef<[u8]>>(&self, args: &[A]) -> Option<&Command> {
        let top = self.find(args.first()?.as_ref())?;
        if top.subcommands.is_empty() {
            return Some(top);
        }
        self.subcommand(top, args.get(1)?.as_ref())
    }

    pub fn subcommand(&self, parent: &Command, sub: &[u8]) -> Option<&Command> {
        let top = parent.full_name.as_bytes();
        if top.len() + 1 + sub.len() > MAX_NAME {
            return None;
        }
        let mut name = [0u8; MAX_NAME];
        name[..top.len()].copy_from_slice(top);
        name[top.len()] = b'|';
        name[top.len() + 1..top.len() + 1 + sub.len()].copy_from_slice(sub);
        self.find(&name[..top.len() + 1 + sub.len()])
            .filter(|c| c.parent == Some(parent.id))
    }

    /// What a call's name and subcommand (`args[0]`, `args[1]`) resolve to:
    /// a container's subcommand when there is a second argument.
    pub fn resolve(&self, args: &[impl AsRef<[u8]>]) -> Resolved<'_> {
        let Some(top) = args
            .first()
            .and_then(|n| self.find(n.as_ref()))
            .filter(|c| c.parent.is_none())
        else {
            return Resolved::Unknown;
        };
        match args.get(1) {
            Some(sub) if !top.subcommands.is_empty() => match self.subcommand(top, sub.as_ref()) {
                Some(c) => Resolved::Command(c),
                None => Resolved::UnknownSubcommand(top),
            },
            _ => Resolved::Command(top),
        }
    }

    /// Every top-level command, Redis's and internal, in id order.
    pub fn top_level(&self) -> impl Iterator<Item = &Command> {
        self.top_level.iter().filter_map(|&id| self.get(id))
    }

    /// Every command and subcommand, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter()
    }

    /// `command`'s subcommands, sorted by name.
    pub fn subcommands<'a>(&'a self, command: &'a Command) -> impl Iterator<Item = &'a Command> {
        command.subcommands.iter().filter_map(|&id| self.get(id))
    }

    /// The number of commands and subcommands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Never true; for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

#[cfg(test)]
mod tests;
