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

/// The reply to a keyless command a host answers itself inside a script
/// (`PING`, `ECHO`, `TIME`), or `None` for any other. `name` is the
/// command's name in the table (lowercase).
pub fn keyless_reply(name: &str, args: &[Bytes]) -> Option<Reply> {
    match name {
        "ping" => Some(
            args.get(1)
                .cloned()
                .map_or(Reply::Status("PONG".into()), Reply::Bulk),
        ),
        "echo" => Some(args.get(1).cloned().map_or(Reply::Nil, Reply::Bulk)),
        "time" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Some(Reply::Array(vec![
                Reply::Bulk(Bytes::from(now.as_secs().to_string())),
                Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
            ]))
        }
        _ => None,
    }
}

/// The host of a library while `FUNCTION LOAD` runs its body, which may
/// call no command (Redis refuses `redis.call` there before the host hears
/// of it).
pub struct NoCalls;

impl Host for NoCalls {
    fn call(&mut self, _: Vec<Bytes>) -> Reply {
        Reply::error("ERR a library cannot call commands while it loads")
    }
}
