//! The cluster's scripts (`SCRIPT LOAD`) and function libraries
//! (`FUNCTION LOAD`), kept by meta so that every proxy serves the same ones
//! and they survive restarts (docs/SCRIPTING.md).
//!
//! Meta does not run Lua: a proxy compiles a library before sending it and
//! says which functions it registers; meta keeps the names unique across
//! libraries and answers with Redis's error texts. Every change bumps
//! [`Scripting::generation`], which meta hands out with every table map, so
//! proxies learn when their copy is stale.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use petrel_common::msg::{LibraryMsg, RestorePolicy};
use serde::{Deserialize, Serialize};

/// Scripts and libraries, part of the durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scripting {
    /// Bumped by every change below.
    pub(crate) generation: u64,
    /// How many times `SCRIPT FLUSH` ran.
    pub(crate) script_flushes: u64,
    /// Script bodies by SHA1 (lowercase hex).
    pub(crate) scripts: BTreeMap<String, Code>,
    /// Function libraries by name.
    pub(crate) libraries: BTreeMap<String, StoredLibrary>,
}

/// One library.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLibrary {
    pub(crate) code: Code,
    /// The functions it registers.
    pub(crate) functions: Vec<String>,
}

/// Script or library code: JSON text when it is UTF-8 (nearly always),
/// else `{"hex": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CodeRepr", into = "CodeRepr")]
pub struct Code(pub(crate) Bytes);

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum CodeRepr {
    Text(String),
    Hex { hex: String },
}

impl From<CodeRepr> for Code {
    fn from(r: CodeRepr) -> Self {
        match r {
            CodeRepr::Text(t) => Code(Bytes::from(t)),
            CodeRepr::Hex { hex } => Code(Bytes::from(
                (0..hex.len() / 2)
                    .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                    .collect::<Vec<u8>>(),
            )),
        }
    }
}

impl From<Code> for CodeRepr {
    fn from(c: Code) -> Self {
        match std::str::from_utf8(&c.0) {
            Ok(t) => CodeRepr::Text(t.to_string()),
            Err(_) => CodeRepr::Hex {
                hex: c.0.iter().map(|b| format!("{b:02x}")).collect(),
            },
        }
    }
}

/// The SHA1 of a script, lowercase hex (its name for `EVALSHA`).
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

