//! `MEMORY USAGE key [SAMPLES count]`: the bytes a key takes in storage.
//!
//! Petrel stores a key as one metadata record (the string value itself, or
//! a collection's header) plus one record per collection element (see
//! [`crate::storage::layout`]). The estimate is the size of those records,
//! keys and values. Like Redis, a big collection is sampled: the first
//! `count` elements (default 5; 0 = all) are measured and their average is
//! multiplied by the element count.

use bytes::Bytes;
use petrel_common::reply::{errors, Reply};

use super::db::Db;
use super::outcome::{CmdError, CmdResult};
use super::parse::{int_arg, is_option};
use crate::storage::layout::{self, KeyType, META_HEADER_LEN};

/// Elements measured when no SAMPLES is given, as Redis.
const DEFAULT_SAMPLES: u64 = 5;

/// `MEMORY USAGE key [SAMPLES count]` (the proxy sends only USAGE here).
pub(crate) fn usage(db: &mut Db<'_>, args: &[Bytes]) -> CmdResult {
    if !is_option(&args[1], "usage") {
        return Err(CmdError::reply(format!(
            "ERR unknown subcommand '{}'. Try MEMORY HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < args.len() {
        if is_option(&args[j], "samples") && j + 1 < args.len() {
            let n = int_arg(&args[j + 1])?;
            if n < 0 {
                return Err(CmdError::reply(errors::SYNTAX));
            }
            samples = if n == 0 { u64::MAX } else { n as u64 };
            j += 2;
        } else {
            return Err(CmdError::reply(errors::SYNTAX));
        }
    }
    let key = &args[2];
    let Some(entry) = db.lookup(key)? else {
        return Ok(Reply::Nil);
    };
    let meta = layout::meta_key(key).len() + META_HEADER_LEN + entry.payload.len();
    if entry.header.key_type == KeyType::String || entry.header.size == 0 {
        return Ok(Reply::Int(meta as i64));
    }
    let prefix = layout::element_prefix(key, entry.header.version).len() as u64;
    let (mut seen, mut bytes) = (0u64, 0u64);
    db.each_element(key, entry.header.version, &mut |element, value| {
        seen += 1;
        bytes += prefix + element.len() as u64 + value.len() as u64;
        seen < samples
    })?;
    let elements = if seen == 0 {
        0
    } else {
        (bytes as f64 / seen as f64 * entry.header.size as f64) as u64
    };
    Ok(Reply::Int(
        (meta as u64).saturating_add(elements).min(i64::MAX as u64) as i64,
    ))
}

#[cfg(test)]
mod tests {
    use crate::cmd::testing::*;
    use petrel_common::reply::Reply;

    fn usage(h: &mut Harness, args: &[&str]) -> i64 {
        match h.run(args) {
            Reply::Int(n) => n,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn strings_count_key_header_and_value() {
        let mut h = Harness::new();
        h.run(&["set", "s", "hello"]);
        let small = usage(&mut h, &["memory", "usage", "s"]);
        h.run(&["set", "s", &"x".repeat(1000)]);
        let big = usage(&mut h, &["memory", "usage", "s"]);
        assert_eq!(big - small, 995);
        assert_eq!(h.run(&["memory", "usage", "nokey"]), nil());
    }

    #[test]
    fn collections_are_sampled() {
        let mut h = Harness::new();
        for i in 0..100 {
            h.run(&["hset", "h", &format!("f{i:03}"), "v"]);
        }
        let sampled = usage(&mut h, &["memory", "usage", "h"]);
        let all = usage(&mut h, &["memory", "usage", "h", "SAMPLES", "0"]);
        // Every field has the same size, so sampling is exact here.
        assert_eq!(sampled, all);
        let one = usage(&mut h, &["memory", "usage", "h", "samples", "1"]);
        assert_eq!(one, all);
        h.run(&["hset", "h", "f000", &"v".repeat(1000)]);
        assert!(usage(&mut h, &["memory", "usage", "h", "samples", "0"]) > all + 900);
    }

    #[test]
    fn options_like_redis() {
        let mut h = Harness::new();
        h.run(&["set", "s", "v"]);
        assert_eq!(
            h.run(&["memory", "usage", "s", "samples"]),
            err("ERR syntax error")
        );
        assert_eq!(
            h.run(&["memory", "usage", "s", "foo"]),
            err("ERR syntax error")
        );
        assert_eq!(
            h.run(&["memory", "usage", "s", "samples", "-1"]),
            err("ERR syntax error")
        );
        assert_eq!(
            h.run(&["memory", "usage", "nokey", "samples", "x"]),
            err("ERR value is not an integer or out of range")
        );
    }
}
