//! Fault primitives the nemesis calls: each one a blocking function that runs
//! a system tool (`ip`, `iptables`, `mount`) or talks to a preloaded library.
//!
//! - [`net`]: one network namespace per host on a bridge, and partitions made
//!   with iptables inside the hosts' namespaces.
//! - [`relay`]: a TCP relay that delays, resets or stalls traffic (there is no
//!   `tc netem` here).
//! - [`disk`]: a small tmpfs that can be filled to `ENOSPC` and freed.
//! - [`fsync`]: `fdatasync`/`fsync` failures injected at runtime with libfiu.
//! - [`clock`]: wall-clock jumps with libfaketime.
//!
//! Processes are wrapped, not changed: [`fsync::FsyncFault::wrap`] and
//! [`clock::ClockFault::wrap`] add environment (`LD_PRELOAD` and friends) to a
//! [`Command`], and [`net::Network::wrap`] moves a command into a host's
//! namespace last, so `ip` itself never runs preloaded:
//! `net.wrap(i, clock.wrap(fsync.wrap(server)))`. Every wrapper `exec`s, so
//! the pid of the spawned child is the pid of the server.
//!
//! Debian packages needed (`scripts/test` installs those a base system
//! lacks): `iproute2` and `iptables` for [`net`], `mount` (util-linux) for
//! [`disk`], `fiu-utils` (which pulls `libfiu0`) for [`fsync`], `faketime`
//! (which pulls `libfaketime`) for [`clock`]. Everything but [`relay`] needs
//! root.

pub(crate) mod clock;
pub(crate) mod disk;
pub(crate) mod fsync;
pub(crate) mod net;
pub(crate) mod relay;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Whether this process runs as root (namespaces, iptables and mounts need it).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The full path of a system tool: `PATH` first, then the sbin directories a
/// non-login shell may leave out.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `Ok` when running as root with every tool present; otherwise why not, in
/// words a test can print before skipping.
pub(crate) fn prerequisites(tools: &[&str]) -> Result<(), String> {
    if !is_root() {
        return Err("not running as root".to_string());
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| tool(t).is_none())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing tools: {}", missing.join(", ")))
    }
}

/// Runs a command to completion; on failure the error names the command line,
/// its exit status and its stderr. Returns stdout.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", describe(cmd)))?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A command line for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command for a system tool, by full path when it can be found.
pub(crate) fn tool_command(name: &str) -> Command {
    Command::new(tool(name).unwrap_or_else(|| PathBuf::from(name)))
}

/// Adds `lib` to the command's `LD_PRELOAD`, keeping what the command (or,
/// failing that, this process) already preloads, and sets `vars`.
pub(crate) fn add_preload(cmd: &mut Command, lib: &Path, vars: &[(&str, OsString)]) {
    let existing = cmd
        .get_envs()
        .find(|(k, _)| *k == "LD_PRELOAD")
        .map(|(_, v)| v.map(|v| v.to_os_string()))
        .unwrap_or_else(|| std::env::var_os("LD_PRELOAD"))
        .filter(|v| !v.is_empty());
    let mut preload = existing.unwrap_or_default();
    if !preload.is_empty() {
        preload.push(" ");
    }
    preload.push(lib);
    cmd.env("LD_PRELOAD", preload);
    for (k, v) in vars {
        cmd.env(k, v);
    }
}

