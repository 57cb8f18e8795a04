//! Engine behaviour beyond single replies: limits, kills, the cache, and
//! that no script can leave anything behind for the next.

use std::time::Duration;

use bytes::Bytes;
use petrel_common::reply::Reply;

use super::fake_host::FakeHost;
use super::redis_cases::eval;
use crate::{EngineConfig, Functions, KillError, LogLevel, RunOptions, Scripts};

fn engine() -> Scripts {
    Scripts::new(EngineConfig::default()).unwrap()
}

fn depth(r: &Reply) -> (usize, Reply) {
    let mut d = 0;
    let mut cur = r;
    while let Reply::Array(items) = cur {
        d += 1;
        cur = &items[0];
    }
    (d, cur.clone())
}

#[test]
fn deep_and_cyclic_returns_stop_where_redis_does() {
    // redis-server 7.0.15 nests 7995 arrays, then "-ERR reached lua stack limit".
    let mut s = engine();
    let mut h = FakeHost::default();
    let deep = "local t = {}; local c = t; for i=1,10000 do c[1] = {}; c = c[1] end; return t";
    for body in [deep, "local t = {}; t[1] = t; return t"] {
        let (d, last) = depth(&eval(&mut s, &mut h, body, &[], &[]));
        assert_eq!(d, 7995);
        assert_eq!(last, Reply::Error("ERR reached lua stack limit".into()));
    }
}

#[test]
fn a_script_leaves_nothing_for_the_next() {
    let mut s = engine();
    let mut h = FakeHost::default();
    for body in [
        "rawset(_G, 'leak', 1)",
        "table.insert(string, 'leak')",
        "string.leak = 1",
        "setmetatable(_G, {})",
        "getmetatable('').__index = {leak = 1}",
        "getmetatable('').leak = 1",
        "local t = getmetatable(_G); t.__newindex = nil",
        "cjson.leak = 1",
        "local _, g = pairs(_G); g.leak = 1",
        "_G.leak = 1",
    ] {
        assert!(eval(&mut s, &mut h, body, &[], &[]).is_error(), "{body}");
    }
    let probe = "return {rawget(_G, 'leak') == nil, #string, ('x').leak == nil, type(string.leak)}";
    assert_eq!(
        eval(&mut s, &mut h, probe, &[], &[]),
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Int(0),
            Reply::Int(1),
            Reply::bulk("nil")
        ])
    );
}

#[test]
fn bytecode_never_loads() {
    let mut s = engine();
    let mut h = FakeHost::default();
    let r = eval(
        &mut s,
        &mut h,
        "return load(function() return nil end)",
        &[],
        &[],
    );
    assert!(!r.is_error());
    let body = "local f = string.dump(function() return 1 end); return {loadstring(f) == nil, load(function() local g = f; f = nil; return g end) == nil}";
    assert_eq!(
        eval(&mut s, &mut h, body, &[], &[]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(1)])
    );
}

#[test]
fn evalsha_and_the_cache() {
    let mut s = Scripts::new(EngineConfig {
        script_cache: 10,
        ..EngineConfig::default()
    })
    .unwrap();
    let mut h = FakeHost::default();
    let sha = s.load(b"return 7").unwrap();
    assert_eq!(sha, crate::sha1hex(b"return 7"));
    assert!(s.exists(&sha.to_uppercase()));
    let run = |s: &mut Scripts, h: &mut FakeHost, sha: &str| {
        s.evalsha(h, sha, &[], &[], RunOptions::default())
    };
    assert_eq!(run(&mut s, &mut h, &sha), Reply::Int(7));
    assert_eq!(
        run(&mut s, &mut h, "0000000000000000000000000000000000000000"),
        Reply::error("NOSCRIPT No matching script. Please use EVAL.")
    );
    for i in 0..100 {
        s.load(format!("return {i}").as_bytes()).unwrap();
        run(&mut s, &mut h, &sha);
    }
    assert!(s.len() <= 10);
    assert!(s.exists(&sha), "the script in use stays");
    s.flush().unwrap();
    assert!(s.is_empty() && !s.exists(&sha));
    assert_eq!(
        s.load(b"return 'a' 'b'"),
        Err(Reply::error(
            "ERR Error compiling script (new function): user_script:1: '<eof>' expected near ''b''"
        ))
    );
}

