//! Pub/sub across proxies and through a broker failover (docs/PUBSUB.md):
//! a message published through one proxy reaches subscribers on the
//! others, PUBLISH counts them all, order holds per channel, and after a
//! kill -9 of the channel's broker (its partition's primary) subscribers
//! receive new messages again once the partition has failed over, with no
//! client action. A MULTI's PUBLISH is delivered only when it commits.

mod support;

use std::time::{Duration, Instant};

use support::{Onebox, OneboxOpts, RawConn};

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
