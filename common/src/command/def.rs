//! The shape of one command's description: what Redis's `COMMAND INFO` and
//! `COMMAND DOCS` say about it. `redis.rs` (generated) and `internal.rs` are
//! written in these types.

/// Declares a bit set whose bits print in a fixed order (Redis's).
macro_rules! bit_set {
    ($(#[$doc:meta])* $name:ident($int:ty) { $($flag:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub $int);

        #[allow(missing_docs)]
        impl $name {
            pub const NONE: $name = $name(0);
            bit_set!(@consts $name 0, $($flag),*);
            /// Every bit's name, in the order Redis prints them.
            pub const NAMES: &'static [&'static str] = &[$($text),*];

            /// The union of `flags` (usable in statics).
            pub const fn of(flags: &[$name]) -> $name {
                let mut bits = 0;
                let mut i = 0;
                while i < flags.len() {
                    bits |= flags[i].0;
                    i += 1;
                }
                $name(bits)
            }

            /// Whether every bit of `other` is set.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether any bit of `other` is set.
            pub const fn intersects(self, other: $name) -> bool {
                self.0 & other.0 != 0
            }

            /// The union of both.
            pub const fn union(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }

            /// The names of the set bits, in Redis's order.
            pub fn names(self) -> impl Iterator<Item = &'static str> {
                Self::NAMES
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| self.0 & (1 << i) != 0)
                    .map(|(_, n)| *n)
            }

            /// The bit named `name` (any ASCII case).
            pub fn named(name: &str) -> Option<$name> {
                Self::NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(name))
                    .map(|i| $name(1 << i))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_set().entries(self.names()).finish()
            }
        }
    };
    (@consts $name:ident $bit:expr, $flag:ident $(, $rest:ident)*) => {
        pub const $flag: $name = $name(1 << $bit);
        bit_set!(@consts $name $bit + 1 $(, $rest)*);
    };
    (@consts $name:ident $bit:expr $(,)?) => {};
}

bit_set! {
    /// A command's flags (`COMMAND INFO`'s third element).
    CommandFlags(u32) {
        WRITE = "write", READONLY = "readonly", DENYOOM = "denyoom", MODULE = "module",
        ADMIN = "admin", PUBSUB = "pubsub", NOSCRIPT = "noscript", BLOCKING = "blocking",
        LOADING = "loading", STALE = "stale", SKIP_MONITOR = "skip_monitor",
        SKIP_SLOWLOG = "skip_slowlog", ASKING = "asking", FAST = "fast", NO_AUTH = "no_auth",
        MAY_REPLICATE = "may_replicate", SENTINEL = "sentinel", ONLY_SENTINEL = "only_sentinel",
        NO_MANDATORY_KEYS = "no_mandatory_keys", NO_ASYNC_LOADING = "no_async_loading",
        NO_MULTI = "no_multi", MOVABLEKEYS = "movablekeys", ALLOW_BUSY = "allow_busy",
    }
}

bit_set! {
    /// A command's ACL categories, without the `@`.
    AclCategories(u32) {
        KEYSPACE = "keyspace", READ = "read", WRITE = "write", SET = "set",
        SORTEDSET = "sortedset", LIST = "list", HASH = "hash", STRING = "string",
        BITMAP = "bitmap", HYPERLOGLOG = "hyperloglog", GEO = "geo", STREAM = "stream",
        PUBSUB = "pubsub", ADMIN = "admin", FAST = "fast", SLOW = "slow",
        BLOCKING = "blocking", DANGEROUS = "dangerous", CONNECTION = "connection",
        TRANSACTION = "transaction", SCRIPTING = "scripting",
    }
}

bit_set! {
    /// How a command uses the keys one key spec finds.
    KeySpecFlags(u16) {
        RO = "RO", RW = "RW", OW = "OW", RM = "RM", ACCESS = "access", UPDATE = "update",
        INSERT = "insert", DELETE = "delete", NOT_KEY = "not_key", INCOMPLETE = "incomplete",
        VARIABLE_FLAGS = "variable_flags",
    }
}

bit_set! {
    /// `COMMAND DOCS`'s `doc_flags`.
    DocFlags(u8) { DEPRECATED = "deprecated", SYSCMD = "syscmd" }
}

bit_set! {
    /// An argument's flags in `COMMAND DOCS`.
    ArgFlags(u8) { OPTIONAL = "optional", MULTIPLE = "multiple", MULTIPLE_TOKEN = "multiple_token" }
}

/// Everything Redis says about one command or subcommand.
#[derive(Debug)]
pub struct CommandDef {
    /// Lower-case name; for a subcommand, the part after `|`.
    pub name: &'static str,
    /// Positive: exactly that many arguments (the name counts); negative: at least.
    pub arity: i32,
    pub flags: CommandFlags,
    /// Legacy (first key, last key, step); last negative counts from the end.
    pub keys: (i32, i32, i32),
    pub acl: AclCategories,
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub doc: Doc,
    pub subcommands: &'static [CommandDef],
}

/// One rule for finding keys in the arguments (Redis 7's key specs).
#[derive(Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: KeySpecFlags,
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

/// Where the search for keys starts.
#[derive(Debug, Clone, Copy)]
pub enum BeginSearch {
    /// At this argument.
    Index(i32),
    /// After `keyword`, searched from `start_from` (negative: from the end, backwards).
    Keyword {
        keyword: &'static str,
        start_from: i32,
    },
    /// Keys cannot be found from the arguments alone.
    Unknown,
}

/// Which arguments from the start are keys.
#[derive(Debug, Clone, Copy)]
pub enum FindKeys {
    /// Up to `last_key` (relative to the start; negative counts from the end),
    /// every `key_step`; `limit` > 1 takes 1/limit of the remaining arguments.
    Range {
        last_key: i32,
        key_step: i32,
        limit: i32,
    },
    /// The argument at `keynum_index` counts the keys, which begin at `first_key`.
    Keynum {
        keynum_index: i32,
        first_key: i32,
        key_step: i32,
    },
    Unknown,
}

/// `COMMAND DOCS`'s entry.
#[derive(Debug)]
pub struct Doc {
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: Option<&'static str>,
    pub doc_flags: DocFlags,
    pub deprecated_since: Option<&'static str>,
    pub replaced_by: Option<&'static str>,
    /// (version, what changed).
    pub history: &'static [(&'static str, &'static str)],
    pub arguments: &'static [Arg],
}

/// One documented argument.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    pub key_spec_index: Option<i32>,
    pub token: Option<&'static str>,
    pub since: Option<&'static str>,
    pub flags: ArgFlags,
    pub deprecated_since: Option<&'static str>,
    pub arguments: &'static [Arg],
}

/// An argument's type, as `COMMAND DOCS` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

impl ArgType {
    /// The name `COMMAND DOCS` prints.
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::OneOf => "oneof",
            ArgType::Block => "block",
        }
    }
}
