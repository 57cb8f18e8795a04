//! A checkpoint directory seen as a list of files a learner copies.
//!
//! File names and offsets arrive from the network, so every read goes
//! through [`validate_name`] and must name a file of the listing taken when
//! the checkpoint was made: a request can never reach outside the directory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use tracing::warn;

/// The largest chunk one fetch may ask for.
pub(crate) const MAX_CHUNK: u32 = 4 << 20;

/// Longest file name accepted (the usual file-system limit).
const MAX_NAME_LEN: usize = 255;

/// One plain file of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CheckpointFile {
    pub(crate) name: String,
    pub(crate) len: u64,
}

/// Why a checkpoint file could not be listed or read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointFileError {
    #[error("bad checkpoint file name {0:?}")]
    BadName(String),
    #[error("{0:?} is not a file of this checkpoint")]
    NotListed(String),
    #[error("chunk of {0} bytes asked; at most {MAX_CHUNK}")]
    ChunkTooLarge(u32),
    #[error("offset {offset} past the end of {name:?} ({len} bytes)")]
    PastEnd { name: String, offset: u64, len: u64 },
    #[error("io on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CheckpointFileError + '_ {
    move |source| CheckpointFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Accepts only a bare file name: not empty, no path separator, no `..`, no
/// NUL. RocksDB's own names (`CURRENT`, `MANIFEST-000005`, `000012.sst`)
/// all pass.
pub(crate) fn validate_name(name: &str) -> Result<(), CheckpointFileError> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name == "."
        || name.contains("..")
        || name.contains(['/', '\\', '\0'])
        || Path::new(name).is_absolute();
    if bad {
        Err(CheckpointFileError::BadName(name.to_string()))
    } else {
        Ok(())
    }
}

/// The plain files directly in `dir` (no directories, no symlinks), sorted
/// by name. Names that [`validate_name`] refuses are skipped with a warning.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<CheckpointFile>, CheckpointFileError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_at(dir))? {
        let entry = entry.map_err(io_at(dir))?;
        let path = entry.path();
        // DirEntry::file_type does not follow symlinks.
        if !entry.file_type().map_err(io_at(&path))?.is_file() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            warn!(path = %path.display(), "skipping checkpoint file with a non-UTF-8 name");
            continue;
        };
        if validate_name(&name).is_err() {
            warn!(path = %path.display(), "skipping checkpoint file with an unsafe name");
            continue;
        }
        let len = entry.metadata().map_err(io_at(&path))?.len();
        files.push(CheckpointFile { name, len });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Reads up to `len` bytes of `name` from `offset`, never past the length
/// in `files`. Fewer bytes than asked means the end of the file (or a file
/// that shrank, which the reader detects by its listed length).
pub(crate) fn read_chunk(
    dir: &Path,
    files: &[CheckpointFile],
    name: &str,
    offset: u64,
    len: u32,
) -> Result<Vec<u8>, CheckpointFileError> {
    validate_name(name)?;
    let listed = files
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| CheckpointFileError::NotListed(name.to_string()))?;
    if len > MAX_CHUNK {
        return Err(CheckpointFileError::ChunkTooLarge(len));
    }
    if offset > listed.len {
        return Err(CheckpointFileError::PastEnd {
            name: name.to_string(),
            offset,
            len: listed.len,
        });
    }
    let want = u64::from(len).min(listed.len - offset);
    if want == 0 {
        return Ok(Vec::new());
    }
    let path = dir.join(name);
    let mut file = File::open(&path).map_err(io_at(&path))?;
    file.seek(SeekFrom::Start(offset)).map_err(io_at(&path))?;
    // `want` is at most MAX_CHUNK, so the cast is lossless.
    let mut data = Vec::with_capacity(want as usize);
    file.take(want)
        .read_to_end(&mut data)
        .map_err(io_at(&path))?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, len: u64) -> CheckpointFile {
        CheckpointFile {
            name: name.to_string(),
            len,
        }
    }

    #[test]
    fn names_must_be_bare_file_names() {
        for good in [
            "CURRENT",
            "MANIFEST-000005",
            "000012.sst",
            "OPTIONS-7",
            "a.b",
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "x/..",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "x..y",
            "a\0b",
            &"n".repeat(256),
        ] {
            assert!(
                matches!(validate_name(bad), Err(CheckpointFileError::BadName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn listing_holds_only_plain_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), b"12345").unwrap();
        std::fs::write(dir.path().join("a"), b"").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let files = list_files(dir.path()).unwrap();
        assert_eq!(files, vec![file("a", 0), file("b", 5)]);
    }

    #[test]
    fn chunks_cover_the_file_and_stop_at_its_listed_length() {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        std::fs::write(dir.path().join("data"), &body).unwrap();
        let files = list_files(dir.path()).unwrap();

        let mut copy = Vec::new();
        let mut offset = 0u64;
        loop {
            let chunk = read_chunk(dir.path(), &files, "data", offset, 4096).unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= 4096);
            offset += chunk.len() as u64;
            copy.extend_from_slice(&chunk);
        }
        assert_eq!(copy, body);
        assert_eq!(offset, 10_000);

        // Growth after the listing is not served.
        std::fs::write(dir.path().join("data"), vec![7u8; 20_000]).unwrap();
        let tail = read_chunk(dir.path(), &files, "data", 9_000, MAX_CHUNK).unwrap();
        assert_eq!(tail.len(), 1_000);

        assert!(matches!(
            read_chunk(dir.path(), &files, "data", 10_001, 1),
            Err(CheckpointFileError::PastEnd { .. })
        ));
        assert!(matches!(
            read_chunk(dir.path(), &files, "data", 0, MAX_CHUNK + 1),
            Err(CheckpointFileError::ChunkTooLarge(_))
        ));
    }

    #[test]
    fn reads_outside_the_listing_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("ckpt");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("CURRENT"), b"MANIFEST-1\n").unwrap();
        std::fs::write(root.path().join("secret"), b"no").unwrap();
        let files = list_files(&dir).unwrap();
        // A file added after the listing exists but is not served.
        std::fs::write(dir.join("late"), b"late").unwrap();
        assert!(matches!(
            read_chunk(&dir, &files, "late", 0, 10),
            Err(CheckpointFileError::NotListed(_))
        ));
        for bad in ["../secret", "/etc/passwd", "CURRENT/..", ""] {
            assert!(
                matches!(
                    read_chunk(&dir, &files, bad, 0, 10),
                    Err(CheckpointFileError::BadName(_))
                ),
                "{bad}"
            );
        }
        // Even a listing that somehow holds a bad name is not trusted.
        let forged = vec![file("../secret", 2)];
        assert!(matches!(
            read_chunk(&dir, &forged, "../secret", 0, 10),
            Err(CheckpointFileError::BadName(_))
        ));
    }
}
