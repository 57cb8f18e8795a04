//! Blocking multi-key pops over keys of several partitions: run as their
//! non-blocking forms inside a transaction (which pops from the first
//! non-empty key, atomically), their replies reshaped to the blocking
//! command's. The waiting (poll and retry until the client's timeout) is
//! in [`super::run_blocking`].

use bytes::Bytes;
use petrel_common::command::{table, Command};
use petrel_common::reply::Reply;

use super::call::Call;

/// How a non-blocking form's reply becomes the blocking command's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Unchanged (not a blocking command; BLMPOP and BZMPOP as LMPOP and
    /// ZMPOP).
    Same,
    /// Nothing popped is the blocking timeout reply (the null array), as
    /// the server answers BLMOVE and BRPOPLPUSH (LMOVE, RPOPLPUSH).
    NilIsNilArray,
    /// LMPOP's `[key, [item]]` as BLPOP's `[key, item]`.
    KeyItem,
    /// ZMPOP's `[key, [[member, score]]]` as BZPOPMIN's `[key, member, score]`.
    KeyMemberScore,
}

impl Shape {
    /// `reply` (the non-blocking form's) as the client's command answers.
    pub(crate) fn apply(self, reply: Reply) -> Reply {
        match (self, reply) {
            (Shape::Same, r) => r,
            (_, Reply::Nil | Reply::NilArray) => Reply::NilArray,
            (Shape::NilIsNilArray, r) => r,
            (Shape::KeyItem | Shape::KeyMemberScore, Reply::Array(mut kv)) if kv.len() == 2 => {
                let items = kv.pop();
                let key = kv.pop().unwrap_or(Reply::Nil);
                let first = match items {
                    Some(Reply::Array(mut items)) if !items.is_empty() => items.swap_remove(0),
                    _ => return Reply::NilArray,
                };
                match (self, first) {
                    (Shape::KeyMemberScore, Reply::Array(ms)) => {
                        let mut out = vec![key];
                        out.extend(ms);
                        Reply::Array(out)
                    }
                    (_, item) => Reply::Array(vec![key, item]),
                }
            }
            (_, r) => r,
        }
    }
}

fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// The non-blocking form of a blocking call (`BLPOP k1 k2 5` as `LMPOP 2
/// k1 k2 LEFT`), and how to reshape its reply; `None` for a call that is
/// not a blocking pop (or too short to be one: the server answers it).
pub(crate) fn nonblocking(command: &Command, args: &[Bytes]) -> Option<(Call, Shape)> {
    let name = command.name();
    let n = args.len();
    let (new, rest, shape): (&str, Vec<Bytes>, Shape) = match name {
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" if n >= 3 => {
            let keys = &args[1..n - 1];
            let mut rest = vec![Bytes::from(keys.len().to_string())];
            rest.extend(keys.iter().cloned());
            let (new, end, shape) = match name {
                "blpop" => ("lmpop", "LEFT", Shape::KeyItem),
                "brpop" => ("lmpop", "RIGHT", Shape::KeyItem),
                "bzpopmin" => ("zmpop", "MIN", Shape::KeyMemberScore),
                _ => ("zmpop", "MAX", Shape::KeyMemberScore),
            };
            rest.push(word(end));
            (new, rest, shape)
        }
        "blmpop" | "bzmpop" if n >= 3 => {
            let new = if name == "blmpop" { "lmpop" } else { "zmpop" };
            (new, args[2..].to_vec(), Shape::Same)
        }
        "blmove" if n >= 3 => ("lmove", args[1..n - 1].to_vec(), Shape::NilIsNilArray),
        "brpoplpush" if n >= 3 => ("rpoplpush", args[1..n - 1].to_vec(), Shape::NilIsNilArray),
        _ => return None,
    };
    let command = table().find(new.as_bytes())?;
    let mut out = vec![Bytes::from(new.to_ascii_uppercase())];
    out.extend(rest);
    Some((Call { command, args: out }, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<Bytes> {
        w.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    fn b(s: &str) -> Reply {
        Reply::Bulk(Bytes::from(s.to_string()))
    }

    fn form(args: &[&str]) -> (Vec<Bytes>, Shape) {
        let args = words(args);
        let command = table().find(&args[0]).expect("command");
        let (call, shape) = nonblocking(command, &args).expect("blocking");
        (call.args, shape)
    }

    #[test]
    fn blocking_pops_become_their_nonblocking_forms() {
        assert_eq!(
            form(&["BLPOP", "a", "b", "0"]),
            (words(&["LMPOP", "2", "a", "b", "LEFT"]), Shape::KeyItem)
        );
        assert_eq!(
            form(&["BZPOPMAX", "z", "1.5"]).0,
            words(&["ZMPOP", "1", "z", "MAX"])
        );
        assert_eq!(
            form(&["BLMPOP", "1", "2", "a", "b", "RIGHT", "COUNT", "2"]),
            (
                words(&["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "2"]),
                Shape::Same
            )
        );
        assert_eq!(
            form(&["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]).0,
            words(&["LMOVE", "a", "b", "LEFT", "RIGHT"])
        );
        assert_eq!(
            form(&["BRPOPLPUSH", "a", "b", "0"]).0,
            words(&["RPOPLPUSH", "a", "b"])
        );
        let get = table().find(b"get").expect("get");
        assert!(nonblocking(get, &words(&["GET", "a"])).is_none());
    }

    #[test]
    fn replies_take_the_blocking_shape() {
        let popped = Reply::Array(vec![b("k"), Reply::Array(vec![b("v")])]);
        assert_eq!(
            Shape::KeyItem.apply(popped),
            Reply::Array(vec![b("k"), b("v")])
        );
        let zpopped = Reply::Array(vec![
            b("z"),
            Reply::Array(vec![Reply::Array(vec![b("m"), Reply::Double(2.0)])]),
        ]);
        assert_eq!(
            Shape::KeyMemberScore.apply(zpopped),
            Reply::Array(vec![b("z"), b("m"), Reply::Double(2.0)])
        );
        assert_eq!(Shape::NilIsNilArray.apply(Reply::Nil), Reply::NilArray);
        assert_eq!(Shape::NilIsNilArray.apply(b("x")), b("x"));
        assert_eq!(Shape::KeyItem.apply(Reply::NilArray), Reply::NilArray);
        assert_eq!(Shape::Same.apply(Reply::Nil), Reply::Nil);
    }
}
