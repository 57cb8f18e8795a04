//! Real client libraries installed outside the repository and run as
//! scripts against a proxy: shared by the client-library tests
//! (`client_libraries.rs`, `app_libraries.rs`, `pubsub_libraries.rs`).
//!
//! The libraries are installed once per machine (a Python venv per pinned
//! requirements file and an npm prefix per `package.json` under
//! `$HOME/.cache/petrel-clients/`, or `$PETREL_CLIENTS_CACHE`), in a
//! directory named after the pinned versions and the interpreter, so a later
//! run reuses them. A missing
//! python3 (with venv and pip), node or npm fails the test with what to
//! install: `scripts/test` installs them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest one client script may run before it counts as hung.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// `tests/clients/` in this crate.
pub fn clients_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Where installed client libraries are kept between runs.
fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("PETREL_CLIENTS_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache/petrel-clients")
}

/// 64-bit FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(b"\0") {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion; panics with `hint` when it cannot start or fails.
fn run(cmd: &mut Command, hint: &str) -> Output {
    let what = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{what}` ({e}): {hint}"));
    assert!(
        out.status.success(),
        "`{what}` failed ({}): {hint}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    out
}

/// The combined version output of `program --version`, or a failure naming what to install.
fn version_of(program: &str, hint: &str) -> Vec<u8> {
    let out = run(Command::new(program).arg("--version"), hint);
    [out.stdout, out.stderr].concat()
}

/// Returns `cache/<name>-<hash of key>`, first filling it with `install(tmp)`
/// when it is missing. The install runs in a private directory renamed into
/// place at the end, so an interrupted or concurrent install is never reused.
fn cached(name: &str, key: &[&[u8]], install: impl FnOnce(&Path)) -> PathBuf {
    // Tests of one binary run on threads of one process: the private
    // directory's name needs more than the pid.
    static INSTALLS: AtomicU32 = AtomicU32::new(0);
    let root = cache_root();
    let dir = root.join(format!("{name}-{:016x}", fnv64(key)));
    if dir.is_dir() {
        return dir;
    }
    std::fs::create_dir_all(&root).expect("create the client cache dir");
    let tmp = root.join(format!(
        ".{name}-tmp-{}-{}",
        std::process::id(),
        INSTALLS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("create the install dir");
    install(&tmp);
    if std::fs::rename(&tmp, &dir).is_err() {
        // Someone else finished the same install first: use theirs.
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(dir.is_dir(), "could not move {tmp:?} to {dir:?}");
    }
    dir
}

/// A venv with the requirements file `reqs` installed (each file its own
/// venv, kept between runs); returns its python.
pub fn python_env(reqs: &Path) -> PathBuf {
    const HINT: &str = "the Python client tests need python3 with venv and pip \
                        (Debian: apt-get install python3 python3-venv python3-pip; scripts/test does)";
    let pinned = std::fs::read(reqs).unwrap_or_else(|e| panic!("reading {}: {e}", reqs.display()));
    let version = version_of("python3", HINT);
    let dir = cached("python", &[&pinned, &version], |tmp| {
        let venv = tmp.join("venv");
        run(
            Command::new("python3").args([OsStr::new("-m"), "venv".as_ref(), venv.as_os_str()]),
            HINT,
        );
        run(
            Command::new(venv.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("-r")
                .arg(reqs),
            &format!(
                "pip could not install {} (is PyPI reachable?)",
                reqs.display()
            ),
        );
    });
    dir.join("venv/bin/python")
}

/// An npm prefix with `tests/clients/package.json` installed; returns its node_modules.
pub fn node_env() -> PathBuf {
    node_env_in(&clients_src())
}

/// An npm prefix with `dir`'s `package.json` installed (each manifest its
/// own prefix, kept between runs); returns its node_modules. With a
/// `package-lock.json` beside it, `npm ci` installs exactly the versions it
/// pins, dependencies included.
pub fn node_env_in(dir: &Path) -> PathBuf {
    const HINT: &str = "the Node.js client tests need node and npm \
                        (Debian: apt-get install nodejs npm; scripts/test does)";
    let manifest = dir.join("package.json");
    let pinned =
        std::fs::read(&manifest).unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    let lock = std::fs::read(dir.join("package-lock.json")).ok();
    let node = version_of("node", HINT);
    let npm = version_of("npm", HINT);
    // Without a lock the key is what it was before locks counted, so
    // existing installs stay valid.
    let mut key: Vec<&[u8]> = vec![&pinned, &node, &npm];
    key.extend(lock.as_deref());
    let prefix = cached("node", &key, |tmp| {
        std::fs::write(tmp.join("package.json"), &pinned).expect("copy package.json");
        let verb = match &lock {
            Some(lock) => {
                std::fs::write(tmp.join("package-lock.json"), lock)
                    .expect("copy package-lock.json");
                "ci"
            }
            None => "install",
        };
        run(
            Command::new("npm")
                .args([
                    verb,
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(tmp),
            &format!(
                "npm could not install {} (is the npm registry reachable?)",
                manifest.display()
            ),
        );
    });
    prefix.join("node_modules")
}

/// Runs a client script against the proxy, prints its whole output (shown
/// by the test harness on failure), and fails the test unless it exits 0
/// within [`SCRIPT_TIMEOUT`].
pub fn run_script(name: &str, mut cmd: Command) {
    let what = describe(&cmd);
    let log = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(log.reopen().expect("reopen log"))
        .stderr(log.reopen().expect("reopen log"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(log.path()).unwrap_or_default();
    println!("---- {name} ----\n{output}");
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("{name} failed ({s}), its output is above: `{what}`"),
        None => {
            panic!("{name} did not finish in {SCRIPT_TIMEOUT:?}, its output is above: `{what}`")
        }
    }
}
