//! The proxy against a fake meta + server (one in-process RPC service with an
//! in-memory store), spoken to with raw RESP bytes and the `redis` crate.
//!
//! The real meta/server end-to-end test lives elsewhere; this one pins the
//! proxy's own behaviour: local commands, routing, split/merge, ordering,
//! retries, limits and error texts. Its partitions answer transaction
//! messages (`TXN`) too, applying an EXECUTE's writes at once: it checks
//! how a transaction across partitions is routed and merged, not its
//! atomicity (the unit tests of `txn::driver` and the end-to-end tests do).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use petrel_common::hash::partition_of;
use petrel_common::ids::TableId;
use petrel_common::msg::{
    method, ExecCode, ExecuteRequest, ExecuteResponse, PartitionConfigMsg, QueryTableRequest,
    QueryTableResponse, ReplyMsg, SettingsMsg, SettingsSetRequest, SettingsSetResponse,
    TableMapMsg, TxnRequestMsg, TxnResponseMsg,
};
use petrel_common::reply::Reply;
use petrel_common::rpc::server::{decode, encode, serve, Handled, Service};
use petrel_common::rpc::ServiceError;
use petrel_common::txn::wire::{self, Incoming};
use petrel_common::txn::{Request, Response};
use petrel_proxy::{Proxy, ProxyConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const PARTITIONS: u32 = 4;

/// Meta and every primary in one service.
#[derive(Default)]
struct Fake {
    addr: Mutex<String>,
    data: Mutex<HashMap<Bytes, Bytes>>,
    /// Answer this many EXECUTEs with NOT_PRIMARY first.
    refuse: AtomicU32,
    /// Never answer writes (the proxy sees a timeout).
    hang_writes: AtomicBool,
    /// Never answer EXECUTE at all.
    hang_all: AtomicBool,
    executes: AtomicU32,
    queries: AtomicU32,
    /// The cluster settings, as meta keeps them (CONFIG SET, ACL SETUSER).
    settings: Mutex<SettingsMsg>,
}

impl Fake {
    fn table(&self) -> TableMapMsg {
        let addr = self.addr.lock().expect("lock").clone();
        TableMapMsg {
            id: 1,
            name: "default".into(),
            partition_count: PARTITIONS,
            replica_count: 1,
            version: 1,
            partitions: (0..PARTITIONS)
                .map(|p| PartitionConfigMsg {
                    table_id: 1,
                    partition_id: p,
                    ballot: 1,
                    primary: addr.clone(),
                    secondaries: vec![],
                })
                .collect(),
        }
    }

    fn execute(&self, req: ExecuteRequest) -> Reply {
        let args = req.args;
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let (first, last, step) = match name.as_str() {
            "mset" | "msetnx" => (1, args.len(), 2),
            "mget" | "del" | "unlink" | "exists" | "touch" => (1, args.len(), 1),
            "dbsize" | "flushall" | "flushdb" => (0, 0, 1),
            _ => (1, 2, 1),
        };
        // Every key must belong to the partition the proxy sent it to.
        if first > 0 {
            for k in args[first..last].iter().step_by(step) {
                if partition_of(k, req.partition_count) != req.partition_id {
                    return Reply::error(format!(
                        "ERR key routed to wrong partition {}",
                        req.partition_id
                    ));
                }
            }
        }
        let mut data = self.data.lock().expect("lock");
        let in_partition = |k: &Bytes| partition_of(k, PARTITIONS) == req.partition_id;
        match name.as_str() {
            "get" => data
                .get(&args[1])
                .cloned()
                .map(Reply::Bulk)
                .unwrap_or(Reply::Nil),
            "set" => {
                data.insert(args[1].clone(), args[2].clone());
                Reply::ok()
            }
            "incr" => {
                let v = data
                    .get(&args[1])
                    .map(|v| String::from_utf8_lossy(v).parse::<i64>().unwrap_or(0))
                    .unwrap_or(0)
                    + 1;
                data.insert(args[1].clone(), Bytes::from(v.to_string()));
                Reply::Int(v)
            }
            "mget" => Reply::Array(
                args[1..]
                    .iter()
                    .map(|k| data.get(k).cloned().map(Reply::Bulk).unwrap_or(Reply::Nil))
                    .collect(),
            ),
            "mset" | "msetnx" => {
                for kv in args[1..].chunks(2) {
                    data.insert(kv[0].clone(), kv[1].clone());
                }
                if name == "mset" {
                    Reply::ok()
                } else {
                    Reply::Int(1)
                }
            }
            "del" | "unlink" => Reply::Int(
                args[1..]
                    .iter()
                    .filter(|k| data.remove(*k).is_some())
                    .count() as i64,
            ),
            "exists" | "touch" => {
                Reply::Int(args[1..].iter().filter(|k| data.contains_key(*k)).count() as i64)
            }
            "dbsize" => Reply::Int(data.keys().filter(|k| in_partition(k)).count() as i64),
            "flushall" | "flushdb" => {
                data.retain(|k, _| !in_partition(k));
                Reply::ok()
            }
            "zscore" => Reply::Double(1.5),
            other => Reply::error(format!("ERR fake does not know '{other}'")),
        }
    }

    /// A transaction message: an EXECUTE runs (and applies) its commands;
    /// every other request is acknowledged.
    fn txn(&self, req: TxnRequestMsg) -> TxnResponseMsg {
        let body = req.body.as_ref().map(|b| wire::incoming(b, TableId(1)));
        let (resp, replies) = match body {
            Some(Ok(Incoming::Execute(head))) => {
                let replies: Vec<ReplyMsg> = req
                    .commands
                    .into_iter()
                    .map(|c| {
                        let reply = self.execute(ExecuteRequest {
                            partition_id: req.partition_id,
                            partition_count: req.partition_count,
                            args: c.args,
                            command: c.command,
                            ..Default::default()
                        });
                        ReplyMsg::from(&reply)
                    })
                    .collect();
                let resp = Response::Executed {
                    txn: head.txn,
                    seq: head.seq,
                    epoch: 1,
                    writes: true,
                };
                (resp, replies)
            }
            Some(Ok(Incoming::Request(r))) => {
                let txn = r.txn();
                let resp = match r {
                    Request::Prepare { .. } => Response::Prepared { txn },
                    Request::CommitOne { .. } => Response::Committed { txn },
                    Request::Decide { .. } => Response::Decided { txn },
                    Request::Release { .. } => Response::Released { txn },
                    Request::Heartbeat { .. } => Response::Alive { txn },
                    Request::Status { .. } | Request::Prevent { .. } => {
                        return TxnResponseMsg {
                            code: ExecCode::Unavailable.into(),
                            reason: "the fake resolves nothing".into(),
                            ..Default::default()
                        }
                    }
                };
                (resp, Vec::new())
            }
            _ => {
                return TxnResponseMsg {
                    code: ExecCode::Unavailable.into(),
                    reason: "bad body".into(),
                    ..Default::default()
                }
            }
        };
        TxnResponseMsg {
            code: ExecCode::Ok.into(),
            ballot: 1,
            body: Some(wire::response(&resp)),
            replies,
            ..Default::default()
        }
    }
}

impl Service for Fake {
    fn call(self: Arc<Self>, m: u16, body: Bytes) -> BoxFuture<'static, Handled> {
        Box::pin(async move {
            match m {
                method::QUERY_TABLE => {
                    self.queries.fetch_add(1, SeqCst);
                    let req: QueryTableRequest = decode(body)?;
                    let table = (req.name == "default").then(|| self.table());
                    encode(&QueryTableResponse {
                        table,
                        scripting_generation: 0,
                    })
                }
                method::SETTINGS_SET => {
                    let req: SettingsSetRequest = decode(body)?;
                    let mut settings = self.settings.lock().expect("lock");
                    settings.generation += 1;
                    for change in req.settings {
                        settings.settings.retain(|s| s.name != change.name);
                        settings.settings.push(change);
                    }
                    encode(&SettingsSetResponse {
                        settings: Some(settings.clone()),
                        unacknowledged: Vec::new(),
                    })
                }
                method::SETTINGS_GET => encode(&self.settings.lock().expect("lock").clone()),
                method::EXECUTE => {
                    self.executes.fetch_add(1, SeqCst);
                    let req: ExecuteRequest = decode(body)?;
                    let write = matches!(
                        String::from_utf8_lossy(&req.args[0])
                            .to_ascii_lowercase()
                            .as_str(),
                        "set" | "incr" | "mset" | "del" | "flushall"
                    );
                    if self.hang_all.load(SeqCst) || (write && self.hang_writes.load(SeqCst)) {
                        futures::future::pending::<()>().await;
                    }
                    // Shuffle completion order so ordering bugs show.
                    let jitter = rand_delay(&req.args);
                    tokio::time::sleep(Duration::from_micros(jitter)).await;
                    if self
                        .refuse
                        .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        return encode(&ExecuteResponse {
                            code: ExecCode::NotPrimary.into(),
                            reply: None,
                            ballot: 1,
                            primary: String::new(),
                            reason: "moving".into(),
                            published: Vec::new(),
                        });
                    }
                    let reply = self.execute(req);
                    encode(&ExecuteResponse {
                        code: ExecCode::Ok.into(),
                        reply: Some(ReplyMsg::from(&reply)),
                        ballot: 1,
                        primary: String::new(),
                        reason: String::new(),
                        published: Vec::new(),
                    })
                }
                method::TXN => {
                    let req: TxnRequestMsg = decode(body)?;
                    encode(&self.txn(req))
                }
                other => Err(ServiceError::NoMethod(other)),
            }
        })
    }
}