impl Scripting {
    fn changed(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// `SCRIPT LOAD`: keeps `body`; its SHA1.
    pub(crate) fn load_script(&mut self, body: Bytes) -> String {
        let sha = sha1hex(&body);
        if !self.scripts.contains_key(&sha) {
            self.scripts.insert(sha.clone(), Code(body));
            self.changed();
        }
        sha
    }

    /// The body of the script named `sha` (lowercase hex).
    pub(crate) fn script(&self, sha: &str) -> Option<&Bytes> {
        self.scripts.get(sha).map(|c| &c.0)
    }

    /// `SCRIPT FLUSH`.
    pub(crate) fn flush_scripts(&mut self) -> u64 {
        self.scripts.clear();
        self.script_flushes += 1;
        self.changed()
    }

    /// `FUNCTION LOAD [REPLACE]`, with Redis's errors.
    pub(crate) fn load_library(&mut self, lib: LibraryMsg, replace: bool) -> Result<u64, String> {
        if self.libraries.contains_key(&lib.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", lib.name));
        }
        self.collision(std::slice::from_ref(&lib), |name| name == lib.name)?;
        self.libraries
            .insert(lib.name, stored(lib.code, lib.functions));
        Ok(self.changed())
    }

    /// The first function of `incoming` that a kept library other than
    /// those `replaced` already registers, as Redis's error.
    fn collision(
        &self,
        incoming: &[LibraryMsg],
        replaced: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        // Redis finds functions by name in any case.
        let taken: BTreeSet<String> = self
            .libraries
            .iter()
            .filter(|(name, _)| !replaced(name))
            .flat_map(|(_, l)| l.functions.iter().map(|f| f.to_ascii_lowercase()))
            .collect();
        for f in incoming.iter().flat_map(|l| &l.functions) {
            if taken.contains(&f.to_ascii_lowercase()) {
                return Err(format!("ERR Function {f} already exists"));
            }
        }
        Ok(())
    }

    /// `FUNCTION DELETE`.
    pub(crate) fn delete_library(&mut self, name: &str) -> Result<u64, String> {
        match self.libraries.remove(name) {
            Some(_) => Ok(self.changed()),
            None => Err("ERR Library not found".to_string()),
        }
    }

    /// `FUNCTION FLUSH`.
    pub(crate) fn flush_libraries(&mut self) -> u64 {
        self.libraries.clear();
        self.changed()
    }

    /// `FUNCTION RESTORE`: `incoming` come from one payload, which the
    /// proxy checked has no library or function twice.
    pub(crate) fn restore(
        &mut self,
        incoming: Vec<LibraryMsg>,
        policy: RestorePolicy,
    ) -> Result<u64, String> {
        match policy {
            RestorePolicy::Flush => self.libraries.clear(),
            RestorePolicy::Append => {
                if let Some(l) = incoming
                    .iter()
                    .find(|l| self.libraries.contains_key(&l.name))
                {
                    return Err(format!("ERR Library {} already exists", l.name));
                }
                self.collision(&incoming, |_| false)?;
            }
            RestorePolicy::Replace => {
                let names: BTreeSet<&str> = incoming.iter().map(|l| l.name.as_str()).collect();
                self.collision(&incoming, |name| names.contains(name))?;
            }
        }
        for l in incoming {
            self.libraries.insert(l.name, stored(l.code, l.functions));
        }
        Ok(self.changed())
    }

    /// Every library, by name.
    pub(crate) fn libraries(&self) -> Vec<LibraryMsg> {
        self.libraries
            .iter()
            .map(|(name, l)| LibraryMsg {
                name: name.clone(),
                code: l.code.0.clone(),
                functions: l.functions.clone(),
            })
            .collect()
    }
}

fn stored(code: Bytes, functions: Vec<String>) -> StoredLibrary {
    StoredLibrary {
        code: Code(code),
        functions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(name: &str, functions: &[&str]) -> LibraryMsg {
        LibraryMsg {
            name: name.into(),
            code: Bytes::from(format!("#!lua name={name}\n")),
            functions: functions.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn scripts_are_kept_by_sha1_until_flushed() {
        let mut s = Scripting::default();
        let sha = s.load_script(Bytes::from_static(b"return 1"));
        assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        assert_eq!(s.generation, 1);
        s.load_script(Bytes::from_static(b"return 1"));
        assert_eq!(s.generation, 1, "loading a known script changes nothing");
        assert!(s.script(&sha).is_some());
        s.flush_scripts();
        assert!(s.script(&sha).is_none());
        assert_eq!((s.generation, s.script_flushes), (2, 1));
    }

    #[test]
    fn libraries_follow_redis_rules() {
        let mut s = Scripting::default();
        s.load_library(lib("a", &["f"]), false).expect("load");
        assert_eq!(
            s.load_library(lib("a", &["g"]), false),
            Err("ERR Library 'a' already exists".into())
        );
        assert_eq!(
            s.load_library(lib("b", &["f"]), false),
            Err("ERR Function f already exists".into())
        );
        assert_eq!(
            s.load_library(lib("b", &["F"]), false),
            Err("ERR Function F already exists".into())
        );
        s.load_library(lib("a", &["f", "g"]), true)
            .expect("replace keeps its own names");
        assert_eq!(s.delete_library("zz"), Err("ERR Library not found".into()));
        assert_eq!(
            s.restore(vec![lib("a", &["h"])], RestorePolicy::Append),
            Err("ERR Library a already exists".into())
        );
        assert_eq!(
            s.restore(vec![lib("c", &["g"])], RestorePolicy::Replace),
            Err("ERR Function g already exists".into())
        );
        s.restore(vec![lib("a", &["h"])], RestorePolicy::Replace)
            .expect("replace");
        assert_eq!(s.libraries()[0].functions, vec!["h".to_string()]);
        s.restore(vec![lib("c", &["g"])], RestorePolicy::Flush)
            .expect("flush");
        assert_eq!(s.libraries().len(), 1);
        s.delete_library("c").expect("delete");
        assert!(s.libraries().is_empty());
    }

    #[test]
    fn code_round_trips_through_json_text_or_hex() {
        for bytes in [&b"return 'x'"[..], &[0xff, 0x00, 0x41][..]] {
            let c = Code(Bytes::copy_from_slice(bytes));
            let json = serde_json::to_string(&c).expect("ser");
            let back: Code = serde_json::from_str(&json).expect("de");
            assert_eq!(back, c, "{json}");
        }
    }
}
