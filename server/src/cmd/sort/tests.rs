use petrel_common::reply::{errors, Reply};

use crate::cmd::testing::*;

fn array(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

#[test]
fn numbers_sort_numerically_and_ties_by_bytes() {
    let mut h = Harness::new();
    h.run(&["rpush", "l", "10", "2", "-1.5", " 3", "2.0", ""]);
    assert_eq!(
        h.run(&["sort", "l"]),
        array(&["-1.5", "", "2", "2.0", " 3", "10"])
    );
    assert_eq!(
        h.run(&["sort", "l", "desc", "limit", "1", "2"]),
        array(&[" 3", "2.0"])
    );
    h.run(&["rpush", "bad", "1", "x"]);
    assert_eq!(
        h.run(&["sort", "bad"]),
        err("ERR One or more scores can't be converted into double")
    );
    assert_eq!(h.run(&["sort", "bad", "alpha"]), array(&["1", "x"]));
}

#[test]
fn by_and_get_read_strings_and_hash_fields() {
    let mut h = Harness::new();
    h.run(&["sadd", "s", "a", "b", "c"]);
    h.run(&["mset", "w_a", "3", "w_b", "1", "w_c", "2"]);
    h.run(&["hset", "h_a", "f", "A"]);
    assert_eq!(
        h.run(&["sort", "s", "by", "w_*", "get", "#", "get", "h_*->f"]),
        Reply::Array(vec![
            bulk("b"),
            nil(),
            bulk("c"),
            nil(),
            bulk("a"),
            bulk("A")
        ])
    );
    // A pattern without '*' keeps the order and GETs nothing.
    h.run(&["rpush", "l", "3", "1", "2"]);
    assert_eq!(
        h.run(&["sort", "l", "by", "nosort", "desc", "get", "fixed"]),
        Reply::Array(vec![nil(), nil(), nil()])
    );
    assert_eq!(
        h.run(&["sort", "l", "by", "nosort", "desc", "limit", "0", "2"]),
        array(&["2", "1"])
    );
}

#[test]
fn store_replaces_the_destination_or_deletes_it() {
    let mut h = Harness::with_events();
    h.run(&["rpush", "l", "3", "1", "2"]);
    h.run(&["set", "d", "x"]);
    assert_eq!(h.events(&["sort", "l", "store", "d"]), vec!["sortstore d"]);
    assert_eq!(h.run(&["lrange", "d", "0", "-1"]), array(&["1", "2", "3"]));
    assert_eq!(
        h.events(&["sort", "nothing", "store", "d"]),
        vec!["keymiss nothing", "del d"]
    );
    assert_eq!(h.run(&["exists", "d"]), int(0));
    assert_eq!(h.run(&["sort_ro", "l", "store", "d"]), err(errors::SYNTAX));
}

#[test]
fn wrong_types_and_supplied_values() {
    let mut h = Harness::new();
    h.run(&["set", "str", "1"]);
    assert_eq!(h.run(&["sort", "str"]), err(errors::WRONGTYPE));
    h.run(&["rpush", "l", "a", "b"]);
    let r = h.run(&[
        "petrel.sort",
        "0",
        "2",
        "s",
        "w_a",
        "",
        "2",
        "s-",
        "w_b",
        "",
        "",
        "sort",
        "l",
        "by",
        "w_*",
    ]);
    assert_eq!(r, array(&["b", "a"]));
    let r = h.run(&["petrel.sort", "0", "0", "sort", "l", "by", "w_*"]);
    assert!(r.is_error(), "a value not supplied: {r:?}");
    // Malformed internal calls are refused, never indexed past their end.
    let r = h.run(&["petrel.sort", "0", "1", "s", "k", "", "v", "sort"]);
    assert_eq!(r, err(&errors::wrong_arity("sort")));
    let r = h.run(&["petrel.sort", "0", "2", "s", "k", "", "v", "sort"]);
    assert!(r.is_error(), "{r:?}");
}