fn rand_delay(args: &[Bytes]) -> u64 {
    // Deterministic per request but varied: later keys often finish first.
    let h = args
        .iter()
        .flat_map(|a| a.iter())
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
    h % 3000
}

struct Cluster {
    fake: Arc<Fake>,
    rpc_addr: String,
}

async fn start_fake() -> Cluster {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let rpc_addr = listener.local_addr().expect("addr").to_string();
    let fake = Arc::new(Fake::default());
    *fake.addr.lock().expect("lock") = rpc_addr.clone();
    tokio::spawn(serve(listener, fake.clone()));
    Cluster { fake, rpc_addr }
}

struct Running {
    addr: SocketAddr,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

async fn start_proxy(meta: &str, tweak: impl FnOnce(&mut ProxyConfig)) -> Running {
    let mut cfg = ProxyConfig {
        listen: "127.0.0.1:0".into(),
        meta: vec![meta.to_string()],
        ..ProxyConfig::default()
    };
    tweak(&mut cfg);
    let proxy = Proxy::bind(cfg, None).await.expect("proxy binds");
    let addr = proxy.local_addr();
    let stop = proxy.shutdown_token();
    let done = tokio::spawn(proxy.serve());
    Running { addr, stop, done }
}

/// Sends raw bytes and reads until `expect` bytes arrived (or 5 s pass).
async fn raw(addr: SocketAddr, input: &[u8], expect: usize) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(input).await.expect("write");
    read_n(&mut s, expect).await
}

