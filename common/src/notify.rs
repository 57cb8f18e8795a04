//! Keyspace notifications (`notify-keyspace-events`, docs/PUBSUB.md
//! "Keyspace notifications"): the event classes, the setting's text as
//! Redis 7.0 reads and writes it, and the channels an event goes to.
//!
//! The proxy checks and shows the setting, meta keeps it (a cluster
//! setting), and partition primaries publish the events of the keys they
//! write: all three read the setting through this module.

/// `K`: events on `__keyspace@<db>__:<key>` (the message is the event).
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: events on `__keyevent@<db>__:<event>` (the message is the key).
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key deleted because its time to live ran out.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key evicted for memory (Petrel never evicts).
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands (Petrel serves none yet).
pub const STREAM: u32 = 1 << 10;
/// `m`: a read of a missing key (not part of `A`).
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events (Petrel has no modules).
pub const MODULE: u32 = 1 << 13;
/// `n`: a key created (not part of `A`).
pub const NEW: u32 = 1 << 14;
/// `A`: every class but `m` and `n`, as in Redis 7.0.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The setting's name, as `CONFIG` spells it and meta keeps it.
pub const SETTING: &str = "notify-keyspace-events";

/// Why `CONFIG SET notify-keyspace-events` refused a value (Redis's text).
pub const INVALID_CLASS: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// The classes `text` names, or `None` when it holds any other character
/// (Redis's `keyspaceEventsStringToFlags`).
pub fn parse(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0, |flags, c| {
        let class = match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
        Some(flags | class)
    })
}

/// The classes as `CONFIG GET` shows them (Redis's
/// `keyspaceEventsFlagsToString`): `A` when every class of it is on (then
/// `n` is not shown, as in Redis 7.0), else each class in Redis's order;
/// then `K`, `E`, `m`.
pub fn format(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (class, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & class != 0 {
                out.push(c);
            }
        }
    }
    for (class, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & class != 0 {
            out.push(c);
        }
    }
    out
}

/// The classes a write path must raise events for: none unless `K` or `E`
/// says where they would go (Redis publishes nothing then either).
pub fn effective(flags: u32) -> u32 {
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    }
}

/// `__keyspace@<db>__:<key>`.
pub fn keyspace_channel(db: u32, key: &[u8]) -> Vec<u8> {
    channel(b"__keyspace@", db, key)
}

/// `__keyevent@<db>__:<event>`.
pub fn keyevent_channel(db: u32, event: &str) -> Vec<u8> {
    channel(b"__keyevent@", db, event.as_bytes())
}

fn channel(prefix: &[u8], db: u32, tail: &[u8]) -> Vec<u8> {
    let db = db.to_string();
    let mut out = Vec::with_capacity(prefix.len() + db.len() + 3 + tail.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(db.as_bytes());
    out.extend_from_slice(b"__:");
    out.extend_from_slice(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Redis 7.0.15 answers to `CONFIG GET` after `CONFIG SET` of each.
    #[test]
    fn flags_read_back_as_redis_spells_them() {
        for (set, get) in [
            ("", ""),
            ("KEA", "AKE"),
            ("Kg$", "g$K"),
            ("Elx", "lxE"),
            ("KKEEAA", "AKE"),
            ("ExK", "xKE"),
            ("KEn", "nKE"),
            ("KEAm", "AKEm"),
            ("AKEn", "AKE"),
            ("g$lshzxetdmn", "Am"),
            ("$", "$"),
            ("g$lshzxtd", "g$lshzxtd"),
            ("Kd", "dK"),
        ] {
            let flags = parse(set.as_bytes()).unwrap_or_else(|| panic!("{set} refused"));
            assert_eq!(format(flags), get, "{set}");
        }
        assert!(parse(b"AKEn").is_some_and(|f| f & NEW != 0), "n stays on");
    }

    #[test]
    fn other_characters_are_refused() {
        for bad in ["KEQ", "kea", "K E", "A,K", "\0"] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn without_k_or_e_nothing_is_raised() {
        assert_eq!(effective(ALL | NEW), 0);
        assert_eq!(effective(KEYEVENT | LIST), KEYEVENT | LIST);
        assert_eq!(keyspace_channel(0, b"a:b"), b"__keyspace@0__:a:b");
        assert_eq!(keyevent_channel(12, "del"), b"__keyevent@12__:del");
    }
}
