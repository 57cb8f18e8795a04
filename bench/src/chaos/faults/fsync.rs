//! `fdatasync`/`fsync` failures injected at runtime with libfiu (Debian
//! `fiu-utils`, which pulls `libfiu0`).
//!
//! [`FsyncFault::wrap`] starts a process with libfiu's two preload
//! libraries, as `fiu-run -x` does: `fiu_posix_preload.so` wraps the libc
//! functions (each with a failure point, all disabled at start) and
//! `fiu_run_preload.so` opens a remote control on the named pipes
//! `<prefix>-<pid>.in`/`.out`. [`FsyncFault::enable`] then writes libfiu
//! remote-control commands to those pipes, as `fiu-ctrl` does (but with a
//! timeout and a checked reply): `enable name=posix/io/sync/fdatasync,failinfo=5`
//! makes every `fdatasync` return -1 with errno 5 (`EIO`); without `failinfo`
//! libfiu picks an errno at random among EBADFD, EIO, EROFS and EINVAL.
//!
//! Failure point names on this Debian (libfiu 1.1, `function_list` in
//! `/usr/share/doc/fiu-utils`): `posix/io/sync/fdatasync`,
//! `posix/io/sync/fsync`, `linux/io/sync_file_range`. Rust's
//! `File::sync_data` calls libc `fdatasync` and `File::sync_all` calls libc
//! `fsync`, and RocksDB calls them through libc too, so the preload sees
//! them; a direct `syscall(SYS_fdatasync)` or io_uring would not be seen.
//!
//! The preload wraps every libc I/O and allocation call with a cheap check,
//! so the wrapped process runs a little slower even with nothing enabled.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::add_preload;

/// The failure points [`FsyncFault::enable`] switches on.
pub(crate) const SYNC_POINTS: &[&str] = &["posix/io/sync/fdatasync", "posix/io/sync/fsync"];

/// The errno failed syncs report (`EIO`, what a dying disk gives).
pub(crate) const SYNC_ERRNO: i32 = libc::EIO;

/// Where libfiu's preload libraries may be installed.
const PRELOAD_DIRS: &[&str] = &["/usr/lib/fiu", "/usr/local/lib/fiu"];

/// How long a remote-control exchange may take before the process is taken
/// for stopped or gone.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// Injects sync failures into processes started through [`FsyncFault::wrap`].
#[derive(Clone, Debug)]
pub(crate) struct FsyncFault {
    /// Named pipes are `<ctrl_prefix>-<pid>.in` and `.out`.
    ctrl_prefix: PathBuf,
}

impl FsyncFault {
    /// The directory holding libfiu's preload libraries, if installed.
    pub(crate) fn preload_dir() -> Option<PathBuf> {
        PRELOAD_DIRS.iter().map(PathBuf::from).find(|d| {
            d.join("fiu_run_preload.so").is_file() && d.join("fiu_posix_preload.so").is_file()
        })
    }

    /// `Ok` when libfiu is installed; otherwise why not.
    pub(crate) fn supported() -> Result<(), String> {
        match Self::preload_dir() {
            Some(_) => Ok(()),
            None => Err("libfiu is not installed (apt-get install fiu-utils)".to_string()),
        }
    }

    /// Control pipes will live in `ctrl_dir` (which must exist and be
    /// writable by the wrapped processes).
    pub(crate) fn new(ctrl_dir: &Path) -> FsyncFault {
        FsyncFault {
            ctrl_prefix: ctrl_dir.join("fiu-ctrl"),
        }
    }

    /// Makes `cmd` start under libfiu with its remote control on. Failure
    /// points start disabled.
    pub(crate) fn wrap(&self, mut cmd: Command) -> Command {
        let dir = Self::preload_dir().unwrap_or_else(|| PathBuf::from(PRELOAD_DIRS[0]));
        add_preload(&mut cmd, &dir.join("fiu_posix_preload.so"), &[]);
        add_preload(
            &mut cmd,
            &dir.join("fiu_run_preload.so"),
            &[
                (
                    "FIU_CTRL_FIFO",
                    OsString::from(self.ctrl_prefix.as_os_str()),
                ),
                ("FIU_ENABLE", OsString::new()),
            ],
        );
        cmd
    }

    /// Every `fdatasync` and `fsync` of process `pid` fails with `EIO` until
    /// [`FsyncFault::disable`].
    pub(crate) fn enable(&self, pid: u32) -> Result<()> {
        for point in SYNC_POINTS {
            self.control(pid, &format!("enable name={point},failinfo={SYNC_ERRNO}"))?;
        }
        Ok(())
    }

    /// Each `fdatasync` and `fsync` of process `pid` fails with `EIO` with
    /// the given probability (libfiu's own RNG: not reproducible by seed).
    #[cfg(test)]
    pub(crate) fn enable_random(&self, pid: u32, probability: f64) -> Result<()> {
        let p = probability.clamp(0.0, 1.0);
        for point in SYNC_POINTS {
            let cmd = format!("enable_random name={point},failinfo={SYNC_ERRNO},probability={p}");
            self.control(pid, &cmd)?;
        }
        Ok(())
    }

    /// Syncs of process `pid` succeed again.
    pub(crate) fn disable(&self, pid: u32) -> Result<()> {
        for point in SYNC_POINTS {
            self.control(pid, &format!("disable name={point}"))?;
        }
        Ok(())
    }

