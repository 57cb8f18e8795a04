//! `petrel import`: copies a live Redis (or another Petrel) into Petrel
//! through their Redis protocol.
//!
//! The source is walked with `SCAN`; each key is read with `DUMP` and
//! `PTTL` and written at the target with `RESTORE key <expire-at> <payload>
//! ABSTTL REPLACE`, so a key copied twice (after a resume, or because SCAN
//! returned it twice) ends the same. Keys of one SCAN page are copied
//! `--parallel` at a time over one multiplexed connection per side.
//!
//! **Resumable**: after each page, the SCAN cursor and the counts are
//! written to `--state` (atomically); a run given an existing state file
//! goes on from its cursor. SCAN returns every key present for the whole
//! walk at least once, whichever connection asks.
//!
//! **Nothing skipped silently**: a key the target refuses (a module type,
//! a corrupt value) is printed with the target's error, and counted; the
//! run exits non-zero if any was. A key gone between SCAN and DUMP is
//! counted as gone. At the end, `DBSIZE` of both sides is compared (a live
//! source may have changed meanwhile).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use futures::stream::{self, StreamExt};
use redis::aio::MultiplexedConnection;
use redis::Value;

/// `petrel import` flags.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ImportArgs {
    /// The source: `redis://[user:password@]host:port[/db]`.
    #[arg(long)]
    from: String,
    /// The target Petrel proxy, same form.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    to: String,
    /// Keys copied at once.
    #[arg(long, default_value_t = 16)]
    parallel: usize,
    /// SCAN's COUNT: keys asked for per page.
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    /// Only keys matching this glob (SCAN's MATCH).
    #[arg(long = "match")]
    pattern: Option<String>,
    /// Where the walk's position is kept; an existing file resumes it.
    #[arg(long)]
    state: Option<PathBuf>,
}

/// What the walk has done, as the state file keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Progress {
    /// The SCAN cursor to ask next (0 with `started`: the walk is done).
    cursor: u64,
    started: bool,
    copied: u64,
    gone: u64,
    failed: u64,
}

impl Progress {
    fn done(&self) -> bool {
        self.started && self.cursor == 0
    }

    fn seen(&self) -> u64 {
        self.copied + self.gone + self.failed
    }
}

/// What became of one key.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Copied,
    Gone,
    Failed(String),
}

/// The absolute expiry `RESTORE ... ABSTTL` takes for a `PTTL` answer read
/// at `now_ms`: 0 without expiry; `None` when the key is gone (-2).
fn expire_at(pttl: i64, now_ms: u64) -> Option<u64> {
    match pttl {
        -2 => None,
        t if t < 0 => Some(0),
        // An expiry already due restores nothing, as RESTORE says.
        t => Some(now_ms.saturating_add(t as u64).max(1)),
    }
}

/// One progress line: counts, rate and, when the total is known, ETA.
fn progress_line(p: &Progress, total: u64, elapsed: Duration, since_start: u64) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = since_start as f64 / secs;
    let mut line = format!(
        "{} of ~{} keys ({} copied, {} gone, {} failed), {:.0} keys/s",
        p.seen(),
        total,
        p.copied,
        p.gone,
        p.failed,
        rate
    );
    if rate > 0.0 && total > p.seen() {
        let eta = ((total - p.seen()) as f64 / rate).round() as u64;
        line.push_str(&format!(
            ", ETA {}:{:02}:{:02}",
            eta / 3600,
            eta / 60 % 60,
            eta % 60
        ));
    }
    line
}

fn load_state(path: &Path) -> Result<Progress> {
    match petrel_common::fsutil::read_if_exists(path)? {
        Some(raw) => serde_json::from_slice(&raw)
            .with_context(|| format!("reading the state file {}", path.display())),
        None => Ok(Progress::default()),
    }
}

