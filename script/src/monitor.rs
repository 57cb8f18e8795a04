//! The running script's clock and kill switch, shared with other threads.
//!
//! The thread running a script checks the monitor from a Lua count hook
//! (every 100,000 instructions, as Redis); other threads ask how long it has
//! run (to answer `BUSY` past `busy-reply-threshold`) and request a kill
//! (`SCRIPT KILL`, `FUNCTION KILL`). Petrel holds a script's writes until it
//! ends, so any script can be killed.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a running script must stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `SCRIPT KILL` / `FUNCTION KILL`.
    Killed,
    /// A FUNCTION LOAD body ran past its budget.
    LoadTimeout,
    /// A script ran past the budget its host gave it ([`crate::RunOptions`]).
    PastBudget,
}

impl Stop {
    /// The error a stopped script raises (Redis's texts).
    pub(crate) fn message(self) -> &'static str {
        match self {
            Stop::Killed => KILLED,
            Stop::LoadTimeout => "ERR FUNCTION LOAD timeout",
            Stop::PastBudget => PAST_BUDGET,
        }
    }
}

/// The start of a killed script's error reply (Redis's text).
pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// Whether `reply` is a killed script's (`SCRIPT KILL`, or a host's time
/// limit): hosts apply none of its writes.
pub fn was_killed(reply: &petrel_common::reply::Reply) -> bool {
    matches!(reply, petrel_common::reply::Reply::Error(e) if e.starts_with(KILLED))
}

/// The start of the error of a script stopped at its host's budget.
pub const PAST_BUDGET: &str = "ERR the script ran past its budget";

/// Whether `reply` is a script's stopped at its host's budget
/// ([`crate::RunOptions::budget`]): the host applies none of its writes
/// and may run it again where it can take longer.
pub fn past_budget(reply: &petrel_common::reply::Reply) -> bool {
    matches!(reply, petrel_common::reply::Reply::Error(e) if e.starts_with(PAST_BUDGET))
}

/// What is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Eval,
    Function,
}

#[derive(Default)]
struct Running {
    started: Option<Instant>,
    kind: Option<Kind>,
    deadline: Option<Instant>,
    /// Why it stops at the deadline.
    at_deadline: Option<Stop>,
}

/// Why a kill request was refused, with Redis's error texts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KillError {
    /// Nothing is running.
    #[error("NOTBUSY No scripts in execution right now.")]
    NotBusy,
    /// `SCRIPT KILL` while a function runs.
    #[error(
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    )]
    FunctionRunning,
    /// `FUNCTION KILL` while an EVAL script runs.
    #[error(
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    )]
    ScriptRunning,
}

/// A handle on the script an [`crate::Engine`] is running; cheap to clone.
#[derive(Clone, Default)]
pub struct Monitor {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    running: Mutex<Running>,
    /// 0: run on; else a [`Stop`] + 1.
    stop: AtomicU8,
}

impl Monitor {
    /// How long the current script has run; `None` when none runs.
    pub fn running_for(&self) -> Option<Duration> {
        self.lock().started.map(|s| s.elapsed())
    }

    /// Whether other clients should get `BUSY`: a script has run past `threshold`.
    pub fn is_busy(&self, threshold: Duration) -> bool {
        self.running_for().is_some_and(|d| d >= threshold)
    }

    /// `SCRIPT KILL` (`function = false`) or `FUNCTION KILL` (`true`).
    pub fn kill(&self, function: bool) -> Result<(), KillError> {
        let running = self.lock();
        match (running.kind, function) {
            (None, _) => Err(KillError::NotBusy),
            (Some(Kind::Function), false) => Err(KillError::FunctionRunning),
            (Some(Kind::Eval), true) => Err(KillError::ScriptRunning),
            _ => {
                self.inner
                    .stop
                    .store(1 + Stop::Killed as u8, Ordering::SeqCst);
                Ok(())
            }
        }
    }

    pub(crate) fn start(&self, kind: Kind, budget: Option<Duration>, at_deadline: Stop) {
        let now = Instant::now();
        let mut running = self.lock();
        running.started = Some(now);
        running.kind = Some(kind);
        running.deadline = budget.map(|b| now + b);
        running.at_deadline = Some(at_deadline);
        self.inner.stop.store(0, Ordering::SeqCst);
    }

    pub(crate) fn finish(&self) {
        *self.lock() = Running::default();
        self.inner.stop.store(0, Ordering::SeqCst);
    }

    /// Called from the count hook: whether the script must stop now.
    pub(crate) fn check(&self) -> Option<Stop> {
        if let Some(stop) = self.stopped() {
            return Some(stop);
        }
        let (deadline, stop) = {
            let running = self.lock();
            (
                running.deadline,
                running.at_deadline.unwrap_or(Stop::LoadTimeout),
            )
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            self.inner.stop.store(1 + stop as u8, Ordering::SeqCst);
            return Some(stop);
        }
        None
    }

    /// The stop already decided, if any (no lock: asked on error paths).
    pub(crate) fn stopped(&self) -> Option<Stop> {
        match self.inner.stop.load(Ordering::SeqCst) {
            0 => None,
            1 => Some(Stop::Killed),
            2 => Some(Stop::LoadTimeout),
            _ => Some(Stop::PastBudget),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Running> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}
