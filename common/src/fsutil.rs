//! Small durable-file helpers shared by meta and the servers.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` atomically and durably: writes a sibling
/// temporary file, fsyncs it, renames it over `path`, then fsyncs the
/// directory. After a crash `path` holds either the old or the new bytes.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// The contents of `path`, or `None` when it does not exist.
pub fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("petrel-fsutil-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("f");
        assert_eq!(read_if_exists(&p).expect("read"), None);
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("write");
        assert_eq!(read_if_exists(&p).expect("read"), Some(b"two".to_vec()));
        assert!(!dir.join("f.tmp").exists());
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