async fn read_n(s: &mut TcpStream, expect: usize) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while out.len() < expect {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn client(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{addr}/"))
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connects")
}

async fn q<T: redis::FromRedisValue>(
    con: &mut redis::aio::MultiplexedConnection,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query_async(con).await
}

fn err_text(e: redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
}

#[tokio::test]
async fn local_commands_speak_like_redis() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |_| {}).await;
    let cases: &[(&str, &str)] = &[
        ("PING\r\n", "+PONG\r\n"),
        ("PING hi\r\n", "$2\r\nhi\r\n"),
        ("PING a b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n"),
        ("ECHO \"a b\"\r\n", "$3\r\na b\r\n"),
        ("GET\r\n", "-ERR wrong number of arguments for 'get' command\r\n"),
        ("foo a b\r\n", "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"),
        ("CLIENT\r\n", "-ERR wrong number of arguments for 'client' command\r\n"),
        ("CLIENT foo\r\n", "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n"),
        ("CLIENT SETNAME\r\n", "-ERR wrong number of arguments for 'client|setname' command\r\n"),
        ("CLIENT GETNAME\r\n", "$-1\r\n"),
        ("SELECT 0\r\n", "+OK\r\n"),
        ("SELECT 16\r\n", "-ERR DB index is out of range\r\n"),
        ("SELECT -1\r\n", "-ERR DB index is out of range\r\n"),
        ("SELECT abc\r\n", "-ERR value is not an integer or out of range\r\n"),
        ("SELECT 99999999999\r\n", "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"),
        ("CLIENT KILL 9.9.9.9:1\r\n", "-ERR No such client\r\n"),
        ("CLIENT KILL ID 99999\r\n", ":0\r\n"),
        ("CLIENT KILL ID abc\r\n", "-ERR client-id should be greater than 0\r\n"),
        ("CLIENT LIST TYPE foo\r\n", "-ERR Unknown client type 'foo'\r\n"),
        ("AUTH x\r\n", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"),
        ("AUTH default whatever\r\n", "+OK\r\n"),
        ("AUTH bob x\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
        ("HELLO 4\r\n", "-NOPROTO unsupported protocol version\r\n"),
        ("HELLO x\r\n", "-ERR Protocol version is not an integer or out of range\r\n"),
        ("HELLO 3 foo\r\n", "-ERR Syntax error in HELLO option 'foo'\r\n"),
        ("CONFIG GET maxclients\r\n", "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"),
        ("CONFIG SET foo bar\r\n", "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"),
        ("CONFIG SET databases 3\r\n", "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n"),
        ("CONFIG SET maxclients abc\r\n", "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer\r\n"),
        ("CONFIG SET timeout 1 timeout 2\r\n", "-ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter\r\n"),
        ("CONFIG SET timeout\r\n", "-ERR wrong number of arguments for 'config|set' command\r\n"),
        ("COMMAND INFO nosuch\r\n", "*1\r\n$-1\r\n"),
        ("COMMAND GETKEYS mset a b c d\r\n", "*2\r\n$1\r\na\r\n$1\r\nc\r\n"),
        ("COMMAND GETKEYS nosuch a\r\n", "-ERR Invalid command specified\r\n"),
        ("CLIENT SETINFO lib-name my-lib\r\n", "+OK\r\n"),
        ("CLIENT SETINFO lib-foo x\r\n", "-ERR Unrecognized option 'lib-foo'\r\n"),
        ("CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY ON\r\n", "+OK\r\n"),
        ("CLIENT REPLY SKIP\r\nPING 1\r\nPING 2\r\n", "$1\r\n2\r\n"),
    ];
    for (input, want) in cases {
        let got = raw(p.addr, input.as_bytes(), want.len()).await;
        assert_eq!(&got, want, "for {input:?}");
    }
    // COMMAND INFO get, exactly as Redis 7.0 prints it in RESP2.
    let get_info = "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
    assert_eq!(
        raw(p.addr, b"COMMAND INFO get\r\n", get_info.len()).await,
        get_info
    );
    let mut con = client(p.addr).await;
    let n: i64 = q(&mut con, &["COMMAND", "COUNT"]).await.expect("count");
    assert!(n > 40, "{n}");
    let id: i64 = q(&mut con, &["CLIENT", "ID"]).await.expect("id");
    assert!(id > 0);
    let _: () = q(&mut con, &["CLIENT", "SETNAME", "me"])
        .await
        .expect("setname");
    let name: String = q(&mut con, &["CLIENT", "GETNAME"]).await.expect("getname");
    assert_eq!(name, "me");
    let list: String = q(&mut con, &["CLIENT", "LIST"]).await.expect("list");
    assert!(
        list.contains(&format!("id={id} ")) && list.contains("name=me"),
        "{list}"
    );
    let info: String = q(&mut con, &["INFO"]).await.expect("info");
    for field in [
        "# Server\r\n",
        "redis_version:7.0.15",
        "# Clients",
        "connected_clients:",
        "# Stats",
        "# Keyspace",
        "# Petrel",
        "table:default",
        "partition_count:4",
    ] {
        assert!(info.contains(field), "INFO lacks {field}: {info}");
    }
    p.stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), p.done)
        .await
        .expect("stops")
        .expect("joins");
}

