//! ACL users: who may log in with which password, which commands and
//! categories they may run, and which keys they may touch. Each proxy
//! holds them in memory; users set with `ACL SETUSER` or removed with `ACL
//! DELUSER` are cluster-wide state kept by meta ([`crate::cluster_acl`]),
//! so every proxy serves them and they survive restarts; those in a
//! proxy's config file `users` are created at its every start (and a
//! cluster-wide user of the same name replaces them).
//!
//! Rules follow Redis 7.0's `ACL SETUSER` syntax: `on off >pass <pass #hash
//! !hash nopass resetpass ~pattern %R~pattern %W~pattern %RW~pattern allkeys
//! resetkeys &pattern allchannels resetchannels +cmd -cmd +cmd|sub +@cat
//! -@cat allcommands nocommands reset`. Command rules apply in order over
//! the command table (categories from each command's ACL categories). Key
//! patterns apply to reads and writes alike (`%R~`/`%W~` are kept and shown
//! but not told apart). The `default` user's password is `requirepass` unless
//! passwords were given to it here. Deleting or disabling a user does not
//! close connections already logged in as it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use petrel_common::command::{table, AclCategories, Command};

/// One user.
#[derive(Clone, Debug, Default)]
pub(crate) struct User {
    pub(crate) enabled: bool,
    pub(crate) nopass: bool,
    /// SHA-256 hex digests.
    pub(crate) passwords: BTreeSet<String>,
    /// Key patterns as written (`~p`, `%R~p`...).
    pub(crate) keys: Vec<String>,
    pub(crate) all_channels: bool,
    pub(crate) channels: Vec<String>,
    /// Command rules since the last `allcommands`/`nocommands` (or reset).
    pub(crate) rules: Vec<String>,
    /// Whether the rules start from every command allowed.
    pub(crate) from_all: bool,
    /// `sanitize-payload` (set by `reset`) or `skip-sanitize-payload`: shown,
    /// nothing to sanitize without RESTORE.
    pub(crate) sanitize: Option<bool>,
}

fn sha256_hex(pass: &[u8]) -> String {
    Sha256::digest(pass)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every ACL category, without the `@`.
pub(crate) fn categories() -> BTreeSet<&'static str> {
    AclCategories::NAMES.iter().copied().collect()
}

fn has_category(command: &Command, cat: &str) -> bool {
    AclCategories::named(cat).is_some_and(|c| command.def.acl.contains(c))
}

impl User {
    /// A new user as `ACL SETUSER name` creates it: off, no password, no
    /// commands, no keys.
    fn new() -> User {
        User::default()
    }

    /// The built-in `default` user.
    fn default_user() -> User {
        User {
            enabled: true,
            nopass: true,
            keys: vec!["~*".into()],
            all_channels: true,
            from_all: true,
            ..User::default()
        }
    }

