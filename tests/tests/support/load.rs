//! A write load that remembers what it was told: several tokio tasks, one
//! writer per key, unique values, each SET's outcome recorded, so a test can
//! check afterwards that no acknowledged write was lost.
//!
//! With one sequential writer per key, a key must end up holding its last
//! acknowledged value or a value attempted after it (a SET that failed or
//! timed out may still have been applied); anything else, an older value
//! included, is a lost write.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Longer than the proxy's own request deadline, so the proxy's answer
/// (success or error) is what the client sees.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened to one key's writes.
#[derive(Clone, Debug, Default)]
pub struct KeyHistory {
    /// The last value whose SET was acknowledged.
    pub acked: Option<String>,
    /// Values attempted after it whose SET failed or timed out (maybe applied).
    pub uncertain: Vec<String>,
}

impl KeyHistory {
    pub fn ack(&mut self, value: String) {
        self.acked = Some(value);
        self.uncertain.clear();
    }

    pub fn fail(&mut self, value: String) {
        self.uncertain.push(value);
    }

    /// Whether `got` (a GET's answer) is allowed by this history.
    pub fn allows(&self, got: Option<&str>) -> bool {
        match got {
            None => self.acked.is_none(),
            Some(v) => self.acked.as_deref() == Some(v) || self.uncertain.iter().any(|u| u == v),
        }
    }
}

/// Every key's history.
pub type Histories = BTreeMap<String, KeyHistory>;

/// Opens a multiplexed connection whose requests wait up to [`RESPONSE_TIMEOUT`].
pub async fn connect(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(Duration::from_secs(2)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// SET `key` `value`; true when acknowledged with OK.
pub async fn set(con: &mut MultiplexedConnection, key: &str, value: &str) -> bool {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async::<String>(con)
        .await
        .map(|r| r == "OK")
        .unwrap_or(false)
}

/// A running write load.
pub struct WriteLoad {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<(Histories, Duration)>>,
}

impl WriteLoad {
    /// Starts `writers` tasks on `rt`, each writing its own `keys_per_writer`
    /// keys named `{prefix}:w{writer}:k{n}` round robin, with unique values.
    pub fn start(
        rt: &Runtime,
        client: &redis::Client,
        prefix: &str,
        writers: usize,
        keys_per_writer: usize,
    ) -> WriteLoad {
        let key_sets = (0..writers)
            .map(|w| {
                (0..keys_per_writer)
                    .map(|k| format!("{prefix}:w{w}:k{k}"))
                    .collect()
            })
            .collect();
        WriteLoad::start_on_keys(rt, client, prefix, key_sets)
    }

    /// Starts one writer task per key set on `rt`, each writing its keys
    /// round robin with unique values (tagged `{prefix}:w{writer}`).
    pub fn start_on_keys(
        rt: &Runtime,
        client: &redis::Client,
        prefix: &str,
        key_sets: Vec<Vec<String>>,
    ) -> WriteLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = key_sets
            .into_iter()
            .enumerate()
            .map(|(w, keys)| {
                let tag = format!("{prefix}:w{w}");
                rt.spawn(write_keys(
                    client.clone(),
                    keys,
                    tag,
                    stop.clone(),
                    acked.clone(),
                    failed.clone(),
                ))
            })
            .collect();
        WriteLoad {
            stop,
            acked,
            failed,
            tasks,
        }
    }

    /// Acknowledged and failed SETs so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.acked.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Stops every writer and returns what each key went through.
    pub fn stop(self, rt: &Runtime) -> Histories {
        self.stop_with_pauses(rt).0
    }

    /// Stops every writer and returns what each key went through, after
    /// printing each writer's longest time without an acknowledged write
    /// and asserting that none reached `budget`.
    pub fn stop_pausing_less_than(self, rt: &Runtime, budget: Duration) -> Histories {
        let (hist, pauses) = self.stop_with_pauses(rt);
        let longest = pauses.iter().max().copied().unwrap_or_default();
        println!(
            "longest pause between acknowledged writes per writer: {:?}",
            pauses
                .iter()
                .map(|d| format!("{} ms", d.as_millis()))
                .collect::<Vec<_>>()
        );
        assert!(
            longest < budget,
            "a writer took no write for {longest:?} (budget {budget:?})"
        );
        hist
    }

    /// Stops every writer: what each key went through, and for each writer
    /// the longest time it went without an acknowledged write.
    pub fn stop_with_pauses(self, rt: &Runtime) -> (Histories, Vec<Duration>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Histories::new();
        let mut pauses = Vec::new();
        for t in self.tasks {
            let (hist, longest) = rt.block_on(t).expect("writer task panicked");
            all.extend(hist);
            pauses.push(longest);
        }
        (all, pauses)
    }
}

async fn write_keys(
    client: redis::Client,
    keys: Vec<String>,
    tag: String,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) -> (Histories, Duration) {
    let mut last_ack = Instant::now();
    let mut longest = Duration::ZERO;
    let mut hist: Histories = keys
        .iter()
        .map(|k| (k.clone(), KeyHistory::default()))
        .collect();
    let mut con: Option<MultiplexedConnection> = None;
    let mut seq: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        if con.is_none() {
            con = connect(&client).await.ok();
            if con.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        let key = &keys[seq as usize % keys.len()];
        let value = format!("{tag}:{seq}");
        seq += 1;
        let c = con.as_mut().expect("connected");
        let result = redis::cmd("SET")
            .arg(key)
            .arg(&value)
            .query_async::<String>(c)
            .await;
        let h = hist.get_mut(key).expect("own key");
        match result {
            Ok(r) if r == "OK" => {
                h.ack(value);
                acked.fetch_add(1, Ordering::Relaxed);
                longest = longest.max(last_ack.elapsed());
                last_ack = Instant::now();
            }
            other => {
                h.fail(value);
                failed.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = other {
                    if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                        con = None;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    (hist, longest.max(last_ack.elapsed()))
}

/// Reads every key of `hist` through `client` (retrying errors for up to
/// `timeout`) and panics listing every key whose value its history forbids.
pub fn check_histories(rt: &Runtime, client: &redis::Client, hist: &Histories, timeout: Duration) {
    let bad: Vec<String> = rt.block_on(async {
        let start = Instant::now();
        let mut con = loop {
            match connect(client).await {
                Ok(c) => break c,
                Err(e) => {
                    assert!(
                        start.elapsed() < timeout,
                        "cannot connect to read back: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let mut bad = Vec::new();
        for (key, h) in hist {
            let got: Option<String> = loop {
                match redis::cmd("GET")
                    .arg(key)
                    .query_async::<Option<String>>(&mut con)
                    .await
                {
                    Ok(v) => break v,
                    Err(e) => {
                        assert!(
                            start.elapsed() < timeout,
                            "GET {key} still failing after {timeout:?}: {e}"
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if e.is_io_error() || e.is_connection_dropped() {
                            if let Ok(c) = connect(client).await {
                                con = c;
                            }
                        }
                    }
                }
            };
            if !h.allows(got.as_deref()) {
                bad.push(format!(
                    "{key}: got {got:?}, last acknowledged {:?}, later attempts {:?}",
                    h.acked, h.uncertain
                ));
            }
        }
        bad
    });
    let acked = hist.values().filter(|h| h.acked.is_some()).count();
    assert!(
        bad.is_empty(),
        "{} of {} keys lost their acknowledged value (first 20):\n{}",
        bad.len(),
        hist.len(),
        bad.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    eprintln!(
        "read back {} keys ({acked} with an acknowledged write): all intact",
        hist.len()
    );
}