/// A new command `program prefix_args... env [-u K] [K=V]... inner inner_args...`
/// in the inner command's directory: the inner command's environment changes
/// travel on the command line, so `program` itself runs without them.
/// Stdio settings are not carried over: set them on the result.
pub(crate) fn rewrap(program: &Path, prefix_args: &[&str], inner: &Command) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(prefix_args);
    let envs: Vec<_> = inner.get_envs().collect();
    if !envs.is_empty() {
        cmd.arg(tool("env").unwrap_or_else(|| PathBuf::from("env")));
        for (k, v) in envs {
            match v {
                Some(v) => {
                    let mut kv = k.to_os_string();
                    kv.push("=");
                    kv.push(v);
                    cmd.arg(kv);
                }
                None => {
                    cmd.arg("-u").arg(k);
                }
            }
        }
    }
    cmd.arg(inner.get_program()).args(inner.get_args());
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    cmd
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers shared by the fault tests.

    use std::io::{BufRead, BufReader};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::mpsc::{channel, Receiver};
    use std::time::{Duration, Instant};

    use super::describe;

    /// A short name prefix unique to this test process and call (interfaces
    /// allow 15 bytes, so keep it short): `f` + pid in base 36 + a counter.
    pub(crate) fn unique_prefix() -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mut pid = std::process::id();
        let mut s = String::new();
        for _ in 0..4 {
            s.push(char::from_digit(pid % 36, 36).unwrap());
            pid /= 36;
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("f{s}{}", char::from_digit(n % 36, 36).unwrap())
    }

    /// Prints why a test is skipped (visible with `--nocapture` and in the
    /// failure output) and returns true when it must be.
    pub(crate) fn skip(test: &str, why: Result<(), String>) -> bool {
        match why {
            Ok(()) => false,
            Err(reason) => {
                eprintln!("skipping {test}: {reason}");
                true
            }
        }
    }

    /// A command running this test binary as a child program: only the
    /// ignored test `function` of `module` (pass `module_path!()`), with
    /// `var` set to `value` so that test knows it is the child.
    pub(crate) fn helper(module: &str, function: &str, var: &str, value: &Path) -> Command {
        let module = module.split_once("::").map_or("", |(_, rest)| rest);
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.arg(format!("{module}::{function}"))
            .args(["--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(var, value);
        cmd
    }

    /// A running child whose stdout lines are collected; killed on drop.
    pub(crate) struct Helper {
        child: Child,
        lines: Receiver<String>,
    }

    impl Helper {
        pub(crate) fn spawn(mut cmd: Command) -> Helper {
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning `{}`: {e}", describe(&cmd)));
            let stdout = child.stdout.take().unwrap();
            let (tx, lines) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            Helper { child, lines }
        }

        pub(crate) fn pid(&self) -> u32 {
            self.child.id()
        }

        /// The next line containing `pattern`; panics after `timeout`,
        /// showing the lines skipped.
        pub(crate) fn wait_for_line(&self, pattern: &str, timeout: Duration) -> String {
            let deadline = Instant::now() + timeout;
            let mut skipped = Vec::new();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.lines.recv_timeout(left) {
                    Ok(line) if line.contains(pattern) => return line,
                    Ok(line) => skipped.push(line),
                    Err(_) => {
                        let tail = &skipped[skipped.len().saturating_sub(5)..];
                        panic!("no line with {pattern:?} within {timeout:?}; last lines: {tail:?}")
                    }
                }
            }
        }
    }

    impl Drop for Helper {
        fn drop(&mut self) {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrap_moves_environment_onto_the_command_line() {
        let mut inner = Command::new("/bin/server");
        inner
            .arg("--port")
            .arg("7000")
            .env("A", "1")
            .env_remove("B")
            .current_dir("/tmp");
        let outer = rewrap(Path::new("/usr/sbin/ip"), &["netns", "exec", "h0"], &inner);
        let line = describe(&outer);
        assert!(line.starts_with("/usr/sbin/ip netns exec h0 "), "{line}");
        assert!(line.ends_with("/bin/server --port 7000"), "{line}");
        assert!(line.contains(" A=1 ") && line.contains(" -u B "), "{line}");
        assert_eq!(outer.get_envs().count(), 0);
        assert_eq!(outer.get_current_dir(), Some(Path::new("/tmp")));
    }

    #[test]
    fn add_preload_appends_to_an_explicit_preload() {
        let mut cmd = Command::new("true");
        cmd.env("LD_PRELOAD", "/a.so");
        add_preload(&mut cmd, Path::new("/b.so"), &[("X", "y".into())]);
        let envs: Vec<_> = cmd.get_envs().collect();
        assert!(envs.contains(&("LD_PRELOAD".as_ref(), Some("/a.so /b.so".as_ref()))));
        assert!(envs.contains(&("X".as_ref(), Some("y".as_ref()))));
    }

    #[test]
    fn run_names_the_command_and_its_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("sh -c echo oops >&2; exit 3") && msg.contains("oops"),
            "{msg}"
        );
    }
}
