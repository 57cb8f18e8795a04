//! Pub/sub across proxies and through a broker failover (docs/PUBSUB.md):
//! a message published through one proxy reaches subscribers on the
//! others, PUBLISH counts them all, order holds per channel, and after a
//! kill -9 of the channel's broker (its partition's primary) subscribers
//! receive new messages again once the partition has failed over, with no
//! client action. A MULTI's PUBLISH is delivered only when it commits, and
//! so is a script's or function's (at its keys' primary or across
//! partitions), in order, never when it fails or its block aborts.

mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::{two_partitions, Onebox, OneboxOpts, RawConn};

fn resp_message(kind: &str, pattern: Option<&str>, channel: &str, payload: &str) -> Vec<u8> {
    let mut items = vec![kind];
    items.extend(pattern);
    items.push(channel);
    items.push(payload);
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend(format!("${}\r\n{i}\r\n", i.len()).into_bytes());
    }
    out
}

fn subscribe(port: u16, verb: &str, name: &str) -> RawConn {
    let mut c = RawConn::connect(port);
    let reply = c.call(&[verb.as_bytes(), name.as_bytes()]);
    let want = format!(
        "*3\r\n${}\r\n{}\r\n${}\r\n{name}\r\n:1\r\n",
        verb.len(),
        verb.to_ascii_lowercase(),
        name.len()
    );
    assert_eq!(String::from_utf8_lossy(&reply), want, "{verb} {name}");
    c
}

/// Reads frames until `want` arrives (earlier messages are skipped), or panics at `timeout`.
fn receive(c: &mut RawConn, want: &[u8], timeout: Duration) {
    let until = Instant::now() + timeout;
    c.set_timeout(timeout);
    while Instant::now() < until {
        match c.try_read_reply() {
            Some(frame) if frame == want => return,
            Some(_) => continue,
            None => break,
        }
    }
    panic!(
        "{:?} did not arrive within {timeout:?}",
        String::from_utf8_lossy(want)
    );
}

fn publish(c: &mut RawConn, channel: &str, payload: &str) -> String {
    String::from_utf8_lossy(&c.call(&[b"PUBLISH", channel.as_bytes(), payload.as_bytes()]))
        .into_owned()
}