#[tokio::test]
async fn hello_3_switches_to_resp3() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |_| {}).await;
    let mut s = TcpStream::connect(p.addr).await.expect("connect");
    s.write_all(b"HELLO 3\r\n").await.expect("write");
    let hello = read_n(&mut s, 20).await;
    assert!(hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n"), "{hello:?}");
    let mut rest = hello;
    while !rest.ends_with("$7\r\nmodules\r\n*0\r\n") {
        rest.push_str(&read_n(&mut s, 1).await);
    }
    s.write_all(b"GET nokey\r\nCONFIG GET timeout\r\n")
        .await
        .expect("write");
    let want = "_\r\n%1\r\n$7\r\ntimeout\r\n$1\r\n0\r\n";
    assert_eq!(read_n(&mut s, want.len()).await, want);
}

#[tokio::test]
async fn data_commands_route_split_and_merge() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |_| {}).await;
    let mut con = client(p.addr).await;
    let _: () = q(&mut con, &["SET", "k1", "v1"]).await.expect("set");
    let v: String = q(&mut con, &["GET", "k1"]).await.expect("get");
    assert_eq!(v, "v1");
    let keys: Vec<String> = (0..20).map(|i| format!("key{i}")).collect();
    let mut mset = vec!["MSET"];
    let vals: Vec<String> = keys.iter().map(|k| format!("val-{k}")).collect();
    for (k, v) in keys.iter().zip(&vals) {
        mset.push(k);
        mset.push(v);
    }
    let _: () = q(&mut con, &mset).await.expect("mset");
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    mget.push("missing");
    let got: Vec<Option<String>> = q(&mut con, &mget).await.expect("mget");
    let mut want: Vec<Option<String>> = vals.iter().cloned().map(Some).collect();
    want.push(None);
    assert_eq!(got, want);
    let n: i64 = q(&mut con, &["EXISTS", "key1", "key2", "nope", "key1"])
        .await
        .expect("exists");
    assert_eq!(n, 3);
    let n: i64 = q(&mut con, &["DBSIZE"]).await.expect("dbsize");
    assert_eq!(n, 21);
    let n: i64 = q(&mut con, &["DEL", "key1", "key2", "nope"])
        .await
        .expect("del");
    assert_eq!(n, 2);
    // Across partitions MSETNX reads the other keys first (petrel.dump,
    // which the fake does not know): the transaction stops there and
    // nothing is written. Never CROSSSLOT.
    let e = q::<i64>(&mut con, &["MSETNX", "a", "1", "b", "2", "c", "3"])
        .await
        .expect_err("the fake cannot dump");
    let text = err_text(e);
    assert!(text.contains("nothing was written"), "{text}");
    let n: i64 = q(&mut con, &["EXISTS", "a", "b", "c"])
        .await
        .expect("exists");
    assert_eq!(n, 0);
    let n: i64 = q(&mut con, &["MSETNX", "{t}a", "1", "{t}b", "2"])
        .await
        .expect("same slot");
    assert_eq!(n, 1);
    let e = q::<()>(&mut con, &["MSET", "a", "1", "b"])
        .await
        .expect_err("odd mset");
    assert!(err_text(e).contains("wrong number of arguments for 'mset'"));
    let _: () = q(&mut con, &["FLUSHALL"]).await.expect("flushall");
    let n: i64 = q(&mut con, &["DBSIZE"]).await.expect("dbsize");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn pipelined_replies_keep_request_order() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |_| {}).await;
    let mut input = String::new();
    let mut want = String::new();
    for i in 0..200 {
        input.push_str(&format!("SET k{i} v{i}\r\n"));
        want.push_str("+OK\r\n");
    }
    for i in 0..200 {
        input.push_str(&format!("GET k{i}\r\nPING\r\n"));
        let v = format!("v{i}");
        want.push_str(&format!("${}\r\n{v}\r\n+PONG\r\n", v.len()));
    }
    assert_eq!(raw(p.addr, input.as_bytes(), want.len()).await, want);
}

