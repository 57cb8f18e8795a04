//! The cluster's scripts and function libraries, which meta keeps
//! (docs/SCRIPTING.md), and this proxy's copy of them.
//!
//! Changes (`SCRIPT LOAD`, `SCRIPT FLUSH`, `FUNCTION LOAD`...) go to meta,
//! which persists them before it answers and bumps its scripting
//! generation. Meta hands the generation out with every table map (the
//! periodic refresh, `map_refresh_interval_ms`) and with every change's
//! answer; when it is newer than this proxy's copy, the next command that
//! needs the copy (`FCALL`, `FUNCTION LIST`, `EVALSHA`...) fetches the
//! libraries again first (one meta call per change). So a change made
//! through another proxy is seen here within one map refresh, and at once
//! when a function or script this proxy does not know is asked for.
//!
//! The copy is a [`Functions`] engine with every library loaded: it checks
//! a new library against the others exactly as Redis does before it goes
//! to meta, and answers `FUNCTION LIST` with each function's flags and
//! description. If meta cannot be reached, commands go on with the copy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use petrel_common::msg::{
    method, LibraryListRequest, LibraryListResponse, LibraryMsg, ScriptExistsRequest,
    ScriptExistsResponse, ScriptGetRequest, ScriptGetResponse, ScriptLoadRequest,
    ScriptLoadResponse, ScriptingChangeResponse,
};
use petrel_common::reply::Reply;
use petrel_common::sync::lock;
use petrel_script::{EngineConfig, Functions, Library, NoCalls};
use tracing::warn;

use crate::route::map::MapCache;
use crate::script::ScriptCache;

/// How long one call to meta may take.
const META_TIMEOUT: Duration = Duration::from_secs(2);

/// A function as `FCALL` needs it.
#[derive(Clone, Debug)]
pub(crate) struct FoundFunction {
    /// Its library's code, which the server loads.
    pub(crate) library_code: Bytes,
}

