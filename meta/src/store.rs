//! Meta's durable state on disk: one JSON file replaced atomically.
//!
//! A save writes `state.json.tmp`, fsyncs it, renames it over `state.json`
//! and fsyncs the directory, so after a crash the file is either the old
//! state or the new one, never a mix; meta answers only after a save returns.
//!
//! The file carries its format version (`"format_version"`, first key).
//! Meta refuses to start on a version it does not know rather than guess
//! at a newer layout; a file from before versions were written is
//! version 1 and gets the field at once.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::info;

use crate::state::MetaState;

/// The format of the state file this build reads and writes. Raise it (with
/// a conversion from the previous one) whenever an older meta would
/// misread the new file.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The file as saved: the version first, then the state's own fields.
#[derive(Serialize)]
struct Saved<'a> {
    format_version: u32,
    #[serde(flatten)]
    state: &'a MetaState,
}

/// Just the version, read before anything else is trusted.
#[derive(Deserialize)]
struct Version {
    format_version: Option<u32>,
}

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
    #[error(
        "meta state file {path} has format version {found}, but this petrel-meta reads only \
         version {supported}: run the petrel-meta that wrote it (or a newer one)"
    )]
    UnsupportedVersion {
        path: String,
        found: u32,
        supported: u32,
    },
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
    ///
    /// A file of another format version is refused. A file without one
    /// (written before versions were) is version 1: it is saved again with
    /// its version before this returns.
    pub fn load(&self) -> Result<Option<MetaState>, StoreError> {
        let path = self.file();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_err(&path, source)),
        };
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let version: Version = serde_json::from_str(&text).map_err(corrupt)?;
        match version.format_version {
            Some(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(StoreError::UnsupportedVersion {
                    path: path.display().to_string(),
                    found,
                    supported: FORMAT_VERSION,
                })
            }
            None => {}
        }
        let state: MetaState = serde_json::from_str(&text).map_err(corrupt)?;
        if version.format_version.is_none() {
            info!(path = %path.display(), version = FORMAT_VERSION, "meta state file had no format version; writing it");
            self.save(&state)?;
        }
        Ok(Some(state))
    }

    /// Durably replaces the saved state with `state`.
    pub fn save(&self, state: &MetaState) -> Result<(), StoreError> {
        let path = self.file();
        let saved = Saved {
            format_version: FORMAT_VERSION,
            state,
        };
        let text = serde_json::to_vec_pretty(&saved).map_err(|e| StoreError::Corrupt {
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
    fn the_file_says_its_format_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        store.save(&MetaState::default()).expect("save");
        let text = std::fs::read_to_string(dir.path().join("state.json")).expect("read");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(json["format_version"], FORMAT_VERSION);
        assert!(
            text.trim_start_matches(['{', '\n', ' '])
                .starts_with("\"format_version\""),
            "first, for people reading the file: {text}"
        );
    }

    #[test]
    fn a_file_without_a_version_is_version_1_and_gets_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = MetaState::default();
        st.register_node(&NodeAddr::from("127.0.0.1:1"));
        // As meta wrote it before versions: the bare state.
        let old = serde_json::to_vec_pretty(&st).expect("json");
        std::fs::write(dir.path().join("state.json"), old).expect("write");
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(store.load().expect("load"), Some(st.clone()));
        let text = std::fs::read_to_string(dir.path().join("state.json")).expect("read");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(json["format_version"], 1, "{text}");
        assert_eq!(store.load().expect("load again"), Some(st));
    }

    #[test]
    fn an_unknown_version_is_refused_with_both_versions_and_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        // A newer meta's file, whose other fields may mean anything.
        std::fs::write(&path, br#"{"format_version": 7, "tables": 12}"#).expect("write");
        let store = Store::open(dir.path()).expect("open");
        let err = store.load().expect_err("refused");
        assert!(
            matches!(
                &err,
                StoreError::UnsupportedVersion {
                    found: 7,
                    supported: FORMAT_VERSION,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(
            text.contains("version 7") && text.contains("version 1"),
            "{text}"
        );
        // Nothing was rewritten.
        let after = std::fs::read_to_string(&path).expect("read");
        assert_eq!(after, r#"{"format_version": 7, "tables": 12}"#);
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("state.json"), b"{not json").expect("write");
        let store = Store::open(dir.path()).expect("open");
        assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
    }
}