    /// Sends one libfiu remote-control command (`enable name=...`,
    /// `enable_random name=...,probability=P`, `disable name=...`) to `pid`
    /// and checks its reply. A process that is stopped (SIGSTOP) cannot
    /// answer: this fails after a few seconds, and the command still takes
    /// effect when the process resumes.
    pub(crate) fn control(&self, pid: u32, command: &str) -> Result<()> {
        let base = format!("{}-{pid}", self.ctrl_prefix.display());
        let reply = exchange(&base, command)
            .with_context(|| format!("libfiu remote control {base}.in: `{command}`"))?;
        if reply.trim() != "0" {
            bail!(
                "libfiu rejected `{command}` for pid {pid}: reply {:?}",
                reply.trim()
            );
        }
        Ok(())
    }
}

/// Writes `command` to `<base>.in` and reads the reply line from `<base>.out`.
///
/// libfiu's control thread blocks opening `.in` for reading, then `.out` for
/// writing, answers each line, and reopens both when we close ours.
fn exchange(base: &str, command: &str) -> Result<String> {
    let deadline = Instant::now() + CONTROL_TIMEOUT;
    // Our read end first (non-blocking, so the open cannot hang), so that the
    // thread's open of `.out` for writing succeeds at once.
    let mut out = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("{base}.out"))
        .context("no control pipe: was the process started through FsyncFault::wrap?")?;
    // The thread may close its read end between our open and our write (it
    // was finishing the previous exchange): the write then fails with EPIPE,
    // nothing was delivered, and we open again.
    let input = loop {
        let mut input = match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(format!("{base}.in"))
        {
            Ok(f) => f,
            // ENXIO: nobody reads `.in` right now; the thread may be between
            // two exchanges, or the process is gone.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => return Err(e).context("the process does not read its control pipe"),
        };
        // Keep `input` open until the reply: if the thread is just closing its
        // end after the previous exchange, the line stays in the pipe for its
        // next open instead of being discarded with the last reader.
        match input.write_all(format!("{command}\n").as_bytes()) {
            Ok(()) => break input,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut reply = Vec::new();
    let mut buf = [0u8; 64];
    while !reply.contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !poll_readable(&out, left)? {
            bail!("no reply within {CONTROL_TIMEOUT:?} (is the process stopped?)");
        }
        match out.read(&mut buf) {
            // No writer right now (the thread is reopening): poll says
            // readable at once, so wait a little.
            Ok(0) => std::thread::sleep(Duration::from_millis(1)),
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
    }
    drop(input);
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// Waits until `file` has data (or its writer hung up).
fn poll_readable(file: &File, timeout: Duration) -> Result<bool> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut fd, 1, ms) };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context("poll");
    }
    Ok(r > 0)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{helper, skip, Helper};
    use super::*;

    /// The environment variable that turns the helper test into the child.
    const CHILD: &str = "PETREL_FAULTS_FSYNC_CHILD";

    /// Not a test: the child process of the tests below (a Rust program, like
    /// the server). Appends to a file, fdatasyncs and fsyncs it every 20 ms,
    /// and prints what each returned.
    #[test]
    #[ignore = "child process of the fsync fault tests"]
    fn child_syncs_in_a_loop() {
        let Some(path) = std::env::var_os(CHILD) else {
            return;
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            file.write_all(b"x").unwrap();
            let res = |r: std::io::Result<()>| match r {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("err{}", e.raw_os_error().unwrap_or(0)),
            };
            let data = res(file.sync_data());
            let all = res(file.sync_all());
            println!("SYNC fdatasync={data} fsync={all}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn start_child(
        fault: &FsyncFault,
        dir: &Path,
        wrap: impl FnOnce(Command) -> Command,
    ) -> Helper {
        let cmd = helper(
            module_path!(),
            "child_syncs_in_a_loop",
            CHILD,
            &dir.join("synced"),
        );
        Helper::spawn(wrap(fault.wrap(cmd)))
    }

    fn check_enable_and_disable(fault: &FsyncFault, child: &Helper) {
        let ok = "SYNC fdatasync=ok fsync=ok";
        let failing = format!("SYNC fdatasync=err{SYNC_ERRNO} fsync=err{SYNC_ERRNO}");
        child.wait_for_line(ok, Duration::from_secs(10));
        fault.enable(child.pid()).unwrap();
        child.wait_for_line(&failing, Duration::from_secs(2));
        fault.disable(child.pid()).unwrap();
        child.wait_for_line(ok, Duration::from_secs(2));
        fault.enable_random(child.pid(), 0.5).unwrap();
        child.wait_for_line(
            &format!("fdatasync=err{SYNC_ERRNO}"),
            Duration::from_secs(5),
        );
        fault.disable(child.pid()).unwrap();
    }

    #[test]
    fn fdatasync_and_fsync_fail_while_enabled() {
        if skip(
            "fdatasync_and_fsync_fail_while_enabled",
            FsyncFault::supported(),
        ) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let fault = FsyncFault::new(tmp.path());
        let child = start_child(&fault, tmp.path(), |c| c);
        check_enable_and_disable(&fault, &child);
        // Back-to-back commands meet the control thread while it reopens.
        for _ in 0..100 {
            fault.enable(child.pid()).unwrap();
            fault.disable(child.pid()).unwrap();
        }
    }

    #[test]
    fn works_inside_a_network_namespace() {
        let why = FsyncFault::supported().and_then(|()| super::super::net::Network::supported());
        if skip("works_inside_a_network_namespace", why) {
            return;
        }
        let net =
            super::super::net::Network::create(&super::super::testing::unique_prefix(), 1).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let fault = FsyncFault::new(tmp.path());
        // `ip netns exec` execs the child: the pid we hold is the child's.
        let child = start_child(&fault, tmp.path(), |c| net.wrap(0, c));
        check_enable_and_disable(&fault, &child);
    }

    #[test]
    fn a_process_without_the_preload_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let err = FsyncFault::new(tmp.path())
            .enable(std::process::id())
            .unwrap_err();
        assert!(format!("{err:#}").contains("FsyncFault::wrap"), "{err:#}");
    }
}
