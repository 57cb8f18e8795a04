//! ACL users as cluster-wide state (DESIGN.md "Cluster-wide state"): meta
//! keeps each user set through any proxy as a cluster setting, and every
//! proxy applies them, so a user created, changed or deleted through one
//! proxy logs in (or no longer does) through every other.
//!
//! One setting per user: `acl-user:<hex of the name>` (meta compares
//! setting names without case; user names have case) holding the user's
//! rules as [`Acl::rules_line`] spells them, or nothing once deleted.
//! `ACL SETUSER`/`DELUSER` answer once meta has the change; this proxy
//! applies it then, the others at their next look
//! (`crate::cluster_sync`, every second).

use petrel_common::msg::SettingsMsg;
use tracing::warn;

use crate::acl::Acl;

const PREFIX: &str = "acl-user:";

/// The cluster setting that holds user `name`.
pub(crate) fn setting_name(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// The user a setting holds, if it is a user's.
fn user_of(setting: &str) -> Option<String> {
    let hex = setting.strip_prefix(PREFIX)?.as_bytes();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = hex
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Makes this proxy's users what the cluster's settings say: each user
/// there replaced by its rules, or removed when deleted. Users the
/// settings never mention (the config file's) stay. Returns the users it
/// removed (their connections must be closed).
pub(crate) fn apply(acl: &Acl, settings: &SettingsMsg) -> Vec<String> {
    let mut removed = Vec::new();
    for setting in &settings.settings {
        let Some(name) = user_of(&setting.name) else {
            continue;
        };
        if setting.value.is_empty() {
            if acl.remove(&name) {
                removed.push(name);
            }
        } else if acl.rules_line(&name).as_deref() != Some(setting.value.as_str()) {
            if let Err(e) = acl.replace(&name, &setting.value) {
                warn!(user = %name, error = %e, "meta holds ACL rules this proxy does not read; keeping the user as it was");
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use petrel_common::msg::SettingMsg;

    /// The proxy that made the change, once it applied it.
    fn elsewhere_after(line: &str) -> Acl {
        let acl = Acl::default();
        acl.set_user(
            "alice",
            &["on", ">secret", "~app:*", "+get", "+@hash", "-hdel"],
        )
        .expect("setuser");
        assert_eq!(acl.rules_line("alice").as_deref(), Some(line));
        acl
    }

    #[test]
    fn user_names_keep_their_case_and_bytes_through_the_setting_name() {
        for name in ["alice", "Alice", "with space", "ünï", ""] {
            let setting = setting_name(name);
            assert_eq!(setting, setting.to_ascii_lowercase());
            assert_eq!(user_of(&setting).as_deref(), Some(name));
        }
        assert_eq!(user_of("notify-keyspace-events"), None);
        assert_eq!(user_of("acl-user:zz"), None);
        assert_eq!(user_of("acl-user:616"), None);
    }

    #[test]
    fn the_cluster_s_users_replace_and_remove_local_ones() {
        let here = Acl::default();
        here.set_user("local", &["on", "nopass", "+@all", "~*"])
            .expect("setuser");
        here.set_user("gone", &["on", "nopass"]).expect("setuser");
        // What another proxy made of alice, as it sent it to meta.
        let elsewhere = Acl::default();
        let line = elsewhere
            .preview(
                "alice",
                &["on", ">secret", "~app:*", "+get", "+@hash", "-hdel"],
            )
            .expect("preview");
        assert!(
            elsewhere.user("alice").is_none(),
            "a preview changes nothing"
        );
        let settings = SettingsMsg {
            generation: 7,
            settings: vec![
                SettingMsg {
                    name: setting_name("alice"),
                    value: line.clone(),
                },
                SettingMsg {
                    name: setting_name("gone"),
                    value: String::new(),
                },
                SettingMsg {
                    name: "notify-keyspace-events".into(),
                    value: "KEA".into(),
                },
            ],
        };
        assert_eq!(apply(&here, &settings), vec!["gone".to_string()]);
        assert!(here.authenticate(b"alice", b"secret", ""));
        assert!(!here.authenticate(b"alice", b"other", ""));
        assert_eq!(here.rules_line("alice").as_deref(), Some(line.as_str()));
        assert!(here.user("gone").is_none());
        assert!(
            here.user("local").is_some(),
            "users the cluster never named stay"
        );
        // The rules line rebuilds the user exactly.
        let again = Acl::default();
        again.replace("alice", &line).expect("replace");
        let alice = |acl: &Acl| {
            acl.list()
                .into_iter()
                .find(|l| l.starts_with("user alice "))
        };
        assert!(alice(&again).is_some());
        assert_eq!(alice(&again), alice(&here));
        assert_eq!(alice(&again), alice(&elsewhere_after(&line)));
    }
}
