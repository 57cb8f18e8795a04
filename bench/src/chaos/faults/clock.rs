//! Wall-clock jumps with libfaketime (Debian `faketime`, which pulls
//! `libfaketime`).
//!
//! [`ClockFault::wrap`] preloads `libfaketime.so.1` with
//! `FAKETIME_TIMESTAMP_FILE` pointing at a control file holding an offset
//! such as `+0` or `-3600` (seconds), and `FAKETIME_NO_CACHE=1` so the file
//! is read on every clock call: [`ClockFault::jump`] rewrites it (atomically)
//! and the very next call sees the new offset. Each wall-clock read then
//! costs a file read (about 6 µs here instead of 30 ns); monotonic reads stay
//! at full speed.
//!
//! What is faked: `CLOCK_REALTIME` (Rust `SystemTime`, so Redis expiry) and
//! `time()`/`gettimeofday()`. What is not: `CLOCK_MONOTONIC` and
//! `CLOCK_BOOTTIME` (Rust `Instant`, so leases and tokio timers), because we
//! set `FAKETIME_DONT_FAKE_MONOTONIC=1`; file timestamps are left alone too
//! (`NO_FAKE_STAT=1`). That is what a real clock step (NTP, an operator's
//! `date -s`) does to a Linux process.
//!
//! Why monotonic is never faked: libfaketime 0.9.10 (Debian 12) fakes it by
//! default, and then `CLOCK_MONOTONIC` reads as the faked *wall* time (about
//! 1.8e9 s instead of the uptime), shifted by every jump, backwards too.
//! Rust's std turns timed waits (`Condvar::wait_timeout`,
//! `thread::park_timeout`, `mpsc::recv_timeout`) into absolute
//! `CLOCK_MONOTONIC` deadlines passed to the futex syscall, which libfaketime
//! does not intercept: the kernel compares them with the real monotonic
//! clock and the waits never end (a 300 ms `wait_timeout` was still blocked
//! after 5 s on this machine). Skew of the monotonic clock between processes
//! is better modelled by pausing a process (SIGSTOP past its lease).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::add_preload;

/// Directories the library may be in (Debian uses the multiarch one).
const LIBRARY_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime",
    "/usr/lib/aarch64-linux-gnu/faketime",
    "/usr/lib/faketime",
    "/usr/local/lib/faketime",
];

/// Shifts the wall clock of processes started through [`ClockFault::wrap`].
#[derive(Debug)]
pub(crate) struct ClockFault {
    file: PathBuf,
    offset: Mutex<i64>,
}

impl ClockFault {
    /// `libfaketime.so.1`, if installed.
    pub(crate) fn library() -> Option<PathBuf> {
        LIBRARY_DIRS
            .iter()
            .map(|d| Path::new(d).join("libfaketime.so.1"))
            .find(|p| p.is_file())
    }

    /// `Ok` when libfaketime is installed; otherwise why not.
    pub(crate) fn supported() -> Result<(), String> {
        match Self::library() {
            Some(_) => Ok(()),
            None => Err("libfaketime is not installed (apt-get install faketime)".to_string()),
        }
    }

    /// A clock fault controlled through `control_file` (created, offset 0).
    /// Use one per process whose clock should move on its own.
    pub(crate) fn new(control_file: &Path) -> Result<ClockFault> {
        let fault = ClockFault {
            file: control_file.to_path_buf(),
            offset: Mutex::new(0),
        };
        fault.jump(0)?;
        Ok(fault)
    }

    /// Makes `cmd` start under libfaketime, its wall clock following the
    /// control file.
    pub(crate) fn wrap(&self, mut cmd: Command) -> Command {
        let lib =
            Self::library().unwrap_or_else(|| Path::new(LIBRARY_DIRS[0]).join("libfaketime.so.1"));
        add_preload(
            &mut cmd,
            &lib,
            &[
                (
                    "FAKETIME_TIMESTAMP_FILE",
                    OsString::from(self.file.as_os_str()),
                ),
                ("FAKETIME_NO_CACHE", "1".into()),
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
                ("NO_FAKE_STAT", "1".into()),
            ],
        );
        // FAKETIME in the environment would win over the control file.
        cmd.env_remove("FAKETIME");
        cmd
    }