    /// Applies one `ACL SETUSER` rule.
    fn apply(&mut self, rule: &str) -> Result<(), String> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.keys = vec!["~*".into()],
            "resetkeys" => self.keys.clear(),
            "allchannels" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" => {
                self.from_all = true;
                self.rules.clear();
            }
            "nocommands" | "-@all" => {
                self.from_all = false;
                self.rules.clear();
            }
            "reset" => {
                *self = User::new();
                self.sanitize = Some(true);
            }
            "sanitize-payload" => self.sanitize = Some(true),
            "skip-sanitize-payload" => self.sanitize = Some(false),
            _ => return self.apply_prefixed(rule),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &str) -> Result<(), String> {
        let (head, rest) = rule.split_at(rule.chars().next().map_or(0, char::len_utf8));
        match head {
            ">" => {
                self.passwords.insert(sha256_hex(rest.as_bytes()));
                self.nopass = false;
            }
            "<" => {
                if !self.passwords.remove(&sha256_hex(rest.as_bytes())) {
                    return Err(
                        "The password you are trying to remove from the user does not exist".into(),
                    );
                }
            }
            "#" | "!" => {
                let ok = rest.len() == 64
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !ok {
                    return Err("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters".into());
                }
                if head == "#" {
                    self.passwords.insert(rest.to_string());
                    self.nopass = false;
                } else if !self.passwords.remove(rest) {
                    return Err(
                        "The password you are trying to remove from the user does not exist".into(),
                    );
                }
            }
            "~" => self.keys.push(rule.to_string()),
            "%" => {
                let (perm, pat) = rest.split_once('~').ok_or("Syntax error")?;
                let perm = perm.to_ascii_uppercase();
                if perm.is_empty() || !perm.chars().all(|c| c == 'R' || c == 'W') {
                    return Err("Syntax error".into());
                }
                self.keys.push(format!("%{perm}~{pat}"));
            }
            "&" => {
                if !self.all_channels {
                    self.channels.push(rule.to_string());
                }
            }
            "+" | "-" => {
                let known = match rest.strip_prefix('@') {
                    Some(cat) => categories().contains(cat.to_ascii_lowercase().as_str()),
                    None => resolve_name(rest).is_some(),
                };
                if !known {
                    return Err("Unknown command or category name in ACL".into());
                }
                self.rules
                    .push(format!("{head}{}", rest.to_ascii_lowercase()));
            }
            _ => return Err("Syntax error".into()),
        }
        Ok(())
    }

    /// Whether the rules let this user run `spec`.
    pub(crate) fn may_run(&self, spec: &Command) -> bool {
        let full = spec.name();
        let parent = spec.parent.and_then(|p| table().get(p));
        let mut allowed = self.from_all;
        for rule in &self.rules {
            let (plus, what) = rule.split_at(1);
            let hit = match what.strip_prefix('@') {
                Some(cat) => {
                    has_category(spec, cat) || parent.is_some_and(|p| has_category(p, cat))
                }
                None => what == full || parent.is_some_and(|p| what == p.name()),
            };
            if hit {
                allowed = plus == "+";
            }
        }
        allowed
    }

    /// Whether the rules let this user run `spec` on `args`.
    pub(crate) fn check(&self, spec: &Command, args: &[Bytes]) -> Result<(), Denied> {
        if !self.may_run(spec) {
            return Err(Denied::Command(spec.name().to_string()));
        }
        let keys: Vec<&Bytes> = spec
            .key_positions(args)
            .into_iter()
            .filter_map(|i| args.get(i))
            .collect();
        if !self.may_touch(&keys) {
            return Err(Denied::Keys);
        }
        Ok(())
    }

    /// Whether a pattern lets the user read every key (Redis's
    /// unrestricted key access, which SORT's BY and GET patterns need).
    pub(crate) fn reads_all_keys(&self) -> bool {
        self.keys.iter().any(|p| match p.split_once('~') {
            Some((perm, "*")) => perm.is_empty() || perm.to_ascii_uppercase().contains('R'),
            _ => false,
        })
    }

    /// Whether the user's key patterns cover every one of `keys`.
    pub(crate) fn may_touch(&self, keys: &[&Bytes]) -> bool {
        keys.iter().all(|k| {
            self.keys.iter().any(|p| {
                let pattern = p.split_once('~').map_or("", |(_, pat)| pat);
                petrel_common::glob::matches(pattern.as_bytes(), k, false)
            })
        })
    }

    /// The user as one `ACL LIST` line.
    pub(crate) fn describe(&self, name: &str) -> String {
        let mut parts = vec![format!("user {name}")];
        parts.extend(self.flags());
        if self.nopass {
            parts.push("nopass".into());
        }
        parts.extend(self.passwords.iter().map(|p| format!("#{p}")));
        parts.extend(self.keys.iter().cloned());
        if self.all_channels {
            parts.push("&*".into());
        } else {
            parts.push("resetchannels".into());
            parts.extend(self.channels.iter().cloned());
        }
        parts.push(self.commands());
        parts.join(" ")
    }

    /// `on`/`off`, then the payload flag and `nopass` (GETUSER's flags).
    pub(crate) fn flags(&self) -> Vec<String> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }.to_string()];
        match self.sanitize {
            Some(true) => flags.push("sanitize-payload".into()),
            Some(false) => flags.push("skip-sanitize-payload".into()),
            None => {}
        }
        flags
    }

    /// The command rules as `ACL GETUSER` shows them.
    pub(crate) fn commands(&self) -> String {
        // Redis lists category rules before single commands.
        let mut out = vec![if self.from_all { "+@all" } else { "-@all" }.to_string()];
        let (cats, cmds): (Vec<&String>, Vec<&String>) =
            self.rules.iter().partition(|r| r[1..].starts_with('@'));
        out.extend(cats.into_iter().chain(cmds).cloned());
        out.join(" ")
    }
}

/// `cmd` or `cmd|sub`, if Redis has it (served by Petrel or not, as Redis
/// accepts rules for every command it knows).
fn resolve_name(name: &str) -> Option<()> {
    table()
        .find(name.as_bytes())
        .filter(|c| !c.is_internal())
        .map(|_| ())
}

/// Why a command may not run.
pub(crate) enum Denied {
    Command(String),
    Keys,
}

