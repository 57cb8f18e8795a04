use bytes::Bytes;

use super::*;

fn args(list: &[&str]) -> Vec<Bytes> {
    list.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

fn keys(list: &[&str]) -> Result<Vec<usize>, InvalidKeys> {
    let a = args(list);
    let Resolved::Command(c) = table().resolve(&a) else {
        panic!("{list:?} names no command");
    };
    let mut out = Vec::new();
    c.for_each_key(&a, |i, _| out.push(i))?;
    Ok(out)
}

#[test]
fn ids_are_indexes_and_names_are_unique_lower_case() {
    let t = table();
    let mut seen = std::collections::HashSet::new();
    for (i, c) in t.iter().enumerate() {
        assert_eq!(usize::from(c.id.0), i);
        assert_eq!(c.full_name, c.full_name.to_ascii_lowercase());
        assert!(seen.insert(c.full_name), "duplicate {}", c.full_name);
        assert!(std::ptr::eq(
            t.find(c.full_name.to_ascii_uppercase().as_bytes())
                .expect("found"),
            c
        ));
        for &s in &c.subcommands {
            assert_eq!(t.get(s).and_then(|s| s.parent), Some(c.id));
        }
    }
    assert!(
        t.len() > 350,
        "Redis 7.0 has 240 commands and their subcommands"
    );
    assert!(t.find(b"nosuch").is_none());
    assert!(t.find(&[b'g'; MAX_NAME + 1]).is_none());
}

#[test]
fn resolve_finds_subcommands() {
    let t = table();
    let found = |list: &[&str]| match t.resolve(&args(list)) {
        Resolved::Command(c) => c.full_name.to_string(),
        Resolved::Unknown => "unknown".into(),
        Resolved::UnknownSubcommand(p) => format!("{}|?", p.full_name),
    };
    assert_eq!(found(&["GET", "k"]), "get");
    assert_eq!(found(&["client", "LIST"]), "client|list");
    assert_eq!(found(&["client"]), "client");
    assert_eq!(found(&["client", "nosuch"]), "client|?");
    assert_eq!(found(&["nosuch"]), "unknown");
    // A subcommand's full name is no command.
    assert_eq!(found(&["client|list"]), "unknown");
    assert!(t.find(b"list").is_none());
}

#[test]
fn flags_and_serving() {
    let t = table();
    let get = t.find(b"get").expect("get");
    assert!(get.has(CommandFlags::READONLY.union(CommandFlags::FAST)));
    assert!(!get.is_write());
    assert_eq!(get.exec(), Exec::Partition);
    assert!(get.serving.point_read);
    assert_eq!(
        get.def.acl.names().collect::<Vec<_>>(),
        ["read", "string", "fast"]
    );
    let set = t.find(b"set").expect("set");
    assert!(set.is_write() && !set.serving.point_read);
    assert_eq!(
        t.find(b"blmpop").and_then(|c| c.timeout_arg()),
        Some(TimeoutArg::First)
    );
    assert_eq!(
        t.find(b"blpop").and_then(|c| c.timeout_arg()),
        Some(TimeoutArg::Last)
    );
    assert!(t
        .find(b"petrel.exec")
        .is_some_and(|c| c.is_internal() && !c.is_served()));
    assert_eq!(t.find(b"migrate").map(|c| c.exec()), Some(Exec::Unserved));
    // SORT's patterns may name keys anywhere: the proxy plans it.
    assert_eq!(t.find(b"sort").map(|c| c.exec()), Some(Exec::SameSlot));
    // GEO's STORE forms carry their destination across partitions.
    assert_eq!(t.find(b"geoadd").map(|c| c.exec()), Some(Exec::Partition));
    assert_eq!(t.find(b"georadius").map(|c| c.exec()), Some(Exec::SameSlot));
    assert_eq!(
        t.find(b"geosearchstore").map(|c| c.exec()),
        Some(Exec::SameSlot)
    );
    let xread = t.find(b"xread").expect("xread");
    assert_eq!(xread.timeout_arg(), Some(TimeoutArg::BlockOption));
    assert_eq!(
        xread.block_timeout_at(&["xread", "streams", "s", "0"]),
        None
    );
    assert_eq!(
        xread.block_timeout_at(&["xread", "COUNT", "2", "block", "5", "streams", "s", "$"]),
        Some(4)
    );
    assert_eq!(
        xread.block_timeout_at(&["xread", "streams", "block", "5"]),
        None,
        "a key named block"
    );
    let xreadgroup = t.find(b"xreadgroup").expect("xreadgroup");
    assert!(xreadgroup.is_write());
    assert_eq!(
        xreadgroup.block_timeout_at(&[
            "xreadgroup",
            "group",
            "g",
            "c",
            "noack",
            "block",
            "0",
            "streams",
            "s",
            ">"
        ]),
        Some(6)
    );
    for c in t.iter() {
        // Point reads are reads; blocking commands are marked so by Redis.
        assert!(!(c.serving.point_read && c.is_write()), "{}", c.full_name);
        if c.timeout_arg().is_some() {
            assert!(c.has(CommandFlags::BLOCKING), "{}", c.full_name);
        }
        if c.exec() == Exec::Container {
            assert!(!c.subcommands.is_empty(), "{}", c.full_name);
        }
        // A container's subcommands are served when it is.
        if matches!(c.exec(), Exec::Partition | Exec::Split(_) | Exec::SameSlot) {
            assert!(
                !c.def.key_specs.is_empty(),
                "{} is routed by key",
                c.full_name
            );
        }
    }
}

#[test]
fn keys_from_key_specs() {
    assert_eq!(keys(&["get", "k"]), Ok(vec![1]));
    assert_eq!(keys(&["mset", "a", "1", "b", "2"]), Ok(vec![1, 3]));
    assert_eq!(keys(&["del", "a", "b", "c"]), Ok(vec![1, 2, 3]));
    assert_eq!(keys(&["lmove", "a", "b", "left", "right"]), Ok(vec![1, 2]));
    assert_eq!(
        keys(&["zunionstore", "d", "2", "a", "b", "weights", "1", "2"]),
        Ok(vec![1, 3, 4])
    );
    assert_eq!(
        keys(&["zunion", "2", "a", "b", "withscores"]),
        Ok(vec![2, 3])
    );
    // Too few keys for numkeys, or none: invalid, as in Redis.
    assert_eq!(keys(&["zunion", "3", "a", "b"]), Err(InvalidKeys));
    assert_eq!(keys(&["zunion", "0", "a"]), Err(InvalidKeys));
    assert_eq!(keys(&["zunion", "x", "a"]), Err(InvalidKeys));
    assert_eq!(keys(&["zunion", "+1", "a"]), Err(InvalidKeys));
    assert_eq!(
        keys(&["blmpop", "0", "2", "a", "b", "left"]),
        Ok(vec![3, 4])
    );
    assert_eq!(keys(&["blpop", "a", "b", "0"]), Ok(vec![1, 2]));
    assert_eq!(
        keys(&["xread", "count", "2", "streams", "a", "b", "0", "0"]),
        Ok(vec![4, 5])
    );
    assert_eq!(keys(&["xread", "streams", "a", "0"]), Ok(vec![2]));
    assert_eq!(
        keys(&["georadius", "g", "0", "0", "1", "km", "store", "d"]),
        Ok(vec![1, 7])
    );
    assert_eq!(
        keys(&[
            "georadius",
            "g",
            "0",
            "0",
            "1",
            "km",
            "STOREDIST",
            "d",
            "store",
            "e"
        ]),
        Ok(vec![1, 9, 7])
    );
    assert_eq!(
        keys(&["georadiusbymember", "g", "m", "1", "km", "storedist", "d"]),
        Ok(vec![1, 6])
    );
    assert_eq!(
        keys(&["geosearchstore", "d", "s", "frommember", "m"]),
        Ok(vec![1, 2])
    );
    assert_eq!(
        keys(&["georadius_ro", "g", "0", "0", "1", "km", "store", "d"]),
        Ok(vec![1])
    );
    assert_eq!(keys(&["ping"]), Ok(vec![]));
    assert_eq!(keys(&["object", "encoding", "k"]), Ok(vec![2]));
    assert_eq!(keys(&["memory", "usage", "k", "samples", "5"]), Ok(vec![2]));
    let get = table().find(b"get").expect("get");
    assert_eq!(get.first_key(&args(&["get", "k"])), Some(1));
    assert_eq!(get.key_positions(&args(&["get"])), Vec::<usize>::new());
}

#[test]
fn names_match_checks_name_and_subcommand() {
    let t = table();
    let list = t.find(b"client|list").expect("client|list");
    assert!(list.names_match(&args(&["CLIENT", "list"])));
    assert!(!list.names_match(&args(&["client", "kill"])));
    assert!(!list.names_match(&args(&["client"])));
    let get = t.find(b"get").expect("get");
    assert!(get.names_match(&args(&["Get", "k"])));
    assert!(!get.names_match(&args(&["set", "k"])));
}

#[test]
fn internal_commands_by_enum() {
    let t = table();
    for (which, name) in [
        (Internal::Scan, "petrel.scan"),
        (Internal::Expired, "petrel.expired"),
        (Internal::Dump, "petrel.dump"),
        (Internal::Restore, "petrel.restore"),
        (Internal::Sweep, "petrel.sweep"),
        (Internal::Exec, "petrel.exec"),
        (Internal::Fingerprint, "petrel.fingerprint"),
        (Internal::TxnRun, "petrel.txn.run"),
        (Internal::TxnReplace, "petrel.txn.replace"),
        (Internal::Eval, "petrel.eval"),
        (Internal::ScriptKill, "petrel.script.kill"),
        (Internal::Fcall, "petrel.fcall"),
        (Internal::Moved, "petrel.moved"),
        (Internal::Sort, "petrel.sort"),
    ] {
        assert_eq!(t.internal(which).name(), name);
        assert!(t.internal(which).is_internal());
    }
}