    /// Sets the wall clock of wrapped processes to real time plus
    /// `offset_secs` (negative: back in time). Not cumulative: `jump(60)`
    /// twice leaves the clock one minute ahead.
    pub(crate) fn jump(&self, offset_secs: i64) -> Result<()> {
        let mut offset = self.offset.lock().unwrap();
        // Write then rename: a reader never sees an empty file.
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, format!("{offset_secs:+}\n"))
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.file)
            .with_context(|| format!("renaming {} to {}", tmp.display(), self.file.display()))?;
        *offset = offset_secs;
        Ok(())
    }

    /// Back to real time.
    #[cfg(test)]
    pub(crate) fn reset(&self) -> Result<()> {
        self.jump(0)
    }

    /// The offset in force, in seconds.
    #[cfg(test)]
    pub(crate) fn offset(&self) -> i64 {
        *self.offset.lock().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use super::super::testing::{helper, skip, Helper};
    use super::*;

    /// The environment variable that turns the helper test into the child.
    const CHILD: &str = "PETREL_FAULTS_CLOCK_CHILD";

    /// Not a test: the child process of the tests below. Every 20 ms prints
    /// its wall clock, its monotonic clock and how long a 10 ms
    /// `Condvar::wait_timeout` took (which hangs if monotonic time is faked).
    #[test]
    #[ignore = "child process of the clock fault tests"]
    fn child_prints_clocks() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let start = Instant::now();
        let pair = (Mutex::new(()), Condvar::new());
        while start.elapsed() < Duration::from_secs(60) {
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            let mono = start.elapsed().as_millis();
            let before = Instant::now();
            let guard = pair.0.lock().unwrap();
            drop(
                pair.1
                    .wait_timeout(guard, Duration::from_millis(10))
                    .unwrap(),
            );
            let waited = before.elapsed().as_millis();
            println!("CLOCK wall={wall:.3} mono={mono} waited={waited}");
        }
    }

    struct Reading {
        wall: f64,
        mono: u128,
        waited: u128,
    }

    fn parse(line: &str) -> Reading {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        Reading {
            wall: field("wall=").parse().unwrap(),
            mono: field("mono=").parse().unwrap(),
            waited: field("waited=").parse().unwrap(),
        }
    }

    fn real_now() -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }

    /// Reads the child's lines until its wall clock is `offset` seconds
    /// from real time, checking on the way that its monotonic clock never
    /// jumps and its timed waits stay short.
    fn settle(child: &Helper, offset: i64, last_mono: &mut u128) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let r = parse(&child.wait_for_line("CLOCK", Duration::from_secs(2)));
            assert!(
                r.mono >= *last_mono && r.mono - *last_mono < 500,
                "monotonic jumped"
            );
            assert!(r.waited < 500, "a 10 ms wait took {} ms", r.waited);
            *last_mono = r.mono;
            let skew = r.wall - real_now();
            if (skew - offset as f64).abs() < 2.0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "wall clock {skew:.1}s off, wanted {offset}s"
            );
        }
    }

    fn check_jumps(fault: &ClockFault, child: &Helper) {
        let mut mono = 0;
        settle(child, 0, &mut mono);
        fault.jump(3600).unwrap();
        settle(child, 3600, &mut mono);
        fault.jump(-86_400).unwrap();
        settle(child, -86_400, &mut mono);
        assert_eq!(fault.offset(), -86_400);
        fault.reset().unwrap();
        settle(child, 0, &mut mono);
    }

    #[test]
    fn jumps_move_the_wall_clock_but_not_the_monotonic_one() {
        if skip(
            "jumps_move_the_wall_clock_but_not_the_monotonic_one",
            ClockFault::supported(),
        ) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let fault = ClockFault::new(&tmp.path().join("faketime.rc")).unwrap();
        let cmd = helper(module_path!(), "child_prints_clocks", CHILD, tmp.path());
        let child = Helper::spawn(fault.wrap(cmd));
        check_jumps(&fault, &child);
    }

    #[test]
    fn works_together_with_the_fsync_fault_inside_a_namespace() {
        use super::super::fsync::FsyncFault;
        use super::super::net::Network;
        let why = ClockFault::supported()
            .and_then(|()| FsyncFault::supported())
            .and_then(|()| Network::supported());
        if skip(
            "works_together_with_the_fsync_fault_inside_a_namespace",
            why,
        ) {
            return;
        }
        let net = Network::create(&super::super::testing::unique_prefix(), 1).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let fault = ClockFault::new(&tmp.path().join("faketime.rc")).unwrap();
        let fsync = FsyncFault::new(tmp.path());
        let cmd = helper(module_path!(), "child_prints_clocks", CHILD, tmp.path());
        let child = Helper::spawn(net.wrap(0, fault.wrap(fsync.wrap(cmd))));
        check_jumps(&fault, &child);
        // Both preloads are in: the fsync fault's control pipe answers.
        fsync.enable(child.pid()).unwrap();
        fsync.disable(child.pid()).unwrap();
    }
}