#[tokio::test]
async fn refused_requests_are_retried_after_a_map_refresh() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |_| {}).await;
    let mut con = client(p.addr).await;
    let _: () = q(&mut con, &["SET", "k", "v"]).await.expect("set");
    let before = c.fake.queries.load(SeqCst);
    c.fake.refuse.store(3, SeqCst);
    let n: i64 = q(&mut con, &["INCR", "counter"])
        .await
        .expect("incr after refusals");
    assert_eq!(n, 1, "a refused write runs exactly once");
    assert!(c.fake.queries.load(SeqCst) > before, "map refreshed");
}

#[tokio::test]
async fn unknown_write_outcome_is_an_error_not_a_retry() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |cfg| cfg.request_timeout_ms = 400).await;
    let mut con = client(p.addr).await;
    let _: () = q(&mut con, &["SET", "k", "v"]).await.expect("set");
    c.fake.hang_writes.store(true, SeqCst);
    let before = c.fake.executes.load(SeqCst);
    let e = q::<()>(&mut con, &["SET", "k", "w"])
        .await
        .expect_err("hung write");
    let text = err_text(e);
    assert!(text.contains("write outcome unknown"), "{text}");
    assert_eq!(
        c.fake.executes.load(SeqCst) - before,
        1,
        "the write was sent once"
    );
    c.fake.hang_all.store(true, SeqCst);
    let e = q::<String>(&mut con, &["GET", "k"])
        .await
        .expect_err("hung read");
    assert!(err_text(e).starts_with("TRYAGAIN"));
}

