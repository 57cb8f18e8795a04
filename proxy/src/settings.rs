//! Cluster settings: the `CONFIG` parameters that hold for the whole
//! cluster rather than for this proxy (today `notify-keyspace-events`).
//! Meta keeps them (durable, numbered by a generation); `CONFIG SET` of one
//! is checked here with Redis's rules, then sent to meta, which answers
//! once every server applies it; `CONFIG GET` asks meta, so every proxy
//! shows the cluster's value (this proxy's last known copy when meta cannot
//! be reached).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use petrel_common::msg::{
    method, SettingMsg, SettingsGetRequest, SettingsMsg, SettingsSetRequest, SettingsSetResponse,
};
use petrel_common::notify;
use petrel_common::sync::lock;
use tracing::warn;

use crate::route::map::MapCache;

/// How long a settings change may take at meta: it waits for every server,
/// or for the lease of one that does not answer (2 s by default).
const SET_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading the settings from meta may take.
const GET_TIMEOUT: Duration = Duration::from_secs(1);

/// One cluster parameter: its name, default, and Redis's rules for it.
struct Param {
    name: &'static str,
    default: &'static str,
    /// Checks a `CONFIG SET` value: the reason shown when it is refused.
    check: fn(&str) -> Result<(), &'static str>,
    /// The value as `CONFIG GET` shows a stored one.
    show: fn(&str) -> String,
}

static PARAMS: &[Param] = &[Param {
    name: notify::SETTING,
    default: "",
    check: |v| match notify::parse(v.as_bytes()) {
        Some(_) => Ok(()),
        None => Err(notify::INVALID_CLASS),
    },
    show: |v| notify::format(notify::parse(v.as_bytes()).unwrap_or(0)),
}];

fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Whether `name` (a canonical `CONFIG` name) is a cluster setting.
pub(crate) fn is_cluster(name: &str) -> bool {
    param(name).is_some()
}

/// Checks `value` for cluster setting `name`; Redis's reason when refused.
pub(crate) fn check(name: &str, value: &str) -> Result<(), &'static str> {
    match param(name) {
        Some(p) => (p.check)(value),
        None => Err("not a cluster setting"),
    }
}

/// The cluster settings as this proxy knows them.
pub(crate) struct ClusterSettings {
    maps: Arc<MapCache>,
    /// The settings meta last gave this proxy.
    known: Mutex<SettingsMsg>,
}

/// What `CONFIG GET` shows: each setting's value by name.
pub(crate) struct Snapshot(SettingsMsg);

impl Snapshot {
    /// Every setting as meta gave it.
    pub(crate) fn message(&self) -> &SettingsMsg {
        &self.0
    }

    /// The value `CONFIG GET` shows for cluster setting `name`.
    pub(crate) fn shown(&self, name: &str) -> String {
        let Some(p) = param(name) else {
            return String::new();
        };
        let stored = self
            .0
            .settings
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(p.name))
            .map_or(p.default, |s| s.value.as_str());
        (p.show)(stored)
    }
}

impl ClusterSettings {
    /// Settings read from and written to the meta of `maps`.
    pub(crate) fn new(maps: Arc<MapCache>) -> Self {
        ClusterSettings {
            maps,
            known: Mutex::new(SettingsMsg::default()),
        }
    }

    /// Keeps `settings` unless this proxy knows newer ones.
    fn note(&self, settings: SettingsMsg) {
        let mut known = lock(&self.known);
        if settings.generation >= known.generation {
            *known = settings;
        }
    }

    /// The cluster's settings, read from meta (this proxy's last copy when
    /// meta cannot be reached).
    pub(crate) async fn current(&self) -> Snapshot {
        if let Err(e) = self.fetch().await {
            warn!(error = %e, "cluster settings could not be read from meta; showing this proxy's last copy");
        }
        Snapshot(lock(&self.known).clone())
    }

    /// The cluster's settings as meta has them now (the newest this proxy
    /// knows, should meta answer with older ones); `Err` when meta cannot
    /// be reached.
    pub(crate) async fn fetch(&self) -> Result<SettingsMsg, String> {
        let settings = self
            .maps
            .ask_meta::<_, SettingsMsg>(method::SETTINGS_GET, &SettingsGetRequest {}, GET_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        self.note(settings);
        Ok(lock(&self.known).clone())
    }

    /// Stores checked `(name, value)` pairs at meta, which answers once
    /// every server applies them; `Err` says why not (nothing changed, or
    /// meta's answer was lost: the change may have been made).
    pub(crate) async fn set(&self, changes: Vec<(String, String)>) -> Result<(), String> {
        let req = SettingsSetRequest {
            settings: changes
                .into_iter()
                .map(|(name, value)| SettingMsg { name, value })
                .collect(),
        };
        let resp: SettingsSetResponse = self
            .maps
            .ask_meta(method::SETTINGS_SET, &req, SET_TIMEOUT)
            .await
            .map_err(|e| format!("meta did not confirm the change ({e})"))?;
        if !resp.unacknowledged.is_empty() {
            warn!(servers = ?resp.unacknowledged, "servers took the cluster settings only after their lease ran out");
        }
        if let Some(settings) = resp.settings {
            self.note(settings);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_keyspace_events_is_checked_and_shown_as_redis_does() {
        assert!(is_cluster("Notify-Keyspace-Events"));
        assert!(!is_cluster("maxclients"));
        assert_eq!(check(notify::SETTING, "KEA"), Ok(()));
        assert_eq!(check(notify::SETTING, "kea"), Err(notify::INVALID_CLASS));
        let snap = Snapshot(SettingsMsg {
            generation: 3,
            settings: vec![SettingMsg {
                name: notify::SETTING.into(),
                value: "KKEEAA".into(),
            }],
        });
        assert_eq!(snap.shown(notify::SETTING), "AKE");
        assert_eq!(Snapshot(SettingsMsg::default()).shown(notify::SETTING), "");
    }
}