fn save_state(path: &Path, p: &Progress) -> Result<()> {
    let raw = serde_json::to_vec_pretty(p)?;
    petrel_common::fsutil::write_atomic(path, &raw)
        .with_context(|| format!("writing the state file {}", path.display()))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long one request may take. The redis crate's default (500 ms) is
/// shorter than a loaded target's fsync or a failover at the target.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a RESTORE is sent again after a timeout or a refusal that
/// says to try again (RESTORE ... REPLACE of the same payload is
/// idempotent, so a second one changes nothing the first did).
const RESTORE_ATTEMPTS: usize = 5;

async fn connect(url: &str) -> Result<MultiplexedConnection> {
    let client = redis::Client::open(url).with_context(|| format!("bad address {url}"))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(Duration::from_secs(10)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// Whether a failed RESTORE may be sent again: it timed out, or the target
/// said to try again or could not tell whether it applied it.
fn worth_retrying(e: &redis::RedisError) -> bool {
    e.is_timeout() || e.code() == Some("TRYAGAIN") || e.to_string().contains("outcome unknown")
}

async fn dbsize(con: &mut MultiplexedConnection) -> Result<u64> {
    Ok(redis::cmd("DBSIZE").query_async(con).await?)
}

/// Copies one key.
async fn copy_key(
    mut from: MultiplexedConnection,
    mut to: MultiplexedConnection,
    key: Vec<u8>,
) -> Result<Outcome> {
    let (payload, pttl): (Option<Vec<u8>>, i64) = redis::pipe()
        .cmd("DUMP")
        .arg(&key)
        .cmd("PTTL")
        .arg(&key)
        .query_async(&mut from)
        .await?;
    let Some(payload) = payload else {
        return Ok(Outcome::Gone);
    };
    let Some(at) = expire_at(pttl, now_ms()) else {
        return Ok(Outcome::Gone);
    };
    let mut attempt = 0;
    let answer: redis::RedisResult<Value> = loop {
        attempt += 1;
        let answer = redis::cmd("RESTORE")
            .arg(&key)
            .arg(at)
            .arg(&payload)
            .arg("ABSTTL")
            .arg("REPLACE")
            .query_async(&mut to)
            .await;
        match answer {
            Err(e) if attempt < RESTORE_ATTEMPTS && worth_retrying(&e) => {
                tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
            }
            other => break other,
        }
    };
    Ok(match answer {
        Ok(_) => Outcome::Copied,
        // The target's refusal of this value; a broken connection is the
        // whole run's failure.
        Err(e) if e.code().is_some() => Outcome::Failed(e.to_string()),
        Err(e) => return Err(e.into()),
    })
}

/// Runs `petrel import`.
pub(crate) async fn run(args: ImportArgs) -> Result<()> {
    if args.parallel == 0 || args.batch == 0 {
        bail!("--parallel and --batch must be at least 1");
    }
    let mut from = connect(&args.from).await?;
    let mut to = connect(&args.to).await?;
    let mut p = match &args.state {
        Some(path) => load_state(path)?,
        None => Progress::default(),
    };
    if p.done() {
        eprintln!("petrel import: the state file says the walk is complete; nothing to do");
        return compare(&mut from, &mut to, &p).await;
    }
    if p.started {
        eprintln!(
            "petrel import: resuming at SCAN cursor {} ({} keys seen)",
            p.cursor,
            p.seen()
        );
    }
    let total = dbsize(&mut from).await?;
    let start = Instant::now();
    let seen_before = p.seen();
    let mut last_print = Instant::now();
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(p.cursor).arg("COUNT").arg(args.batch);
        if let Some(m) = &args.pattern {
            scan.arg("MATCH").arg(m);
        }
        let (next, keys): (u64, Vec<Vec<u8>>) = scan.query_async(&mut from).await?;
        let outcomes: Vec<(Vec<u8>, Result<Outcome>)> = stream::iter(keys)
            .map(|key| {
                let (f, t) = (from.clone(), to.clone());
                async move { (key.clone(), copy_key(f, t, key).await) }
            })
            .buffer_unordered(args.parallel)
            .collect()
            .await;
        for (key, outcome) in outcomes {
            match outcome? {
                Outcome::Copied => p.copied += 1,
                Outcome::Gone => p.gone += 1,
                Outcome::Failed(why) => {
                    p.failed += 1;
                    eprintln!(
                        "\npetrel import: key {:?} not copied: {why}",
                        String::from_utf8_lossy(&key)
                    );
                }
            }
        }
        p.cursor = next;
        p.started = true;
        if let Some(path) = &args.state {
            save_state(path, &p)?;
        }
        if last_print.elapsed() >= Duration::from_secs(1) || p.done() {
            last_print = Instant::now();
            eprint!(
                "\r{}",
                progress_line(&p, total, start.elapsed(), p.seen() - seen_before)
            );
        }
        if p.done() {
            break;
        }
    }
    eprintln!();
    compare(&mut from, &mut to, &p).await
}

/// The final count compare; an error when any key failed.
async fn compare(
    from: &mut MultiplexedConnection,
    to: &mut MultiplexedConnection,
    p: &Progress,
) -> Result<()> {
    let (source, target) = (dbsize(from).await?, dbsize(to).await?);
    println!(
        "copied {} keys ({} gone before they were read, {} refused by the target); source holds {source} keys, target {target}",
        p.copied, p.gone, p.failed
    );
    if source != target {
        println!("the counts differ: the source changed during the copy, the target held other keys, or keys were refused");
    }
    if p.failed > 0 {
        bail!("{} keys were not copied (listed above)", p.failed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries() {
        assert_eq!(expire_at(-2, 1000), None);
        assert_eq!(expire_at(-1, 1000), Some(0));
        assert_eq!(expire_at(500, 1000), Some(1500));
        assert_eq!(
            expire_at(0, 0),
            Some(1),
            "due now: restored as already expired"
        );
    }

    #[test]
    fn progress_lines() {
        let p = Progress {
            cursor: 5,
            started: true,
            copied: 900,
            gone: 50,
            failed: 50,
        };
        let line = progress_line(&p, 4000, Duration::from_secs(10), 1000);
        assert_eq!(
            line,
            "1000 of ~4000 keys (900 copied, 50 gone, 50 failed), 100 keys/s, ETA 0:00:30"
        );
        assert!(!p.done());
    }

    #[test]
    fn state_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert_eq!(
            load_state(&path).expect("missing is fresh"),
            Progress::default()
        );
        let p = Progress {
            cursor: 77,
            started: true,
            copied: 3,
            gone: 0,
            failed: 1,
        };
        save_state(&path, &p).expect("save");
        assert_eq!(load_state(&path).expect("load"), p);
    }
}