#[tokio::test]
async fn requirepass_gates_commands() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |cfg| cfg.requirepass = "secret".into()).await;
    let input = "PING\r\nGET k\r\nAUTH wrong\r\nHELLO 3\r\nAUTH secret\r\nPING\r\n";
    let want = "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n\
                -WRONGPASS invalid username-password pair or user is disabled.\r\n\
                -NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n\
                +OK\r\n+PONG\r\n";
    assert_eq!(raw(p.addr, input.as_bytes(), want.len()).await, want);
    let got = raw(p.addr, b"HELLO 2 AUTH default secret\r\nPING\r\n", 10).await;
    assert!(got.starts_with("*14\r\n$6\r\nserver"), "{got}");
    let got = raw(p.addr, b"*11\r\n", 60).await;
    assert_eq!(
        got,
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
}

#[tokio::test]
async fn limits_and_protocol_errors_close_only_that_connection() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |cfg| cfg.maxclients = 2).await;
    // A protocol error: replies before it are sent, then the error, then EOF.
    let got = raw(p.addr, b"PING\r\n*1\r\nx", 1000).await;
    assert_eq!(
        got,
        "+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n"
    );
    // A declared huge bulk alone does not make the proxy allocate it.
    let got = raw(p.addr, b"*1\r\n$999999999999\r\n", 1000).await;
    assert_eq!(got, "-ERR Protocol error: invalid bulk length\r\n");
    let _a = client(p.addr).await;
    let _b = client(p.addr).await;
    let got = raw(p.addr, b"PING\r\n", 100).await;
    assert_eq!(got, "-ERR max number of clients reached\r\n");
    drop(_a);
    // QUIT answers then closes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = raw(p.addr, b"QUIT\r\nPING\r\n", 100).await;
    assert_eq!(got, "+OK\r\n");
}

#[tokio::test]
async fn starts_without_meta_and_reports_clusterdown() {
    // Nothing listens on this port.
    let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead_addr = dead.local_addr().expect("addr").to_string();
    drop(dead);
    let p = start_proxy(&dead_addr, |cfg| cfg.request_timeout_ms = 300).await;
    let mut con = client(p.addr).await;
    let pong: String = q(&mut con, &["PING"])
        .await
        .expect("ping works without meta");
    assert_eq!(pong, "PONG");
    let e = q::<String>(&mut con, &["GET", "k"])
        .await
        .expect_err("no map");
    let text = err_text(e);
    assert!(
        text.starts_with("CLUSTERDOWN table 'default' is not available"),
        "{text}"
    );
}

#[tokio::test]
async fn busy_port_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let cfg = ProxyConfig {
        listen: addr.clone(),
        ..ProxyConfig::default()
    };
    let e = Proxy::bind(cfg, None).await.err().expect("port in use");
    assert_eq!(e.to_string(), format!("address {addr} already in use"));
}

#[tokio::test]
async fn client_kill_and_idle_timeout_close_connections() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |_| {}).await;
    let mut victim = TcpStream::connect(p.addr).await.expect("connect");
    victim.write_all(b"CLIENT ID\r\n").await.expect("write");
    let id_line = read_n(&mut victim, 3).await;
    let id = id_line.trim_start_matches(':').trim().to_string();
    let got = raw(p.addr, format!("CLIENT KILL ID {id}\r\n").as_bytes(), 4).await;
    assert_eq!(got, ":1\r\n");
    assert_eq!(
        read_n(&mut victim, 1).await,
        "",
        "killed connection is closed"
    );
    let mut idle = TcpStream::connect(p.addr).await.expect("connect");
    idle.write_all(b"CONFIG SET timeout 1\r\n")
        .await
        .expect("write");
    assert_eq!(read_n(&mut idle, 5).await, "+OK\r\n");
    let started = std::time::Instant::now();
    assert_eq!(read_n(&mut idle, 1).await, "", "idle connection is closed");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn large_values_pass_through_intact() {
    let c = start_fake().await;
    let p = start_proxy(&c.rpc_addr, |_| {}).await;
    let mut con = client(p.addr).await;
    let value: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&value)
        .query_async(&mut con)
        .await
        .expect("set big");
    let back: Vec<u8> = redis::cmd("GET")
        .arg("big")
        .query_async(&mut con)
        .await
        .expect("get big");
    assert!(back == value, "value changed on the way");
}
