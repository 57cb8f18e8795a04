//! Meta's durable state on disk: one JSON file replaced atomically.
//!
//! A save writes `state.json.tmp`, fsyncs it, renames it over `state.json`
//! and fsyncs the directory, so after a crash the file is either the old
//! state or the new one, never a mix; meta answers only after a save returns.

use std::fs;
use std::path::{Path, PathBuf};

use crate::state::MetaState;

/// The state file and its directory.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("meta state io at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("meta state file {path} is corrupt: {message}")]
    Corrupt { path: String, message: String },
}

impl Store {
    /// Uses (and creates) `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(|source| io_err(dir, source))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    fn file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The saved state, or `None` when meta has never saved one here.
    pub fn load(&self) -> Result<Option<MetaState>, StoreError> {
        let path = self.file();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_err(&path, source)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            })
    }

    /// Durably replaces the saved state with `state`.
    pub fn save(&self, state: &MetaState) -> Result<(), StoreError> {
        let path = self.file();
        let text = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        petrel_common::fsutil::write_atomic(&path, &text).map_err(|e| io_err(&path, e))
    }
}

fn io_err(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_common::ids::NodeAddr;

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        assert!(store.load().expect("load").is_none());
        let mut st = MetaState::default();
        st.register_node(&NodeAddr::from("127.0.0.1:1"));
        st.create_table("t", 4, 1, &[NodeAddr::from("127.0.0.1:1")])
            .expect("create");
        store.save(&st).expect("save");
        let back = store.load().expect("load").expect("present");
        assert_eq!(back, st);
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("state.json"), b"{not json").expect("write");
        let store = Store::open(dir.path()).expect("open");
        assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
    }
}
