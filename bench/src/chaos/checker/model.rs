//! The model of one Redis key, as the linearizability search sees it.
//!
//! [`apply`] is the reference: a key holds `Option<String>` and each command
//! does what Redis does. The search runs on a compiled copy (`State`,
//! `Step`) where values are interned and integers are kept as `i64`; the
//! tests check the two agree.

use std::collections::HashMap;

use crate::chaos::history::{Command, Reply};

/// Parses `s` the way Redis parses an INCR operand: an optional `-`, no `+`,
/// no spaces, no leading zeros (except `"0"` itself, and never `"-0"`), and
/// within `i64`. Exactly the strings `i64::to_string` produces.
pub(crate) fn parse_redis_int(s: &str) -> Option<i64> {
    let i: i64 = s.parse().ok()?;
    (i.to_string() == s).then_some(i)
}

/// Why a command cannot succeed on the current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ModelError {
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    #[error("ERR increment or decrement would overflow")]
    Overflow,
}

/// Applies `command` to a key holding `state`, as Redis would: the new
/// state and the reply, or the error that leaves the key unchanged.
pub(crate) fn apply(
    state: &Option<String>,
    command: &Command,
) -> Result<(Option<String>, Reply), ModelError> {
    match command {
        Command::Get => Ok((state.clone(), state.clone().map_or(Reply::Nil, Reply::Str))),
        Command::Set(v) => Ok((Some(v.clone()), Reply::Ok)),
        Command::Del => Ok((None, Reply::Int(i64::from(state.is_some())))),
        Command::Incr => {
            let old = match state {
                None => 0,
                Some(s) => parse_redis_int(s).ok_or(ModelError::NotAnInteger)?,
            };
            let new = old.checked_add(1).ok_or(ModelError::Overflow)?;
            Ok((Some(new.to_string()), Reply::Int(new)))
        }
    }
}

/// A key's value in the compiled model. Copy, so the search stacks and
/// memoizes it cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum State {
    Nil,
    /// A value that is a Redis integer (however it was written).
    Int(i64),
    /// A non-integer value some GET returned, interned.
    Str(u32),
    /// Any non-integer value no GET ever returned. Such values are
    /// indistinguishable to every later command (GET cannot match them, DEL
    /// sees a value, INCR fails), so merging them loses nothing and lets
    /// the memo see more states as equal.
    Junk,
}

/// A command in the compiled model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Cmd {
    Get,
    Set(State),
    Incr,
    Del,
}

/// What the recorded reply demands of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// No reply known (outcome unknown, or `SET` answered `OK`).
    Any,
    /// GET must see this value.
    Value(State),
    /// INCR must return this.
    Int(i64),
    /// DEL must find (true) or not find (false) a value.
    Existed(bool),
    /// The reply cannot come from this command (e.g. GET answering an
    /// integer): the op can never be linearized.
    Impossible,
}

/// One command with its demanded reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Step {
    pub(crate) cmd: Cmd,
    pub(crate) expect: Expect,
}

impl Step {
    /// Whether the step leaves the state as it is wherever it applies
    /// (a GET, or a DEL that found nothing).
    pub(crate) fn is_read(&self) -> bool {
        matches!(
            (self.cmd, self.expect),
            (Cmd::Get, _) | (Cmd::Del, Expect::Existed(false))
        )
    }

    /// The state after this step, or None if the step cannot happen here
    /// with the recorded reply.
    pub(crate) fn apply(&self, state: State) -> Option<State> {
        match (self.cmd, self.expect) {
            (_, Expect::Impossible) => None,
            // Junk is never read back: a GET reply is always interned.
            (Cmd::Get, Expect::Value(v)) => (v == state && v != State::Junk).then_some(state),
            (Cmd::Get, _) => Some(state),
            (Cmd::Set(v), _) => Some(v),
            (Cmd::Incr, expect) => {
                let new = match state {
                    State::Nil => 1,
                    State::Int(i) => i.checked_add(1)?,
                    State::Str(_) | State::Junk => return None,
                };
                match expect {
                    Expect::Int(e) if e != new => None,
                    _ => Some(State::Int(new)),
                }
            }
            (Cmd::Del, expect) => {
                let existed = state != State::Nil;
                match expect {
                    Expect::Existed(e) if e != existed => None,
                    _ => Some(State::Nil),
                }
            }
        }
    }
}

/// Interns the non-integer values GETs returned on one key.
#[derive(Debug, Default)]
pub(super) struct Values {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Values {
    /// Records `s` as observed by a GET.
    pub(crate) fn observe(&mut self, s: &str) {
        if parse_redis_int(s).is_none() && !self.ids.contains_key(s) {
            self.ids.insert(s.to_string(), self.names.len() as u32);
            self.names.push(s.to_string());
        }
    }

    #[cfg(test)]
    pub(crate) fn is_observed(&self, s: &str) -> bool {
        self.ids.contains_key(s)
    }