impl Denied {
    pub(crate) fn text(&self) -> String {
        match self {
            Denied::Command(name) => {
                format!("NOPERM this user has no permissions to run the '{name}' command")
            }
            Denied::Keys => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
        }
    }
}

/// Every user of this proxy.
pub(crate) struct Acl {
    users: Mutex<BTreeMap<String, User>>,
}

impl Default for Acl {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert("default".to_string(), User::default_user());
        Acl {
            users: Mutex::new(users),
        }
    }
}

impl Acl {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, User>> {
        petrel_common::sync::lock(&self.users)
    }

    /// `ACL SETUSER name rule...`: all rules checked first, then applied.
    pub(crate) fn set_user(&self, name: &str, rules: &[&str]) -> Result<(), String> {
        let mut users = self.lock();
        let mut user = users.get(name).cloned().unwrap_or_else(User::new);
        for rule in rules {
            user.apply(rule)
                .map_err(|why| format!("ERR Error in ACL SETUSER modifier '{rule}': {why}"))?;
        }
        users.insert(name.to_string(), user);
        Ok(())
    }

    /// One config line: a user name, then its rules.
    pub(crate) fn load_line(&self, line: &str) -> Result<(), String> {
        let mut words = line.split_whitespace();
        let name = words.next().ok_or("an empty user line")?;
        let rules: Vec<&str> = words.collect();
        self.set_user(name, &rules)
    }

    /// The rules that make user `name` from nothing, as one line
    /// [`Acl::replace`] takes (its `ACL LIST` line without `user <name>`).
    pub(crate) fn rules_line(&self, name: &str) -> Option<String> {
        let user = self.user(name)?;
        let line = user.describe(name);
        let head = format!("user {name}");
        Some(line.strip_prefix(&head).unwrap_or(&line).trim().to_string())
    }

    /// What `ACL SETUSER name rules...` would make of the user, as
    /// [`Acl::rules_line`] spells it; nothing changes here.
    pub(crate) fn preview(&self, name: &str, rules: &[&str]) -> Result<String, String> {
        let scratch = Acl::default();
        if let Some(user) = self.user(name) {
            scratch.lock().insert(name.to_string(), user);
        }
        scratch.set_user(name, rules)?;
        scratch
            .rules_line(name)
            .ok_or_else(|| "ERR the user vanished".to_string())
    }

    /// Makes user `name` exactly what `line` (from [`Acl::rules_line`]) says.
    pub(crate) fn replace(&self, name: &str, line: &str) -> Result<(), String> {
        let mut user = User::new();
        for rule in line.split_whitespace() {
            user.apply(rule)
                .map_err(|why| format!("ERR Error in ACL rule '{rule}': {why}"))?;
        }
        self.lock().insert(name.to_string(), user);
        Ok(())
    }

    /// Removes user `name` (never `default`); whether it was there.
    pub(crate) fn remove(&self, name: &str) -> bool {
        name != "default" && self.lock().remove(name).is_some()
    }

