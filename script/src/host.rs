//! What a script needs from where it runs.

use bytes::Bytes;
use petrel_common::pubsub::PublishMsg;
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

/// What `redis.call('publish', ...)` answers inside a script: no client has
/// received the message yet (it is sent once the script's writes commit),
/// and how many will is not known before then.
pub const HELD_PUBLISH_REPLY: i64 = 0;

/// The message of a `PUBLISH` or `SPUBLISH` (`name` as in the table, its
/// arity checked), which a host holds instead of running: a script's
/// messages go out once its writes have committed, in the order it made
/// them, and not at all when it fails ([`Held::settle`]). `None` for any
/// other command.
pub fn held_publish(name: &str, args: &[Bytes]) -> Option<PublishMsg> {
    let shard = match name {
        "publish" => false,
        "spublish" => true,
        _ => return None,
    };
    match args {
        [_, channel, message] => Some(PublishMsg {
            channel: channel.clone(),
            message: message.clone(),
            shard,
            ..PublishMsg::default()
        }),
        _ => None,
    }
}

/// The messages one run of scripts published, in order, held until their
/// writes commit.
#[derive(Clone, Debug, PartialEq)]
pub struct Held<T = PublishMsg> {
    messages: Vec<T>,
}

impl<T> Default for Held<T> {
    fn default() -> Self {
        Held {
            messages: Vec::new(),
        }
    }
}

impl<T> Held<T> {
    /// Holds one more message.
    pub fn push(&mut self, message: T) {
        self.messages.push(message);
    }

    /// How many are held: a mark for [`Held::settle`].
    pub fn mark(&self) -> usize {
        self.messages.len()
    }

    /// A script that started at `mark` ended with `reply`: when that is an
    /// error (it failed, was stopped, or its reply could not be carried),
    /// the messages it published are dropped.
    pub fn settle(&mut self, mark: usize, reply: &Reply) {
        if reply.is_error() {
            self.messages.truncate(mark);
        }
    }

    /// Forgets everything (the run starts over).
    pub fn clear(&mut self) {
        self.messages.clear();
    }

    /// The messages, in the order they were published.
    pub fn into_messages(self) -> Vec<T> {
        self.messages
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