    /// The compiled state of a value written or read.
    pub(crate) fn state_of(&self, s: &str) -> State {
        match parse_redis_int(s) {
            Some(i) => State::Int(i),
            None => self.ids.get(s).map_or(State::Junk, |&id| State::Str(id)),
        }
    }
}

/// The compiled step for a command and its outcome (`None` reply = unknown).
pub(super) fn compile(values: &Values, command: &Command, reply: Option<&Reply>) -> Step {
    let cmd = match command {
        Command::Get => Cmd::Get,
        Command::Set(v) => Cmd::Set(values.state_of(v)),
        Command::Incr => Cmd::Incr,
        Command::Del => Cmd::Del,
    };
    let expect = match (command, reply) {
        (_, None) => Expect::Any,
        (Command::Get, Some(Reply::Nil)) => Expect::Value(State::Nil),
        (Command::Get, Some(Reply::Str(s))) => Expect::Value(values.state_of(s)),
        (Command::Set(_), Some(Reply::Ok)) => Expect::Any,
        (Command::Incr, Some(Reply::Int(i))) => Expect::Int(*i),
        (Command::Del, Some(Reply::Int(0))) => Expect::Existed(false),
        (Command::Del, Some(Reply::Int(1))) => Expect::Existed(true),
        _ => Expect::Impossible,
    };
    Step { cmd, expect }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_integers() {
        for (s, v) in [
            ("0", Some(0)),
            ("1", Some(1)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-0", None),
            ("+1", None),
            ("01", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("-", None),
            ("1.0", None),
            ("abc", None),
        ] {
            assert_eq!(parse_redis_int(s), v, "{s:?}");
        }
    }

    #[test]
    fn reference_model() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(apply(&None, &Command::Get), Ok((None, Reply::Nil)));
        assert_eq!(
            apply(&s("a"), &Command::Get),
            Ok((s("a"), Reply::Str("a".into())))
        );
        assert_eq!(
            apply(&None, &Command::Set("b".into())),
            Ok((s("b"), Reply::Ok))
        );
        assert_eq!(apply(&None, &Command::Del), Ok((None, Reply::Int(0))));
        assert_eq!(apply(&s("a"), &Command::Del), Ok((None, Reply::Int(1))));
        assert_eq!(apply(&None, &Command::Incr), Ok((s("1"), Reply::Int(1))));
        assert_eq!(
            apply(&s("41"), &Command::Incr),
            Ok((s("42"), Reply::Int(42)))
        );
        assert_eq!(apply(&s("-1"), &Command::Incr), Ok((s("0"), Reply::Int(0))));
        assert_eq!(
            apply(&s("a"), &Command::Incr),
            Err(ModelError::NotAnInteger)
        );
        assert_eq!(
            apply(&s("01"), &Command::Incr),
            Err(ModelError::NotAnInteger)
        );
        assert_eq!(
            apply(&s("9223372036854775807"), &Command::Incr),
            Err(ModelError::Overflow)
        );
    }

    /// The compiled model accepts exactly the replies the reference gives.
    #[test]
    fn compiled_model_agrees_with_reference() {
        let strings = ["a", "b", "0", "1", "2", "01", "-0", "9223372036854775807"];
        let mut values = Values::default();
        for s in ["a", "1", "01"] {
            values.observe(s);
        }
        let mut states: Vec<Option<String>> = vec![None];
        states.extend(strings.iter().map(|s| Some(s.to_string())));
        let mut commands = vec![Command::Get, Command::Incr, Command::Del];
        commands.extend(strings.iter().map(|s| Command::Set(s.to_string())));
        let mut replies = vec![
            Reply::Nil,
            Reply::Ok,
            Reply::Int(0),
            Reply::Int(1),
            Reply::Int(2),
        ];
        replies.extend(strings.iter().map(|s| Reply::Str(s.to_string())));
        let compiled = |s: &Option<String>| s.as_deref().map_or(State::Nil, |v| values.state_of(v));
        for state in &states {
            for command in &commands {
                let reference = apply(state, command);
                for reply in &replies {
                    let got = compile(&values, command, Some(reply)).apply(compiled(state));
                    let want = match &reference {
                        Ok((next, r)) if r == reply => Some(compiled(next)),
                        _ => None,
                    };
                    // A GET of an unobserved value can only be matched by
                    // Junk if some GET returned it, which then observed it.
                    let unobserved_read = matches!((command, reply), (Command::Get, Reply::Str(v)) if parse_redis_int(v).is_none() && !values.is_observed(v));
                    if !unobserved_read {
                        assert_eq!(got, want, "{state:?} {command:?} -> {reply:?}");
                    }
                }
                let unknown = compile(&values, command, None).apply(compiled(state));
                assert_eq!(
                    unknown,
                    reference.ok().map(|(next, _)| compiled(&next)),
                    "{state:?} {command:?} -> unknown"
                );
            }
        }
    }
}