    pub(crate) fn user(&self, name: &str) -> Option<User> {
        self.lock().get(name).cloned()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub(crate) fn list(&self) -> Vec<String> {
        self.lock().iter().map(|(n, u)| u.describe(n)).collect()
    }

    /// Whether `user` may log in with `pass` (`requirepass` stands for the
    /// default user's password unless it has its own).
    pub(crate) fn authenticate(&self, user: &[u8], pass: &[u8], requirepass: &str) -> bool {
        let Ok(name) = std::str::from_utf8(user) else {
            return false;
        };
        let Some(u) = self.user(name) else {
            return false;
        };
        if !u.enabled {
            return false;
        }
        if name == "default" && u.passwords.is_empty() && !requirepass.is_empty() {
            return constant_time_eq(pass, requirepass.as_bytes());
        }
        if u.nopass {
            return true;
        }
        let digest = sha256_hex(pass);
        u.passwords
            .iter()
            .any(|p| constant_time_eq(p.as_bytes(), digest.as_bytes()))
    }

    /// Whether a new connection starts logged in as `default` (on, and
    /// without a password).
    pub(crate) fn default_is_open(&self, requirepass: &str) -> bool {
        self.user("default").is_some_and(|u| {
            u.enabled && u.nopass && u.passwords.is_empty() && requirepass.is_empty()
        })
    }

    /// The rules a script run by `user` must follow in each `redis.call`:
    /// `None` when the user may run everything on every key (nothing to
    /// check), a copy of the user otherwise (an unknown user: no rights).
    pub(crate) fn limits(&self, user: &str) -> Option<User> {
        let users = self.lock();
        match users.get(user) {
            Some(u) if u.from_all && u.rules.is_empty() && u.keys.iter().any(|k| k == "~*") => None,
            Some(u) => Some(u.clone()),
            None => Some(User::default()),
        }
    }

    /// SORT's own refusal of a BY or GET pattern for a `user` who may not
    /// read every key (its error, in argument order, as Redis answers).
    pub(crate) fn sort_denied(&self, user: &str, spec: &Command, args: &[Bytes]) -> Option<String> {
        if !matches!(spec.name(), "sort" | "sort_ro") {
            return None;
        }
        let reads_all = self.limits(user).is_none_or(|u| u.reads_all_keys());
        match petrel_common::sort::parse(args, spec.name() == "sort_ro", reads_all) {
            Err(e) if e.is_acl() => Some(e.to_string()),
            _ => None,
        }
    }

    /// Whether `user` may run `spec` on `args`.
    pub(crate) fn check(&self, user: &str, spec: &Command, args: &[Bytes]) -> Result<(), Denied> {
        let users = self.lock();
        let Some(u) = users.get(user) else {
            return Err(Denied::Command(spec.name().to_string()));
        };
        if u.from_all && u.rules.is_empty() && u.keys.iter().any(|k| k == "~*") {
            return Ok(());
        }
        u.check(spec, args)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static Command {
        table().find(name.as_bytes()).expect("known")
    }

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn rules_decide_commands_and_keys() {
        let acl = Acl::default();
        acl.set_user("dave", &["on", ">pw", "~app:*", "+get", "+@hash"])
            .expect("setuser");
        assert!(acl.authenticate(b"dave", b"pw", ""));
        assert!(!acl.authenticate(b"dave", b"nope", ""));
        assert!(acl
            .check("dave", spec("get"), &args(&["get", "app:1"]))
            .is_ok());
        assert!(matches!(
            acl.check("dave", spec("get"), &args(&["get", "other"])),
            Err(Denied::Keys)
        ));
        assert!(matches!(
            acl.check("dave", spec("set"), &args(&["set", "app:1", "v"])),
            Err(Denied::Command(n)) if n == "set"
        ));
        assert!(acl
            .check("dave", spec("hset"), &args(&["hset", "app:h", "f", "v"]))
            .is_ok());
        assert_eq!(
            acl.user("dave").expect("dave").describe("dave"),
            format!(
                "user dave on #{} ~app:* resetchannels -@all +@hash +get",
                sha256_hex(b"pw")
            )
        );
        acl.set_user("dave", &["-@all"]).expect("setuser");
        assert!(acl
            .check("dave", spec("get"), &args(&["get", "app:1"]))
            .is_err());
        acl.set_user("dave", &["off"]).expect("setuser");
        assert!(!acl.authenticate(b"dave", b"pw", ""));
    }

    #[test]
    fn bad_rules_change_nothing() {
        let acl = Acl::default();
        let e = acl.set_user("g", &["on", "#abc"]).expect_err("bad hash");
        assert!(e.starts_with("ERR Error in ACL SETUSER modifier '#abc': The password hash"));
        assert!(acl.user("g").is_none());
        assert!(acl.set_user("g", &["+nosuchcmd"]).is_err());
        assert!(acl.set_user("g", &["+@nosuch"]).is_err());
        assert!(acl.set_user("g", &["<nosuch"]).is_err());
        assert!(acl.set_user("g", &["badrule"]).is_err());
        assert!(!acl.remove("default"));
        assert!(!acl.remove("nobody"));
    }

    #[test]
    fn config_lines_create_users() {
        let acl = Acl::default();
        acl.load_line("alice on >secret ~app:* +@read")
            .expect("valid");
        assert!(acl.authenticate(b"alice", b"secret", ""));
        assert!(acl.load_line("bob on badrule").is_err());
        assert!(acl.load_line("   ").is_err());
        let cfg = crate::config::ProxyConfig {
            users: vec!["carol on +nosuchcmd".into()],
            ..Default::default()
        };
        assert!(cfg
            .validate()
            .expect_err("bad rule")
            .to_string()
            .contains("users"));
    }

    #[test]
    fn the_default_user_follows_requirepass() {
        let acl = Acl::default();
        assert!(acl.default_is_open(""));
        assert!(!acl.default_is_open("secret"));
        assert!(acl.authenticate(b"default", b"secret", "secret"));
        assert!(!acl.authenticate(b"default", b"wrong", "secret"));
        assert_eq!(
            acl.list(),
            vec!["user default on nopass ~* &* +@all".to_string()]
        );
    }
}
