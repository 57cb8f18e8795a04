//! The engines: [`Scripts`] for EVAL-style scripts, [`Functions`] for
//! FUNCTION libraries. Each owns one sandboxed Lua state (Redis keeps the
//! two apart too) and a [`Monitor`] other threads use to see how long the
//! current script has run and to kill it.
//!
//! A run is synchronous: the caller's thread runs the script, and every
//! `redis.call` goes to the [`Host`] passed in for that run.

mod functions;
mod run;
mod scripts;

pub use functions::{Function, Functions, Library};
pub use run::{EngineConfig, RunOptions};
pub use scripts::{Scripts, NOSCRIPT};
