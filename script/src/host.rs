//! What a script needs from where it runs.

use bytes::Bytes;
use petrel_common::reply::Reply;

/// A `redis.log` level (Redis's `LL_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// `redis.LOG_DEBUG`
    Debug,
    /// `redis.LOG_VERBOSE`
    Verbose,
    /// `redis.LOG_NOTICE`
    Notice,
    /// `redis.LOG_WARNING`
    Warning,
}

/// The server or proxy a script runs in.
///
/// The engine has already refused what Redis refuses before running a
/// command from a script (unknown command, wrong arity, `noscript` commands,
/// writes from a read-only script); the host checks ACLs and runs it.
pub trait Host {
    /// Runs one command (`args[0]` is its name) and returns its reply.
    fn call(&mut self, args: Vec<Bytes>) -> Reply;

    /// Whether the calling user may run `args`: `Err` holds Redis's ACL
    /// text (`No permissions to run the 'set' command`), which the engine
    /// prefixes with "The user executing the script ".
    fn acl_check(&mut self, args: &[Bytes]) -> Result<(), String> {
        let _ = args;
        Ok(())
    }

    /// `redis.log(level, ...)`: the message is the arguments joined by spaces.
    fn log(&mut self, level: LogLevel, message: &[u8]) {
        let _ = (level, message);
    }
}
