//! A small disk that can be filled: a tmpfs of a few megabytes mounted over a
//! server's data directory, so writes and appends fail with `ENOSPC` on
//! demand.
//!
//! tmpfs gives real `ENOSPC` on write, fallocate and file creation, which is
//! the fault wanted here; its `fsync` always succeeds (there is no device),
//! so durability faults come from [`super::fsync`] instead.
//!
//! Mount it before starting the server. `ip netns exec` gives the server its
//! own mount namespace, a copy of the root one at that moment (the root
//! mount is `private` on these machines, so later mounts do not propagate
//! into it); both copies share the one tmpfs, so [`SmallDisk::fill`] from the
//! root namespace takes space the server sees. An unmount while the server
//! runs only detaches the root namespace's copy (lazily if busy).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::{prerequisites, run, tool_command};

/// The filler file's name in the mount's root.
pub(crate) const FILLER: &str = ".petrel-chaos-filler";

/// The mount source name, so `findmnt`/`/proc/mounts` show whose it is.
const SOURCE: &str = "petrel-chaos";

/// A tmpfs mounted at a directory; dropping it unmounts (lazily if busy).
#[derive(Debug)]
pub(crate) struct SmallDisk {
    dir: PathBuf,
    mounted: bool,
}

impl SmallDisk {
    /// `Ok` when disks can be mounted here; otherwise why not.
    pub(crate) fn supported() -> Result<(), String> {
        prerequisites(&["mount", "umount"])
    }

    /// Mounts a `size_mb` MiB tmpfs at `dir` (created if missing). Anything
    /// already in `dir` is hidden until the unmount.
    pub(crate) fn mount(dir: &Path, size_mb: u64) -> Result<SmallDisk> {
        ensure!(size_mb > 0, "a disk needs at least 1 MiB");
        if let Err(why) = Self::supported() {
            bail!("cannot mount a small disk: {why}");
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        let options = format!("size={size_mb}m,mode=0755");
        run(tool_command("mount")
            .args(["-t", "tmpfs", "-o", &options, SOURCE])
            .arg(&dir))?;
        Ok(SmallDisk { dir, mounted: true })
    }

    /// Where the disk is mounted.
    #[cfg(test)]
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes an unprivileged writer can still use.
    pub(crate) fn available(&self) -> Result<u64> {
        let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes())?;
        // SAFETY: statvfs only writes into the zeroed struct we pass.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a valid out pointer.
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            let err = std::io::Error::last_os_error();
            return Err(err).with_context(|| format!("statvfs {}", self.dir.display()));
        }
        Ok(st.f_bavail as u64 * st.f_frsize as u64)
    }

    /// Grows the filler file until about `leave_bytes` remain (tmpfs counts
    /// whole pages, so up to a page less may be left). Returns the bytes
    /// written now. Calling it again with a smaller `leave_bytes` fills more.
    pub(crate) fn fill(&self, leave_bytes: u64) -> Result<u64> {
        let path = self.dir.join(FILLER);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0u64;
        loop {
            let available = self.available()?;
            if available <= leave_bytes {
                break;
            }
            let n = (available - leave_bytes).min(chunk.len() as u64) as usize;
            match file.write(&chunk[..n]) {
                Ok(0) => break,
                Ok(w) => written += w as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
            }
        }
        Ok(written)
    }

    /// Deletes the filler file and waits until its space is back: a process
    /// spawned by another thread while the filler was open holds it until
    /// its `exec`, and the kernel then frees it a moment later.
    pub(crate) fn free(&self) -> Result<()> {
        let path = self.dir.join(FILLER);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("stat {}", path.display())),
        };
        let before = self.available()?;
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        // Page rounding aside, all of it comes back.
        while self.available()? + 64 * 1024 < before + size {
            if Instant::now() > deadline {
                bail!("{} removed but its space is still in use", path.display());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Unmounts now, lazily if the disk is busy.
    #[cfg(test)]
    pub(crate) fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        unmount(&self.dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = unmount(&self.dir) {
                tracing::warn!("{e:#}");
            }
        }
    }
}

fn unmount(dir: &Path) -> Result<()> {
    if run(tool_command("umount").arg(dir)).is_ok() {
        return Ok(());
    }
    // Busy (a process still has files open there): detach it now, the
    // kernel frees it when the last file closes.
    run(tool_command("umount").arg("-l").arg(dir)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::super::testing::skip;
    use super::*;
    use std::fs::File;

    /// Whether `dir` is a mount point of ours, per `/proc/self/mounts`.
    fn is_mounted(dir: &Path) -> bool {
        let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
            return false;
        };
        let dir = dir.to_string_lossy();
        mounts.lines().any(|l| {
            let mut f = l.split_whitespace();
            f.next() == Some(SOURCE) && f.next() == Some(&*dir)
        })
    }

    /// Writes `len` bytes to a new file in `dir` and syncs it.
    fn write_file(dir: &Path, name: &str, len: usize) -> std::io::Result<()> {
        let mut f = File::create(dir.join(name))?;
        f.write_all(&vec![1u8; len])?;
        f.sync_data()
    }

    #[test]
    fn fill_makes_writes_fail_with_enospc_and_free_undoes_it() {
        if skip(
            "fill_makes_writes_fail_with_enospc_and_free_undoes_it",
            SmallDisk::supported(),
        ) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let disk = SmallDisk::mount(&dir, 8).unwrap();
        assert!(is_mounted(disk.dir()));
        assert!(disk.available().unwrap() > 7 << 20);
        write_file(disk.dir(), "before", 1 << 20).unwrap();

        let written = disk.fill(64 << 10).unwrap();
        assert!(written > 5 << 20, "wrote {written}");
        let left = disk.available().unwrap();
        assert!(
            left <= 64 << 10 && left + 4096 >= 64 << 10,
            "{left} bytes left"
        );
        write_file(disk.dir(), "small", 16 << 10).expect("room for a small write");
        let err = write_file(disk.dir(), "big", 1 << 20).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");

        disk.free().unwrap();
        write_file(disk.dir(), "big", 1 << 20).expect("room again after free");
        write_file(disk.dir(), "big", 1 << 20).expect("room again after free");

        let mounted = disk.dir().to_path_buf();
        drop(disk);
        assert!(!is_mounted(&mounted), "unmounted on drop");
    }

    #[test]
    fn a_server_inside_a_namespace_sees_the_disk_full() {
        use super::super::net::Network;
        let why = SmallDisk::supported().and_then(|()| Network::supported());
        if skip("a_server_inside_a_namespace_sees_the_disk_full", why) {
            return;
        }
        let net = Network::create(&super::super::testing::unique_prefix(), 1).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let disk = SmallDisk::mount(tmp.path(), 4).unwrap();
        disk.fill(0).unwrap();
        let script = format!("head -c 1048576 /dev/zero > {}/big", disk.dir().display());
        let err = run(net.command(0, "sh").args(["-c", &script])).unwrap_err();
        assert!(
            format!("{err:#}").contains("No space left on device"),
            "{err:#}"
        );
        disk.free().unwrap();
        run(net.command(0, "sh").args(["-c", &script])).unwrap();
    }

    #[test]
    fn a_busy_disk_is_unmounted_lazily() {
        if skip("a_busy_disk_is_unmounted_lazily", SmallDisk::supported()) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let disk = SmallDisk::mount(tmp.path(), 1).unwrap();
        let dir = disk.dir().to_path_buf();
        let mut open = File::create(dir.join("held")).unwrap();
        disk.unmount().unwrap();
        assert!(!is_mounted(&dir));
        open.write_all(b"still writable").unwrap();
    }
}
