//! [`Process`]: one process slot. Its binary, flags and log file stay; the
//! process comes and goes (start, kill -9, SIGSTOP/SIGCONT, restart, stop).

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// One process slot: started with its flags, its output appended to its log.
/// Dropping it kills the process, and the process gets SIGKILL if the thread
/// that started it dies (PDEATHSIG), so no orphan outlives its launcher.
#[derive(Debug)]
pub struct Process {
    label: String,
    bin: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Process {
    /// A slot for `bin` with `args`, named `label` in messages, logging to
    /// `log`. Nothing runs until [`Process::start`].
    pub fn new(label: impl Into<String>, bin: PathBuf, args: Vec<String>, log: PathBuf) -> Process {
        Process {
            label: label.into(),
            bin,
            args,
            log,
            child: None,
            paused: false,
        }
    }

    /// How messages name it (e.g. `server 127.0.0.1:34801`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs `bin` from its next start on: a rolling upgrade restarts a slot,
    /// same flags and data, on another version's binary.
    pub fn set_bin(&mut self, bin: PathBuf) {
        self.bin = bin;
    }

    /// Its log file (stdout and stderr, appended across restarts).
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// Starts it, unless it runs already.
    pub fn start(&mut self) -> anyhow::Result<()> {
        self.start_wrapped(|cmd| cmd)
    }

    /// Starts it with its command passed through `wrap` first (e.g. to run
    /// it in a network namespace or under an LD_PRELOAD fault library),
    /// unless it runs already.
    pub fn start_wrapped(&mut self, wrap: impl FnOnce(Command) -> Command) -> anyhow::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        if !self.bin.exists() {
            bail!(
                "cannot find {} (build the workspace with `cargo build --workspace`, or pass --bin-dir)",
                self.bin.display()
            );
        }
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening log {}", self.log.display()))?;
        let err = out.try_clone().context("duplicating log handle")?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(&self.args);
        let mut cmd = wrap(cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill
        // the child when the thread that started it dies.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// Its pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Started and not reaped (it may be paused).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stopped by [`Process::pause`].
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// kill -9 and reap; nothing when it does not run.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.paused {
                signal(&child, libc::SIGCONT);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// SIGSTOP: it keeps its sockets but runs no code.
    pub fn pause(&mut self) {
        if let Some(child) = &self.child {
            signal(child, libc::SIGSTOP);
            self.paused = true;
        }
    }

    /// SIGCONT after [`Process::pause`].
    pub fn resume(&mut self) {
        if let Some(child) = &self.child {
            signal(child, libc::SIGCONT);
        }
        self.paused = false;
    }

    /// SIGTERM, then SIGKILL if it has not exited within `timeout`; reaps it.
    /// False when it had to be killed.
    pub fn stop(&mut self, timeout: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        if self.paused {
            signal(&child, libc::SIGCONT);
            self.paused = false;
        }
        terminate(&mut child, timeout)
    }

    /// Reaps it if it has exited by itself since it was started; its status.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        self.paused = false;
        Some(status)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGTERM to `child`, then SIGKILL if it has not exited within `timeout`;
/// reaps it. False when it had to be killed.
pub fn terminate(child: &mut Child, timeout: Duration) -> bool {
    signal(child, libc::SIGTERM);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}