/// What `FUNCTION LIST` shows of one library.
#[derive(Clone, Debug)]
pub(crate) struct LibraryInfo {
    pub(crate) name: String,
    pub(crate) code: Bytes,
    /// Name, description, flags.
    pub(crate) functions: Vec<(String, Option<String>, Vec<&'static str>)>,
}

/// This proxy's copy of meta's libraries.
struct Copy {
    /// The generation it reflects; 0 before the first fetch.
    generation: u64,
    /// Meta's `SCRIPT FLUSH` count at the last fetch (`None` before it).
    script_flushes: Option<u64>,
    /// Every library, loaded (`None` when Lua could not start).
    functions: Option<Functions>,
}

/// Meta's scripts and libraries, seen from this proxy.
pub(crate) struct Catalog {
    maps: Arc<MapCache>,
    copy: Mutex<Copy>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

fn engine() -> Option<Functions> {
    Functions::new(EngineConfig::default())
        .map_err(|e| tracing::error!(error = %e, "no Lua engine: functions are refused"))
        .ok()
}

fn no_engine() -> Reply {
    Reply::error("ERR the Lua engine did not start")
}

/// A library as meta keeps it: name, code, the functions it registers.
fn message(library: &Library) -> LibraryMsg {
    LibraryMsg {
        name: library.name.clone(),
        code: library.code.clone(),
        functions: library.functions.iter().map(|f| f.name.clone()).collect(),
    }
}

impl Catalog {
    /// A catalog asking the meta of `maps` (whose refreshes carry the generation).
    pub(crate) fn new(maps: Arc<MapCache>) -> Catalog {
        Catalog {
            maps,
            copy: Mutex::new(Copy {
                generation: 0,
                script_flushes: None,
                functions: engine(),
            }),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Calls `m` at meta, trying each address in turn.
    async fn call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        m: u16,
        req: &Req,
    ) -> Result<Resp, Reply> {
        self.maps
            .ask_meta(m, req, META_TIMEOUT)
            .await
            .map_err(|failures| {
                Reply::Error(format!(
                    "CLUSTERDOWN meta could not be reached for scripts and functions ({failures})"
                ))
            })
    }

    /// Whether meta changed since the copy was fetched.
    fn stale(&self) -> bool {
        lock(&self.copy).generation < self.maps.scripting_generation()
    }

    /// Fetches the copy again if meta has changed since (cheap otherwise).
    /// If meta cannot be reached, the copy stays as it is.
    pub(crate) async fn refresh(&self, scripts: &ScriptCache) {
        if self.stale() {
            if let Err(e) = self.fetch(scripts).await {
                warn!(error = ?e, "scripts and functions could not be fetched from meta; using this proxy's copy");
            }
        }
    }

    /// Fetches every library from meta into the copy; empties `scripts`
    /// when a `SCRIPT FLUSH` ran since the last fetch.
    async fn fetch(&self, scripts: &ScriptCache) -> Result<(), Reply> {
        let _one = self.fetching.lock().await;
        let resp: LibraryListResponse = self
            .call(method::LIBRARY_LIST, &LibraryListRequest {})
            .await?;
        self.maps.heard_scripting_generation(resp.generation);
        let mut copy = lock(&self.copy);
        if copy
            .script_flushes
            .is_some_and(|seen| seen != resp.script_flushes)
        {
            scripts.flush();
        }
        copy.script_flushes = Some(resp.script_flushes);
        let same = copy.functions.as_ref().is_some_and(|f| {
            f.libraries()
                .map(|l| (l.name.as_str(), &l.code))
                .eq(resp.libraries.iter().map(|l| (l.name.as_str(), &l.code)))
        });
        if !same {
            let mut functions = engine();
            if let Some(f) = functions.as_mut() {
                for l in &resp.libraries {
                    if let Err(e) = f.load(&mut NoCalls, &l.code, true) {
                        warn!(library = %l.name, error = ?e, "a library meta keeps does not load here");
                    }
                }
            }
            copy.functions = functions;
        }
        copy.generation = resp.generation;
        Ok(())
    }

    /// Notes a change's answer: the copy is refetched before its next use.
    fn changed(&self, resp: ScriptingChangeResponse) -> Reply {
        self.maps.heard_scripting_generation(resp.generation);
        if resp.error.is_empty() {
            Reply::ok()
        } else {
            Reply::Error(resp.error)
        }
    }

    /// The function called `name`, fetching the copy again first if it is
    /// stale or lacks the function (another proxy may have just loaded it).
    pub(crate) async fn function(
        &self,
        scripts: &ScriptCache,
        name: &[u8],
    ) -> Option<FoundFunction> {
        self.refresh(scripts).await;
        let name = std::str::from_utf8(name).ok()?;
        if let Some(found) = self.find(name) {
            return Some(found);
        }
        if self.fetch(scripts).await.is_err() {
            return None;
        }
        self.find(name)
    }

    fn find(&self, name: &str) -> Option<FoundFunction> {
        let copy = lock(&self.copy);
        let functions = copy.functions.as_ref()?;
        let library = functions.library_of(name)?;
        Some(FoundFunction {
            library_code: library.code.clone(),
        })
    }

    /// `FUNCTION LOAD [REPLACE] code`: checked against the copy (Redis's
    /// errors, in its order), then kept by meta; the library's name.
    pub(crate) async fn load_library(
        &self,
        scripts: &ScriptCache,
        code: Bytes,
        replace: bool,
    ) -> Reply {
        self.refresh(scripts).await;
        let library = {
            let mut copy = lock(&self.copy);
            let Some(functions) = copy.functions.as_mut() else {
                return no_engine();
            };
            let name = match functions.load(&mut NoCalls, &code, replace) {
                Ok(name) => name,
                Err(e) => return e,
            };
            let library = functions.libraries().find(|l| l.name == name).map(message);
            // The copy now differs from meta until meta answers.
            copy.generation = 0;
            match library {
                Some(l) => l,
                None => return no_engine(),
            }
        };
        let name = library.name.clone();
        let req = petrel_common::msg::LibraryLoadRequest {
            library: Some(library),
            replace,
        };
        match self.call(method::LIBRARY_LOAD, &req).await {
            Ok(resp) => match self.changed(resp) {
                Reply::Status(_) => Reply::Bulk(Bytes::from(name)),
                e => e,
            },
            Err(e) => e,
        }
    }

    /// `FUNCTION DELETE name`.
    pub(crate) async fn delete_library(&self, name: &[u8]) -> Reply {
        let req = petrel_common::msg::LibraryDeleteRequest {
            name: String::from_utf8_lossy(name).into_owned(),
        };
        match self.call(method::LIBRARY_DELETE, &req).await {
            Ok(resp) => self.changed(resp),
            Err(e) => e,
        }
    }

    /// `FUNCTION FLUSH`.
    pub(crate) async fn flush_libraries(&self) -> Reply {
        let req = petrel_common::msg::LibraryFlushRequest {};
        match self.call(method::LIBRARY_FLUSH, &req).await {
            Ok(resp) => self.changed(resp),
            Err(e) => e,
        }
    }

    /// `FUNCTION RESTORE payload policy`: the payload's libraries must load
    /// on their own (Redis's errors), then meta joins them with its own.
    pub(crate) async fn restore(
        &self,
        codes: Vec<Bytes>,
        policy: petrel_common::msg::RestorePolicy,
    ) -> Reply {
        let Some(mut scratch) = engine() else {
            return no_engine();
        };
        for code in &codes {
            if let Err(e) = scratch.load(&mut NoCalls, code, false) {
                return e;
            }
        }
        let req = petrel_common::msg::LibraryRestoreRequest {
            libraries: scratch.libraries().map(message).collect(),
            policy: policy as i32,
        };
        match self.call(method::LIBRARY_RESTORE, &req).await {
            Ok(resp) => self.changed(resp),
            Err(e) => e,
        }
    }

    /// Every library, by name, from a fresh copy.
    pub(crate) async fn libraries(&self, scripts: &ScriptCache) -> Vec<LibraryInfo> {
        self.refresh(scripts).await;
        let copy = lock(&self.copy);
        let Some(functions) = copy.functions.as_ref() else {
            return Vec::new();
        };
        functions
            .libraries()
            .map(|l| LibraryInfo {
                name: l.name.clone(),
                code: l.code.clone(),
                functions: l
                    .functions
                    .iter()
                    .map(|f| (f.name.clone(), f.description.clone(), f.flags.names()))
                    .collect(),
            })
            .collect()
    }

    /// `SCRIPT LOAD`: compiled here (Redis's errors), kept by meta.
    pub(crate) async fn load_script(&self, scripts: &ScriptCache, body: Bytes) -> Reply {
        let sha = match scripts.load(&body) {
            Ok(sha) => sha,
            Err(e) => return e,
        };
        match self
            .call::<_, ScriptLoadResponse>(method::SCRIPT_LOAD, &ScriptLoadRequest { body })
            .await
        {
            Ok(resp) => {
                self.maps.heard_scripting_generation(resp.generation);
                Reply::Bulk(Bytes::from(sha))
            }
            Err(e) => e,
        }
    }

    /// The body of script `sha` for `EVALSHA`: this proxy's cache (after a
    /// `SCRIPT FLUSH` anywhere, emptied first), else meta's.
    pub(crate) async fn script(&self, scripts: &ScriptCache, sha: &[u8]) -> Option<Bytes> {
        self.refresh(scripts).await;
        if let Some(body) = scripts.body(sha) {
            return Some(body);
        }
        let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
        let resp: ScriptGetResponse = self
            .call(method::SCRIPT_GET, &ScriptGetRequest { sha })
            .await
            .ok()?;
        if !resp.found {
            return None;
        }
        scripts.load(&resp.body).ok()?;
        Some(resp.body)
    }

    /// `SCRIPT EXISTS`: known here or to meta, one flag per SHA1.
    pub(crate) async fn scripts_exist(&self, scripts: &ScriptCache, shas: &[Bytes]) -> Reply {
        self.refresh(scripts).await;
        let mut known: Vec<bool> = shas.iter().map(|s| scripts.exists(s)).collect();
        let missing: BTreeMap<usize, String> = shas
            .iter()
            .enumerate()
            .filter(|(i, _)| !known[*i])
            .map(|(i, s)| (i, String::from_utf8_lossy(s).to_ascii_lowercase()))
            .collect();
        if !missing.is_empty() {
            let req = ScriptExistsRequest {
                shas: missing.values().cloned().collect(),
            };
            match self
                .call::<_, ScriptExistsResponse>(method::SCRIPT_EXISTS, &req)
                .await
            {
                Ok(resp) => {
                    for (i, exists) in missing.keys().zip(resp.exists) {
                        known[*i] = exists;
                    }
                }
                Err(e) => return e,
            }
        }
        Reply::Array(
            known
                .into_iter()
                .map(|k| Reply::Int(i64::from(k)))
                .collect(),
        )
    }

    /// `SCRIPT FLUSH`: meta's scripts and this proxy's cache now; the other
    /// proxies' caches when they next see the generation.
    pub(crate) async fn flush_scripts(&self, scripts: &ScriptCache) -> Reply {
        let req = petrel_common::msg::ScriptFlushRequest {};
        let reply = match self.call(method::SCRIPT_FLUSH, &req).await {
            Ok(resp) => self.changed(resp),
            Err(e) => e,
        };
        scripts.flush();
        reply
    }
}