#[test]
fn messages_cross_proxies_with_exact_counts_in_order_and_through_a_broker_kill() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(3),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let mut on_two = subscribe(ports[1], "SUBSCRIBE", "news");
    let mut pattern_on_three = subscribe(ports[2], "PSUBSCRIBE", "ne*");
    let mut on_three = subscribe(ports[2], "SUBSCRIBE", "news");
    let mut publisher = RawConn::connect(ports[0]);

    assert_eq!(publish(&mut publisher, "news", "hello"), ":3\r\n");
    assert_eq!(publish(&mut publisher, "other", "x"), ":0\r\n");
    let direct = resp_message("message", None, "news", "hello");
    assert_eq!(on_two.read_reply(), direct);
    assert_eq!(on_three.read_reply(), direct);
    assert_eq!(
        pattern_on_three.read_reply(),
        resp_message("pmessage", Some("ne*"), "news", "hello")
    );
    let numsub = publisher.call(&[b"PUBSUB", b"NUMSUB", b"news"]);
    assert_eq!(numsub, b"*2\r\n$4\r\nnews\r\n:2\r\n");
    assert_eq!(publisher.call(&[b"PUBSUB", b"NUMPAT"]), b":1\r\n");

    // Order per channel: a pipelined burst arrives as sent.
    let burst = 500;
    let mut pipeline = Vec::new();
    for i in 0..burst {
        pipeline.extend(support::encode_command(&[
            b"PUBLISH",
            b"news",
            format!("m{i}").as_bytes(),
        ]));
    }
    publisher.send_raw(&pipeline);
    for _ in 0..burst {
        assert_eq!(publisher.read_reply(), b":3\r\n");
    }
    for i in 0..burst {
        let want = resp_message("message", None, "news", &format!("m{i}"));
        assert_eq!(on_two.read_reply(), want, "message {i} in order");
    }
    for i in 0..burst {
        on_three.read_reply();
        let want = resp_message("pmessage", Some("ne*"), "news", &format!("m{i}"));
        assert_eq!(pattern_on_three.read_reply(), want, "pmessage {i} in order");
    }

    // A MULTI's PUBLISH goes out at EXEC; a failed WATCH sends nothing.
    assert_eq!(publisher.cmd("MULTI"), "+OK\r\n");
    assert_eq!(publisher.cmd("PUBLISH news queued"), "+QUEUED\r\n");
    on_two.set_timeout(Duration::from_millis(300));
    assert!(on_two.try_read_reply().is_none(), "nothing before EXEC");
    assert_eq!(publisher.cmd("EXEC"), "*1\r\n:3\r\n");
    on_two.set_timeout(Duration::from_secs(5));
    assert_eq!(
        on_two.read_reply(),
        resp_message("message", None, "news", "queued")
    );
    let mut other = RawConn::connect(ports[1]);
    assert_eq!(publisher.cmd("WATCH w"), "+OK\r\n");
    assert_eq!(other.cmd("SET w changed"), "+OK\r\n");
    assert_eq!(publisher.cmd("MULTI"), "+OK\r\n");
    assert_eq!(publisher.cmd("PUBLISH news aborted"), "+QUEUED\r\n");
    assert_eq!(publisher.cmd("EXEC"), "*-1\r\n");
    assert_eq!(publish(&mut publisher, "news", "after"), ":3\r\n");
    assert_eq!(
        on_two.read_reply(),
        resp_message("message", None, "news", "after"),
        "the aborted block's message never came"
    );
    on_three.read_reply();
    pattern_on_three.read_reply();
    on_three.read_reply();
    pattern_on_three.read_reply();

    // kill -9 of the channel's broker.
    let broker = ob.admin().locate("news").primary;
    let pid = ob
        .lines
        .iter()
        .find(|l| l.starts_with(&format!("server {broker} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|p| p.parse::<i32>().ok())
        .expect("the broker's pid");
    let killed = Instant::now();
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let mut n = 0;
    let back = loop {
        n += 1;
        let reply = publish(&mut publisher, "news", &format!("after-kill-{n}"));
        if reply == ":3\r\n" {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "PUBLISH still reaches {reply:?} 30 s after the broker's kill"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "all three subscribers registered with the new broker {back:?} after kill -9 of {broker}"
    );
    let last = format!("after-kill-{n}");
    for (c, pattern) in [
        (&mut on_two, None),
        (&mut on_three, None),
        (&mut pattern_on_three, Some("ne*")),
    ] {
        let kind = if pattern.is_some() {
            "pmessage"
        } else {
            "message"
        };
        receive(
            c,
            &resp_message(kind, pattern, "news", &last),
            Duration::from_secs(10),
        );
    }
}

/// A subscriber that stops reading is disconnected at the pubsub class's
/// hard limit (Redis's default, 32 MB) with Redis's log line, while a
/// reading subscriber of the same channel keeps up; the proxy's memory
/// stays within the limit's reach and returns after the disconnect.
#[test]
fn a_subscriber_that_stops_reading_is_disconnected_at_the_output_limit() {
    let ob = Onebox::start();
    let proxy_pid = ob.pid_of("proxy");
    let port = ob.proxy_port;
    let mut reader = subscribe(port, "SUBSCRIBE", "firehose");
    // Subscribes, reads the confirmation, then never reads again.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stalled
        .write_all(&support::encode_command(&[b"SUBSCRIBE", b"firehose"]))
        .expect("subscribe");
    let confirmation = b"*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n";
    let mut got = vec![0u8; confirmation.len()];
    stalled.read_exact(&mut got).expect("confirmation");
    assert_eq!(&got[..], &confirmation[..]);
    let mut publisher = RawConn::connect(port);
    let mut admin = RawConn::connect(port);
    assert_eq!(
        String::from_utf8_lossy(&admin.call(&[b"CONFIG", b"GET", b"client-output-buffer-limit"])),
        "*2\r\n$26\r\nclient-output-buffer-limit\r\n$76\r\nnormal 1073741824 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n"
    );
    let rss_before = support::proc_status_bytes(proxy_pid, "VmRSS");

    // 96 MB in 16 KB messages, 64 at a time; the reading subscriber drains
    // as they come, the stalled one's backlog grows to the limit.
    let payload = "x".repeat(16 * 1024);
    let mut rss_peak = rss_before;
    let mut gone_after = None;
    for round in 0..96 {
        let mut pipeline = Vec::new();
        for _ in 0..64 {
            pipeline.extend(support::encode_command(&[
                b"PUBLISH",
                b"firehose",
                payload.as_bytes(),
            ]));
        }
        publisher.send_raw(&pipeline);
        let mut counts = Vec::new();
        for _ in 0..64 {
            counts.push(publisher.read_reply());
        }
        for _ in 0..64 {
            reader.read_reply();
        }
        rss_peak = rss_peak.max(support::proc_status_bytes(proxy_pid, "VmRSS"));
        if gone_after.is_none() && counts.iter().any(|c| c == b":1\r\n") {
            gone_after = Some(round * 64);
        }
    }
    let sent_mb = 96 * 64 * 16 / 1024;
    let gone_after = gone_after.expect("the stalled subscriber was never disconnected");
    let list = String::from_utf8_lossy(&admin.call(&[b"CLIENT", b"LIST"])).into_owned();
    assert_eq!(
        list.matches("sub=1").count(),
        1,
        "only the reader is left: {list}"
    );
    // Its socket ends after what the kernel had buffered.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buffered = Vec::new();
    stalled.read_to_end(&mut buffered).expect("the socket ends");
    let frames = buffered.len() / payload.len();
    let log = std::fs::read_to_string(ob.dir.join("logs").join("proxy.log")).expect("proxy log");
    assert!(
        log.contains("scheduled to be closed ASAP for overcoming of output buffer limits"),
        "Redis's log line for the disconnect"
    );
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = support::proc_status_bytes(proxy_pid, "VmRSS");
    let mb = |b: u64| b / (1 << 20);
    eprintln!(
        "published {sent_mb} MB; the stalled subscriber was cut after about {} messages ({} MB; about {frames} were in the socket's buffers when it closed); proxy RSS {} MB before, {} MB peak, {} MB after",
        gone_after,
        gone_after * 16 / 1024,
        mb(rss_before),
        mb(rss_peak),
        mb(rss_after)
    );
    assert!(
        rss_peak < rss_before + (128 << 20),
        "the proxy's memory followed the published bytes ({} MB peak from {} MB), not the limit",
        mb(rss_peak),
        mb(rss_before)
    );
}

/// CLIENT TRACKING across proxies: a RESP3 reader on proxy 1 and a RESP2
/// reader redirecting to a subscriber of `__redis__:invalidate` are told
/// of writes made through proxy 2, once per read; a flush invalidates
/// everything; INFO counts tracking clients.
#[test]
fn tracking_invalidations_cross_proxies_and_redirects() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(2),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let mut writer = RawConn::connect(ports[1]);
    assert_eq!(writer.cmd("SET t:a 1"), "+OK\r\n");

    let mut reader = RawConn::connect(ports[0]);
    reader.cmd("HELLO 3");
    assert_eq!(reader.cmd("CLIENT TRACKING ON"), "+OK\r\n");
    assert_eq!(reader.cmd("GET t:a"), "$1\r\n1\r\n");

    let mut target = RawConn::connect(ports[0]);
    let id = target.cmd("CLIENT ID");
    let id = id.trim_start_matches(':').trim().to_string();
    target.call(&[b"SUBSCRIBE", b"__redis__:invalidate"]);
    let mut redirected = RawConn::connect(ports[0]);
    assert_eq!(
        redirected.cmd(&format!("CLIENT TRACKING ON REDIRECT {id}")),
        "+OK\r\n"
    );
    assert_eq!(redirected.cmd("GET t:a"), "$1\r\n1\r\n");
    let info = redirected.cmd("INFO clients");
    assert!(info.contains("tracking_clients:2\r\n"), "{info}");

    assert_eq!(writer.cmd("SET t:a 2"), "+OK\r\n");
    assert_eq!(
        String::from_utf8_lossy(&reader.read_reply()),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nt:a\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&target.read_reply()),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$3\r\nt:a\r\n"
    );
    // Once per read: a second write says nothing until the key is read again.
    assert_eq!(writer.cmd("SET t:a 3"), "+OK\r\n");
    reader.set_timeout(Duration::from_millis(500));
    assert!(reader.try_read_reply().is_none(), "no second invalidation");
    reader.set_timeout(Duration::from_secs(10));
    assert_eq!(reader.cmd("GET t:a"), "$1\r\n3\r\n");
    assert_eq!(writer.cmd("FLUSHALL"), "+OK\r\n");
    assert_eq!(
        String::from_utf8_lossy(&reader.read_reply()),
        ">2\r\n$10\r\ninvalidate\r\n_\r\n",
        "a flush invalidates everything"
    );
}

/// Sends `args` and returns the reply as text.
fn call(c: &mut RawConn, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    String::from_utf8_lossy(&c.call(&args)).into_owned()
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// The payload of a `message` frame on `channel`.
fn payload_of(frame: &[u8], channel: &str) -> String {
    let text = String::from_utf8_lossy(frame).into_owned();
    let head = format!("*3\r\n$7\r\nmessage\r\n{}", bulk(channel));
    let rest = text
        .strip_prefix(&head)
        .unwrap_or_else(|| panic!("not a message on {channel}: {text:?}"));
    let (_, payload) = rest.split_once("\r\n").expect("a bulk payload");
    payload.trim_end_matches("\r\n").to_string()
}

/// The next message on `channel` (within 5 s): its payload.
fn next_payload(c: &mut RawConn, channel: &str) -> String {
    c.set_timeout(Duration::from_secs(5));
    payload_of(&c.read_reply(), channel)
}

/// Nothing arrives for a while.
fn nothing_for_a_while(c: &mut RawConn, why: &str) {
    c.set_timeout(Duration::from_millis(300));
    if let Some(frame) = c.try_read_reply() {
        panic!("{why}: got {:?}", String::from_utf8_lossy(&frame));
    }
}

const PARTITIONS: u32 = 8;

/// What a script or function publishes reaches subscribers on other
/// proxies only once its writes have committed (a subscriber that reads
/// the key on receiving the message sees the value), in the order it
/// published, wherever it runs: at its keys' primary or across partitions.
/// One that fails publishes nothing; `redis.call('publish')` answers 0.
#[test]
fn scripts_publish_only_once_their_writes_commit() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(3),
        partitions: Some(PARTITIONS),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let mut sub = subscribe(ports[1], "SUBSCRIBE", "writes");
    let mut reader = RawConn::connect(ports[2]);
    let mut publisher = RawConn::connect(ports[0]);

    // At the keys' primary, pipelined: each script sets its key, then
    // publishes its name twice. The subscriber reads the key the moment
    // the first message comes.
    let script = "redis.call('SET', KEYS[1], ARGV[1]) \
                  redis.call('PUBLISH', 'writes', KEYS[1] .. ':a') \
                  redis.call('PUBLISH', 'writes', KEYS[1] .. ':b') return 'done'";
    let runs = 50;
    let mut pipeline = Vec::new();
    for i in 0..runs {
        let (key, value) = (format!("sp:{i}"), format!("v{i}"));
        pipeline.extend(support::encode_command(&[
            b"EVAL",
            script.as_bytes(),
            b"1",
            key.as_bytes(),
            value.as_bytes(),
        ]));
    }
    publisher.send_raw(&pipeline);
    let mut first_seen = HashSet::new();
    for _ in 0..2 * runs {
        let payload = next_payload(&mut sub, "writes");
        if let Some(key) = payload.strip_suffix(":a") {
            let i = key.strip_prefix("sp:").expect("a script's key");
            assert_eq!(
                call(&mut reader, &["GET", key]),
                bulk(&format!("v{i}")),
                "the write is visible when its message arrives"
            );
            assert!(first_seen.insert(key.to_string()), "{payload} twice");
        } else {
            let key = payload.strip_suffix(":b").expect("a script's message");
            assert!(
                first_seen.contains(key),
                "{payload} came before {key}:a: not in the script's order"
            );
        }
    }
    for _ in 0..runs {
        assert_eq!(publisher.read_reply(), bulk("done").as_bytes());
    }
    assert_eq!(first_seen.len(), runs);

    // The count is not known before the commit: 0.
    assert_eq!(
        call(
            &mut publisher,
            &[
                "EVAL",
                "return redis.call('PUBLISH', 'writes', 'zero')",
                "0"
            ]
        ),
        ":0\r\n"
    );
    assert_eq!(next_payload(&mut sub, "writes"), "zero");

    // A script that fails after publishing keeps its writes, as in Redis,
    // but publishes nothing; so does a read-only one that tries.
    let failing = "redis.call('SET', KEYS[1], 'kept') \
                   redis.call('PUBLISH', 'writes', 'failed') error('boom')";
    let reply = call(&mut publisher, &["EVAL", failing, "1", "sp:err"]);
    assert!(reply.starts_with("-ERR user_script:1: boom"), "{reply}");
    assert_eq!(call(&mut reader, &["GET", "sp:err"]), bulk("kept"));
    let reply = call(
        &mut publisher,
        &[
            "EVAL_RO",
            "return redis.call('PUBLISH', 'writes', 'ro')",
            "0",
        ],
    );
    assert!(
        reply.starts_with("-ERR Write commands are not allowed from read-only scripts."),
        "{reply}"
    );
    assert_eq!(publish(&mut publisher, "writes", "marker-1"), ":1\r\n");
    assert_eq!(next_payload(&mut sub, "writes"), "marker-1");

    // A function, and a read-only one refused as in Redis.
    let library = "#!lua name=tell\n\
        redis.register_function('set_and_tell', function(keys, args) \
          redis.call('SET', keys[1], args[1]) \
          redis.call('PUBLISH', 'writes', keys[1]) return 'told' end)\n\
        redis.register_function{function_name='tell_ro', flags={'no-writes'}, \
          callback=function() return redis.call('PUBLISH', 'writes', 'ro') end}";
    assert_eq!(
        call(&mut publisher, &["FUNCTION", "LOAD", library]),
        bulk("tell")
    );
    assert_eq!(
        call(
            &mut publisher,
            &["FCALL", "set_and_tell", "1", "sp:f", "vf"]
        ),
        bulk("told")
    );
    assert_eq!(next_payload(&mut sub, "writes"), "sp:f");
    assert_eq!(call(&mut reader, &["GET", "sp:f"]), bulk("vf"));
    for verb in ["FCALL", "FCALL_RO"] {
        let reply = call(&mut publisher, &[verb, "tell_ro", "0"]);
        assert!(
            reply.starts_with("-ERR Write commands are not allowed from read-only scripts."),
            "{verb}: {reply}"
        );
    }

    // Across partitions: declared keys, then keys the script builds (it
    // runs at a primary first, stopped at each key it did not declare:
    // those runs publish nothing), then SPUBLISH, then a failure.
    let (a, b) = two_partitions("sx:", PARTITIONS);
    let across = "redis.call('SET', KEYS[1], ARGV[1]) redis.call('SET', KEYS[2], ARGV[1]) \
                  redis.call('PUBLISH', 'writes', 'across') return 1";
    assert_eq!(
        call(&mut publisher, &["EVAL", across, "2", &a, &b, "va"]),
        ":1\r\n"
    );
    assert_eq!(next_payload(&mut sub, "writes"), "across");
    assert_eq!(call(&mut reader, &["GET", &a]), bulk("va"));
    assert_eq!(call(&mut reader, &["GET", &b]), bulk("va"));
    let (c, d) = two_partitions("sy:", PARTITIONS);
    let built = "redis.call('PUBLISH', 'writes', 'built') redis.call('SET', ARGV[1], 'b') \
                 redis.call('SET', ARGV[2], 'b') return 1";
    assert_eq!(
        call(&mut publisher, &["EVAL", built, "0", &c, &d]),
        ":1\r\n"
    );
    assert_eq!(next_payload(&mut sub, "writes"), "built");
    assert_eq!(call(&mut reader, &["GET", &d]), bulk("b"));
    let mut shard_sub = subscribe(ports[2], "SSUBSCRIBE", "orders");
    let sharded = "redis.call('SET', KEYS[1], 1) redis.call('SET', KEYS[2], 1) \
                   return redis.call('SPUBLISH', 'orders', 'placed')";
    assert_eq!(
        call(&mut publisher, &["EVAL", sharded, "2", &a, &b]),
        ":0\r\n"
    );
    shard_sub.set_timeout(Duration::from_secs(5));
    assert_eq!(
        shard_sub.read_reply(),
        resp_message("smessage", None, "orders", "placed")
    );
    let failing = "redis.call('SET', KEYS[1], 'e') redis.call('SET', KEYS[2], 'e') \
                   redis.call('PUBLISH', 'writes', 'across-failed') \
                   return redis.call('INCR', KEYS[1])";
    let reply = call(&mut publisher, &["EVAL", failing, "2", &a, &b]);
    assert!(reply.starts_with("-ERR value is not an integer"), "{reply}");
    assert_eq!(call(&mut reader, &["GET", &b]), bulk("e"));
    assert_eq!(publish(&mut publisher, "writes", "marker-2"), ":1\r\n");
    assert_eq!(
        next_payload(&mut sub, "writes"),
        "marker-2",
        "the failed scripts published nothing"
    );
    nothing_for_a_while(&mut sub, "nothing more");
}

/// A MULTI block holding scripts runs at the proxy as one transaction: its
/// PUBLISHes and its scripts' messages go out after it commits, in the
/// block's order, EXEC's reply holding each PUBLISH's count; nothing goes
/// out when a WATCHed key aborts it.
#[test]
fn a_multi_block_with_scripts_publishes_after_it_commits() {
    let ob = Onebox::start_with(OneboxOpts {
        proxies: Some(2),
        ..OneboxOpts::default()
    });
    let ports = ob.proxy_ports();
    let mut sub = subscribe(ports[1], "SUBSCRIBE", "block");
    let mut other = RawConn::connect(ports[1]);
    let mut client = RawConn::connect(ports[0]);

    assert_eq!(client.cmd("MULTI"), "+OK\r\n");
    let first = "redis.call('SET', KEYS[1], 'm') \
                 return redis.call('PUBLISH', 'block', 'one')";
    assert_eq!(
        call(&mut client, &["EVAL", first, "1", "mb:k"]),
        "+QUEUED\r\n"
    );
    assert_eq!(client.cmd("PUBLISH block two"), "+QUEUED\r\n");
    let failing = "redis.call('PUBLISH', 'block', 'dropped') error('no')";
    assert_eq!(call(&mut client, &["EVAL", failing, "0"]), "+QUEUED\r\n");
    let third = "redis.call('PUBLISH', 'block', 'three') return 3";
    assert_eq!(call(&mut client, &["EVAL", third, "0"]), "+QUEUED\r\n");
    nothing_for_a_while(&mut sub, "nothing before EXEC");
    let exec = client.cmd("EXEC");
    assert!(
        exec.starts_with("*4\r\n:0\r\n:1\r\n-ERR user_script:1: no") && exec.ends_with(":3\r\n"),
        "{exec}"
    );
    assert_eq!(next_payload(&mut sub, "block"), "one");
    assert_eq!(other.cmd("GET mb:k"), bulk("m"));
    assert_eq!(next_payload(&mut sub, "block"), "two");
    assert_eq!(
        next_payload(&mut sub, "block"),
        "three",
        "the failed script's message was dropped"
    );

    // A changed WATCHed key aborts the block: nothing is published.
    assert_eq!(client.cmd("WATCH mb:w"), "+OK\r\n");
    assert_eq!(other.cmd("SET mb:w changed"), "+OK\r\n");
    assert_eq!(client.cmd("MULTI"), "+OK\r\n");
    let script = "return redis.call('PUBLISH', 'block', 'aborted-script')";
    assert_eq!(call(&mut client, &["EVAL", script, "0"]), "+QUEUED\r\n");
    assert_eq!(client.cmd("PUBLISH block aborted"), "+QUEUED\r\n");
    assert_eq!(client.cmd("EXEC"), "*-1\r\n");
    assert_eq!(publish(&mut client, "block", "after"), ":1\r\n");
    assert_eq!(
        next_payload(&mut sub, "block"),
        "after",
        "the aborted block published nothing"
    );
    nothing_for_a_while(&mut sub, "nothing more");
}