#[test]
fn script_kill_stops_even_a_script_that_catches_errors() {
    for body in [
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        "local co = coroutine.wrap(function() while true do end end) co()",
    ] {
        let mut s = engine();
        let mut h = FakeHost::default();
        let monitor = s.monitor();
        assert_eq!(monitor.kill(false), Err(KillError::NotBusy));
        let killer = std::thread::spawn(move || {
            while !monitor.is_busy(Duration::from_millis(50)) {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(monitor.kill(true), Err(KillError::ScriptRunning));
            monitor.kill(false)
        });
        let reply = eval(&mut s, &mut h, body, &[], &[]);
        assert_eq!(killer.join().unwrap(), Ok(()));
        let Reply::Error(text) = reply else {
            panic!("{reply:?}")
        };
        assert!(
            text.starts_with("ERR Script killed by user with SCRIPT KILL..."),
            "{text}"
        );
        assert_eq!(s.monitor().running_for(), None);
        assert_eq!(
            eval(&mut s, &mut h, "return 1", &[], &[]),
            Reply::Int(1),
            "usable after a kill"
        );
    }
}

#[test]
fn function_load_has_a_time_budget() {
    let mut f = Functions::new(EngineConfig {
        load_timeout: Duration::from_millis(50),
        ..EngineConfig::default()
    })
    .unwrap();
    let mut h = FakeHost::default();
    let r = f.load(&mut h, b"#!lua name=slow\nwhile true do end", false);
    assert_eq!(
        r,
        Err(Reply::error(
            "ERR Error registering functions: ERR FUNCTION LOAD timeout"
        ))
    );
}

#[test]
fn memory_is_limited() {
    let mut s = Scripts::new(EngineConfig {
        memory_limit: Some(8 << 20),
        ..EngineConfig::default()
    })
    .unwrap();
    let mut h = FakeHost::default();
    let r = eval(
        &mut s,
        &mut h,
        "local t = {} for i = 1, 1e8 do t[i] = i end return 1",
        &[],
        &[],
    );
    assert!(
        matches!(&r, Reply::Error(e) if e.contains("not enough memory")),
        "{r:?}"
    );
    assert_eq!(
        eval(&mut s, &mut h, "return 1", &[], &[]),
        Reply::Int(1),
        "usable after"
    );
}

#[test]
fn the_host_sees_calls_logs_and_acl() {
    let mut s = engine();
    let mut h = FakeHost {
        denied: vec!["set"],
        ..FakeHost::default()
    };
    let r = eval(
        &mut s,
        &mut h,
        "redis.log(redis.LOG_WARNING, 'a', 1, 'b') return redis.call('incr', KEYS[1])",
        &["n"],
        &[],
    );
    assert_eq!(r, Reply::Int(1));
    assert_eq!(h.logs, vec![(LogLevel::Warning, b"a 1 b".to_vec())]);
    assert_eq!(h.calls, vec![vec![Bytes::from("incr"), Bytes::from("n")]]);
    let body = "return redis.pcall('set', 'k', 'v')";
    assert_eq!(
        eval(&mut s, &mut h, body, &[], &[]),
        Reply::error("ERR The user executing the script No permissions to run the 'set' command")
    );
    let body = "return {redis.acl_check_cmd('set', 'k', 'v'), redis.acl_check_cmd('get', 'k')}";
    assert_eq!(
        eval(&mut s, &mut h, body, &[], &[]),
        Reply::Array(vec![Reply::Nil, Reply::Int(1)])
    );
}

#[test]
fn functions_replace_delete_and_collide() {
    let mut f = Functions::new(EngineConfig::default()).unwrap();
    let mut h = FakeHost::default();
    let lib = b"#!lua name=l1\nredis.register_function('f', function() return 1 end)";
    assert_eq!(f.load(&mut h, lib, false), Ok("l1".to_string()));
    assert_eq!(
        f.load(&mut h, lib, false),
        Err(Reply::error("ERR Library 'l1' already exists"))
    );
    let other = b"#!lua name=l2\nredis.register_function('f', function() return 2 end)";
    assert_eq!(
        f.load(&mut h, other, false),
        Err(Reply::error("ERR Function f already exists"))
    );
    let v2 = b"#!lua name=l1\nredis.register_function('f', function() return 2 end)";
    assert_eq!(f.load(&mut h, v2, true), Ok("l1".to_string()));
    assert_eq!(
        f.fcall(&mut h, "f", &[], &[], RunOptions::default()),
        Reply::Int(2)
    );
    assert_eq!(f.delete("nope"), Err(Reply::error("ERR Library not found")));
    f.delete("l1").unwrap();
    assert_eq!(
        f.fcall(&mut h, "f", &[], &[], RunOptions::default()),
        Reply::error("ERR Function not found")
    );
}

#[test]
fn cyclic_maps_and_sets_stop_where_redis_does() {
    // redis-server 7.0.15: 2664 nested maps ending in two errors (RESP2,
    // 34696 bytes); 2665 nested sets ending in one.
    let mut s = engine();
    let mut h = FakeHost::default();
    let map = eval(
        &mut s,
        &mut h,
        "local t = {}; t.map = t; return t",
        &[],
        &[],
    );
    let bytes = super::resp::encode(&map, false);
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(bytes.len(), 34696);
    assert_eq!(text.matches("*2\r\n$3\r\nmap\r\n").count(), 2664);
    assert!(
        text.ends_with("*2\r\n-ERR reached lua stack limit\r\n-ERR reached lua stack limit\r\n")
    );
    let set = eval(
        &mut s,
        &mut h,
        "local t = {}; t.set = {}; t.set[t] = true; return t",
        &[],
        &[],
    );
    let bytes = super::resp::encode(&set, false);
    assert_eq!(bytes.len(), 10690);
    assert_eq!(
        String::from_utf8_lossy(&bytes).matches("*1\r\n").count(),
        2665
    );
}

#[test]
fn engines_move_between_threads_and_share_a_monitor() {
    fn send<T: Send>() {}
    fn shared<T: Send + Sync>() {}
    send::<Scripts>();
    send::<Functions>();
    shared::<crate::Monitor>();
    let monitor = crate::Monitor::default();
    let mut s = Scripts::with_monitor(EngineConfig::default(), monitor.clone()).unwrap();
    let mut f = Functions::with_monitor(EngineConfig::default(), monitor.clone()).unwrap();
    let mut h = FakeHost::default();
    f.load(
        &mut h,
        b"#!lua name=l\nredis.register_function('spin', function() while true do end end)",
        false,
    )
    .unwrap();
    let watch = monitor.clone();
    let killer = std::thread::spawn(move || {
        while !watch.is_busy(Duration::from_millis(20)) {
            std::thread::sleep(Duration::from_millis(5));
        }
        // redis-server 7.0.15's answer to SCRIPT KILL while a function runs.
        assert_eq!(
            watch.kill(false).unwrap_err().to_string(),
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
        );
        watch.kill(true)
    });
    let r = f.fcall(&mut h, "spin", &[], &[], RunOptions::default());
    assert_eq!(killer.join().unwrap(), Ok(()));
    assert!(
        matches!(&r, Reply::Error(e) if e.starts_with("ERR Script killed by user with SCRIPT KILL...")),
        "{r:?}"
    );
    assert_eq!(eval(&mut s, &mut h, "return 2", &[], &[]), Reply::Int(2));
}

#[test]
fn script_flush_starts_a_new_lua_state() {
    let mut s = engine();
    let mut h = FakeHost::default();
    eval(&mut s, &mut h, "cjson.encode_number_precision(3)", &[], &[]);
    assert_eq!(
        eval(&mut s, &mut h, "return cjson.encode(1/3)", &[], &[]),
        Reply::bulk("0.333")
    );
    s.flush().unwrap();
    assert_eq!(
        eval(&mut s, &mut h, "return cjson.encode(1/3)", &[], &[]),
        Reply::bulk("0.33333333333333")
    );
}

#[test]
fn library_functions_never_panic_on_garbage() {
    // Random bytes and formats through every parser; errors are fine, a
    // panic or a crash is not.
    let mut s = engine();
    let mut h = FakeHost::default();
    let body = r#"
        local seed = tonumber(ARGV[1])
        local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648 return seed % n end
        local alphabet = '{}[]",:0123456789-+.eEtrufalsenIiNxXp\\/u \0\1\127\128\255bBhHlLTfdcsi!<>'
        for round = 1, 300 do
            local parts = {}
            for i = 1, rnd(24) do
                local k = rnd(#alphabet) + 1
                parts[i] = alphabet:sub(k, k)
            end
            local text = table.concat(parts)
            pcall(cjson.decode, text)
            pcall(cmsgpack.unpack, text)
            pcall(cmsgpack.unpack_limit, text, rnd(4), rnd(4))
            pcall(struct.unpack, text, text, rnd(5))
            pcall(struct.pack, text, rnd(1000) - 500, text, 1.5, text)
            pcall(struct.size, text)
            pcall(bit.tohex, rnd(100000), rnd(20) - 10)
            pcall(cjson.encode, {text, [rnd(40) + 1] = text, [text] = rnd(9)})
        end
        return 'ok'
    "#;
    for seed in 1..=20 {
        let r = eval(&mut s, &mut h, body, &[], &[&seed.to_string()]);
        assert_eq!(r, Reply::bulk("ok"), "seed {seed}");
    }
}
