//! The RPC layer over real TCP: multiplexing, out-of-order responses,
//! deadlines, garbage frames and unreachable peers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use petrel_common::msg::{QueryTableRequest, QueryTableResponse, TableMapMsg};
use petrel_common::rpc::client::RpcClient;
use petrel_common::rpc::frame::{codec, Header, Kind};
use petrel_common::rpc::server::{decode, encode, serve, Handled, Service};
use petrel_common::rpc::{RpcError, ServiceError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Echoes the requested name back as a table name, after a delay encoded in it.
struct Echo;

impl Service for Echo {
    fn call(self: Arc<Self>, method: u16, body: Bytes) -> BoxFuture<'static, Handled> {
        async move {
            if method != 7 {
                return Err(ServiceError::NoMethod(method));
            }
            let req: QueryTableRequest = decode(body)?;
            let delay: u64 = req
                .name
                .split(':')
                .nth(1)
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            encode(&QueryTableResponse {
                table: Some(TableMapMsg {
                    name: req.name,
                    ..Default::default()
                }),
                ..Default::default()
            })
        }
        .boxed()
    }
}

async fn start() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(serve(listener, Arc::new(Echo)));
    addr
}

async fn ask(
    client: &RpcClient,
    addr: &str,
    name: &str,
    timeout_ms: u64,
) -> Result<String, RpcError> {
    let resp: QueryTableResponse = client
        .call(
            addr,
            7,
            &QueryTableRequest {
                name: name.to_string(),
            },
            Duration::from_millis(timeout_ms),
        )
        .await?;
    Ok(resp.table.map(|t| t.name).unwrap_or_default())
}

#[tokio::test]
async fn many_requests_in_flight_complete_out_of_order() {
    let addr = start().await;
    let client = RpcClient::new();
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let client = client.clone();
        let addr = addr.clone();
        // Earlier requests sleep longer, so responses come back reversed.
        let name = format!("r{i}:{}", (200 - i) / 4);
        tasks.push(tokio::spawn(async move {
            (name.clone(), ask(&client, &addr, &name, 5000).await)
        }));
    }
    for t in tasks {
        let (name, got) = t.await.expect("join");
        assert_eq!(got.expect("answered"), name);
    }
}

#[tokio::test]
async fn deadline_and_remote_errors_are_reported() {
    let addr = start().await;
    let client = RpcClient::new();
    let slow = ask(&client, &addr, "slow:500", 50).await;
    assert!(matches!(slow, Err(RpcError::Timeout(_))), "{slow:?}");
    let err = client
        .call::<_, QueryTableResponse>(
            &addr,
            9,
            &QueryTableRequest::default(),
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(err, Err(RpcError::Remote(ServiceError::NoMethod(9))));
    // The connection still works after both.
    assert_eq!(
        ask(&client, &addr, "again", 1000).await.expect("ok"),
        "again"
    );
}

#[tokio::test]
async fn garbage_drops_only_that_connection() {
    let addr = start().await;
    let mut raw = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    raw.write_all(&[0, 0, 0, 20]).await.expect("write");
    raw.write_all(&[0xff; 20]).await.expect("write");
    // An absurd length prefix is refused too.
    let mut raw2 = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    raw2.write_all(&[0xff, 0xff, 0xff, 0xff])
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = RpcClient::new();
    assert_eq!(
        ask(&client, &addr, "still", 1000).await.expect("served"),
        "still"
    );
}

#[tokio::test]
async fn unreachable_peer_fails_fast_and_reconnects_later() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let client = RpcClient::new();
    let err = ask(&client, &addr, "x", 2000)
        .await
        .expect_err("nobody listens");
    assert!(err.never_sent(), "{err:?}");
    // Bring a server up on the same port; the client reconnects after backoff.
    let listener = TcpListener::bind(&addr).await.expect("rebind");
    tokio::spawn(serve(listener, Arc::new(Echo)));
    let mut answered = false;
    for _ in 0..50 {
        if ask(&client, &addr, "back", 500).await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "client never reconnected");
}

/// A peer that predates typed errors sends requests without the flag: it
/// gets the error as text, and a response without the flag.
#[tokio::test]
async fn an_older_caller_gets_errors_as_text() {
    use futures::StreamExt;
    use tokio_util::codec::FramedRead;

    let addr = start().await;
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (r, mut w) = stream.into_split();
    let mut old = Header::request(9, 1000, 1);
    old.typed_errors = false;
    old.frame(Bytes::new())
        .expect("fits")
        .write_to(&mut w)
        .await
        .expect("write");
    let mut frames = FramedRead::new(r, codec());
    let frame = frames.next().await.expect("a response").expect("read");
    let (h, body) = Header::decode(frame.freeze()).expect("decodes");
    assert_eq!((h.kind, h.typed_errors), (Kind::ErrorResponse, false));
    assert_eq!(&body[..], b"no method 9");
}

/// A peer that predates typed errors answers with text and no flag: the
/// caller gets the text as [`ServiceError::Other`].
#[tokio::test]
async fn an_older_service_error_reads_as_other() {
    use futures::{SinkExt, StreamExt};
    use tokio_util::codec::Framed;

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut frames = Framed::new(stream, codec());
        while let Some(Ok(frame)) = frames.next().await {
            let (h, _) = Header::decode(frame.freeze()).expect("decodes");
            let mut reply = h.response(false);
            reply.typed_errors = false;
            let out = reply.encode_with(b"table 't' already exists");
            frames.send(out).await.expect("send");
        }
    });
    let client = RpcClient::new();
    let err = ask(&client, &addr, "t", 1000).await;
    assert_eq!(
        err,
        Err(RpcError::Remote(ServiceError::Other(
            "table 't' already exists".to_string()
        )))
    );
}
