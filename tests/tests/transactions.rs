//! Transactions across connections: WATCH sees another client's write, and
//! check-and-set loops from concurrent clients lose no increment (each EXEC
//! is atomic at the partition's primary).

mod support;

use std::thread;

use support::Onebox;

/// A check-and-set increment: WATCH, GET, MULTI, SET, EXEC, retried until
/// EXEC runs. Returns how many attempts were aborted.
fn cas_increment(con: &mut redis::Connection, key: &str) -> u64 {
    let mut aborted = 0;
    loop {
        redis::cmd("WATCH")
            .arg(key)
            .query::<()>(con)
            .expect("WATCH");
        let current: Option<i64> = redis::cmd("GET").arg(key).query(con).expect("GET");
        let next = current.unwrap_or(0) + 1;
        let result: Option<(String,)> = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(key)
            .arg(next)
            .query(con)
            .expect("MULTI/SET/EXEC");
        if result.is_some() {
            return aborted;
        }
        aborted += 1;
    }
}

#[test]
fn transactions_across_connections() {
    let ob = Onebox::start();
    let client = ob.redis_client();
    let mut a = client.get_connection().expect("connect a");
    let mut b = client.get_connection().expect("connect b");

    // Another client's write between WATCH and EXEC aborts the transaction.
    redis::cmd("SET")
        .arg("{w}:k")
        .arg("1")
        .query::<()>(&mut a)
        .expect("SET");
    redis::cmd("WATCH")
        .arg("{w}:k")
        .query::<()>(&mut a)
        .expect("WATCH");
    redis::cmd("SET")
        .arg("{w}:k")
        .arg("2")
        .query::<()>(&mut b)
        .expect("SET by b");
    let aborted: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("{w}:k")
        .arg("from a")
        .query(&mut a)
        .expect("EXEC");
    assert_eq!(aborted, None, "EXEC must abort after b's write");
    let v: String = redis::cmd("GET").arg("{w}:k").query(&mut a).expect("GET");
    assert_eq!(v, "2");

    // A write to a key nobody watches does not abort it.
    redis::cmd("WATCH")
        .arg("{w}:k")
        .query::<()>(&mut a)
        .expect("WATCH");
    redis::cmd("SET")
        .arg("{w}:other")
        .arg("x")
        .query::<()>(&mut b)
        .expect("SET other");
    let ran: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("{w}:k")
        .arg("from a")
        .query(&mut a)
        .expect("EXEC");
    assert_eq!(ran, Some(("OK".to_string(),)));

    // Concurrent check-and-set increments: none lost, some retried.
    const CLIENTS: usize = 4;
    const EACH: usize = 40;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = client.clone();
            thread::spawn(move || {
                let mut con = client.get_connection().expect("connect");
                (0..EACH)
                    .map(|_| cas_increment(&mut con, "{c}:counter"))
                    .sum::<u64>()
            })
        })
        .collect();
    let retries: u64 = threads.into_iter().map(|t| t.join().expect("client")).sum();
    let total: i64 = redis::cmd("GET")
        .arg("{c}:counter")
        .query(&mut a)
        .expect("GET");
    assert_eq!(
        total,
        (CLIENTS * EACH) as i64,
        "lost increments ({retries} retries)"
    );
    eprintln!(
        "{} increments, {retries} aborted attempts retried",
        CLIENTS * EACH
    );
}
