//! Cluster settings: `CONFIG` parameters that hold for the whole cluster
//! (today `notify-keyspace-events`), kept by meta so every proxy shows the
//! same value, every server applies it, and it survives restarts
//! (docs/PUBSUB.md "Keyspace notifications").
//!
//! Meta keeps each value as the proxy checked it (`CONFIG SET` validates;
//! meta does not know Redis's rules) and numbers every change with
//! [`Settings::generation`]. Servers get the settings with every beacon
//! answer, and at once when they change (meta pushes them, and `CONFIG
//! SET` answers once the servers acknowledged or could no longer serve).

use std::collections::BTreeMap;

use petrel_common::msg::{SettingMsg, SettingsMsg};
use serde::{Deserialize, Serialize};

/// The cluster settings, part of meta's durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Bumped by every change.
    pub(crate) generation: u64,
    /// Values by `CONFIG` name (lower case); a parameter not here has its
    /// default.
    pub(crate) values: BTreeMap<String, String>,
}

impl Settings {
    /// Sets each `(name, value)`; the generation after the change (the same
    /// one when nothing changed).
    pub(crate) fn set(&mut self, changes: Vec<SettingMsg>) -> u64 {
        let mut changed = false;
        for SettingMsg { name, value } in changes {
            let name = name.to_ascii_lowercase();
            if self.values.get(&name) != Some(&value) {
                self.values.insert(name, value);
                changed = true;
            }
        }
        if changed {
            self.generation += 1;
        }
        self.generation
    }

    /// The settings as servers and proxies receive them.
    pub(crate) fn message(&self) -> SettingsMsg {
        SettingsMsg {
            generation: self.generation,
            settings: self
                .values
                .iter()
                .map(|(name, value)| SettingMsg {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str, value: &str) -> SettingMsg {
        SettingMsg {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_change_bumps_the_generation_and_a_repeat_does_not() {
        let mut s = Settings::default();
        assert_eq!(s.set(vec![setting("Notify-Keyspace-Events", "KEA")]), 1);
        assert_eq!(s.set(vec![setting("notify-keyspace-events", "KEA")]), 1);
        assert_eq!(s.set(vec![setting("notify-keyspace-events", "")]), 2);
        let m = s.message();
        assert_eq!(m.generation, 2);
        assert_eq!(m.settings, vec![setting("notify-keyspace-events", "")]);
        let json = serde_json::to_string(&s).expect("ser");
        let back: Settings = serde_json::from_str(&json).expect("de");
        assert_eq!(back, s);
    }
}
