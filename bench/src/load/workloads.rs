//! Workloads: which commands an operation sends.
//!
//! Every key is `prefix` + a 12-digit key number (the shape of
//! redis-benchmark's `key:__rand_int__`); commands on other types add a type
//! word (`hash:`, `list:`, `zset:`, `counter:`) so running several
//! workloads one after another never meets WRONGTYPE.

use rand::Rng;

use petrel_common::hash::partition_of;

use super::client::encode;
use super::keys::KeyGen;
use super::options::Workload;

/// Keys per MSET, as in redis-benchmark.
pub(crate) const MSET_KEYS: usize = 10;

/// What an operation is reported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum OpKind {
    Set,
    Get,
    Incr,
    Mset,
    Hset,
    Lpush,
    Zadd,
    /// YCSB F: GET then SET of the same key.
    ReadModifyWrite,
    /// `MULTI / SET / SET / EXEC`, the two keys in one partition.
    Multi1p,
    /// `MULTI / SET / SET / EXEC`, the two keys in two partitions.
    Multi2p,
    /// `LMOVE` between two hot lists in two partitions.
    Lmove2p,
    /// `EVALSHA` of a one-key script doing one `INCR` (the script loaded
    /// first by `SCRIPT LOAD`).
    Evalsha1p,
    /// `MULTI / INCR a / INCR b / INCR c / EXEC`, a, b, c in three partitions.
    Multi3p,
    /// `EVAL` of a script doing `INCR` of its three keys, in three partitions.
    Script3p,
    /// `PUBLISH channel message`, timed to its reply.
    Publish,
    /// A published message reaching a subscriber, timed from the write of
    /// its `PUBLISH` to its arrival.
    Deliver,
}

/// The script of [`OpKind::Evalsha1p`].
pub(crate) const INCR_SCRIPT: &str = "return redis.call('INCR', KEYS[1])";

/// Its SHA1, which `EVALSHA` names it by.
pub(crate) const INCR_SCRIPT_SHA: &str = "61636018f4e6b5817b89791bbed242f93fa089e3";

/// The script of [`OpKind::Script3p`].
const INCR3_SCRIPT: &str =
    "redis.call('INCR', KEYS[1]) redis.call('INCR', KEYS[2]) return redis.call('INCR', KEYS[3])";

impl OpKind {
    /// All kinds, in report order.
    pub(crate) const ALL: [OpKind; 16] = [
        OpKind::Set,
        OpKind::Get,
        OpKind::Incr,
        OpKind::Mset,
        OpKind::Hset,
        OpKind::Lpush,
        OpKind::Zadd,
        OpKind::ReadModifyWrite,
        OpKind::Multi1p,
        OpKind::Multi2p,
        OpKind::Lmove2p,
        OpKind::Evalsha1p,
        OpKind::Multi3p,
        OpKind::Script3p,
        OpKind::Publish,
        OpKind::Deliver,
    ];

    /// Name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            OpKind::Set => "set",
            OpKind::Get => "get",
            OpKind::Incr => "incr",
            OpKind::Mset => "mset",
            OpKind::Hset => "hset",
            OpKind::Lpush => "lpush",
            OpKind::Zadd => "zadd",
            OpKind::ReadModifyWrite => "rmw",
            OpKind::Multi1p => "multi-1p",
            OpKind::Multi2p => "multi-2p",
            OpKind::Lmove2p => "lmove-2p",
            OpKind::Evalsha1p => "evalsha-1p",
            OpKind::Multi3p => "multi-3p",
            OpKind::Script3p => "script-3p",
            OpKind::Publish => "publish",
            OpKind::Deliver => "deliver",
        }
    }

    /// Index into per-kind tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One operation: a request, and for read-modify-write a second request
/// sent once the first reply is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Op {
    pub(crate) kind: OpKind,
    pub(crate) first: Vec<u8>,
    /// How many replies `first` brings (several commands: MULTI ... EXEC).
    pub(crate) replies: usize,
    pub(crate) then: Option<Vec<u8>>,
}

/// Builds operations for one client.
#[derive(Debug, Clone)]
pub(crate) struct OpGen {
    workload: Workload,
    keys: KeyGen,
    prefix: String,
    value: Vec<u8>,
    /// The table's partition count, to place keys in one or two partitions.
    partitions: u32,
}

impl OpGen {
    /// A generator of `workload` over `keys`, values of `data_size` bytes.
    pub(crate) fn new(
        workload: Workload,
        keys: KeyGen,
        prefix: &str,
        data_size: usize,
        partitions: u32,
    ) -> OpGen {
        OpGen {
            workload,
            keys,
            prefix: prefix.to_string(),
            value: vec![b'x'; data_size],
            partitions: partitions.max(1),
        }
    }

    /// `key` with a suffix that puts it in another partition than `other`
    /// (the same key when there is only one partition).
    fn elsewhere(&self, key: &[u8], other: &[u8]) -> Vec<u8> {
        let taken = partition_of(other, self.partitions);
        (0..64u32)
            .map(|i| [key, format!(":{i}").as_bytes()].concat())
            .find(|k| self.partitions == 1 || partition_of(k, self.partitions) != taken)
            .unwrap_or_else(|| key.to_vec())
    }

    /// Three keys of counters in three partitions (fewer when the table has
    /// fewer).
    fn three_counters<R: Rng>(&self, rng: &mut R) -> [Vec<u8>; 3] {
        let a = self.key(rng, "counter:");
        let b = self.elsewhere(&self.key(rng, "counter:"), &a);
        let taken = [
            partition_of(&a, self.partitions),
            partition_of(&b, self.partitions),
        ];
        let c0 = self.key(rng, "counter:");
        let c = (0..64u32)
            .map(|i| [&c0[..], format!(":{i}").as_bytes()].concat())
            .find(|k| self.partitions < 3 || !taken.contains(&partition_of(k, self.partitions)))
            .unwrap_or(c0);
        [a, b, c]
    }

    /// `MULTI / SET a / SET b / EXEC`.
    fn multi_of_two_sets(&self, a: &[u8], b: &[u8]) -> Vec<u8> {
        let v = &self.value[..];
        [
            encode(&[b"MULTI"]),
            encode(&[b"SET", a, v]),
            encode(&[b"SET", b, v]),
            encode(&[b"EXEC"]),
        ]
        .concat()
    }

    fn key<R: Rng>(&self, rng: &mut R, kind: &str) -> Vec<u8> {
        format!("{}{kind}{:012}", self.prefix, self.keys.next(rng)).into_bytes()
    }

    /// The next operation.
    pub(crate) fn next<R: Rng>(&self, rng: &mut R) -> Op {
        let v = &self.value[..];
        let mut replies = 1;
        let (kind, first, then) = match self.workload {
            Workload::Set => (OpKind::Set, encode(&[b"SET", &self.key(rng, ""), v]), None),
            Workload::Get => (OpKind::Get, encode(&[b"GET", &self.key(rng, "")]), None),
            Workload::Incr => (
                OpKind::Incr,
                encode(&[b"INCR", &self.key(rng, "counter:")]),
                None,
            ),
            Workload::Mset => {
                let keys: Vec<Vec<u8>> = (0..MSET_KEYS).map(|_| self.key(rng, "")).collect();
                let mut args: Vec<&[u8]> = vec![b"MSET"];
                for k in &keys {
                    args.push(k);
                    args.push(v);
                }
                (OpKind::Mset, encode(&args), None)
            }
            Workload::Hset => {
                let field = format!("f{}", rng.gen_range(0..100u32));
                let cmd = encode(&[b"HSET", &self.key(rng, "hash:"), field.as_bytes(), v]);
                (OpKind::Hset, cmd, None)
            }
            Workload::Lpush => (
                OpKind::Lpush,
                encode(&[b"LPUSH", &self.key(rng, "list:"), v]),
                None,
            ),
            Workload::Zadd => {
                let score = rng.gen_range(0..1_000_000u32).to_string();
                let member = format!("m{}", rng.gen_range(0..1000u32));
                let cmd = encode(&[
                    b"ZADD",
                    &self.key(rng, "zset:"),
                    score.as_bytes(),
                    member.as_bytes(),
                ]);
                (OpKind::Zadd, cmd, None)
            }
            Workload::YcsbA => self.read_or_update(rng, 0.5),
            Workload::YcsbB => self.read_or_update(rng, 0.95),
            Workload::YcsbC => self.read_or_update(rng, 1.0),
            Workload::YcsbF => {
                let key = self.key(rng, "");
                let get = encode(&[b"GET", &key]);
                (
                    OpKind::ReadModifyWrite,
                    get,
                    Some(encode(&[b"SET", &key, v])),
                )
            }
            Workload::Multi1p => {
                // One hash tag: both keys in the key's partition.
                let n = self.keys.next(rng);
                let a = format!("{}{{{n:012}}}a", self.prefix).into_bytes();
                let b = format!("{}{{{n:012}}}b", self.prefix).into_bytes();
                replies = 4;
                (OpKind::Multi1p, self.multi_of_two_sets(&a, &b), None)
            }
            Workload::Multi2p => {
                let a = self.key(rng, "");
                let b = self.elsewhere(&self.key(rng, ""), &a);
                replies = 4;
                (OpKind::Multi2p, self.multi_of_two_sets(&a, &b), None)
            }
            Workload::Lmove2p => {
                // Two hot lists in two partitions; each move goes either way,
                // so what a client moves out comes back (prefill them).
                let a = format!("{}hot:a", self.prefix).into_bytes();
                let b = self.elsewhere(format!("{}hot:b", self.prefix).as_bytes(), &a);
                let (from, to) = if rng.gen::<bool>() { (a, b) } else { (b, a) };
                let cmd = encode(&[b"LMOVE", &from, &to, b"RIGHT", b"LEFT"]);
                (OpKind::Lmove2p, cmd, None)
            }
            Workload::Evalsha1p => {
                let key = self.key(rng, "counter:");
                let cmd = encode(&[b"EVALSHA", INCR_SCRIPT_SHA.as_bytes(), b"1", &key]);
                (OpKind::Evalsha1p, cmd, None)
            }
            Workload::Multi3p => {
                let [a, b, c] = self.three_counters(rng);
                replies = 5;
                let cmd = [
                    encode(&[b"MULTI"]),
                    encode(&[b"INCR", &a]),
                    encode(&[b"INCR", &b]),
                    encode(&[b"INCR", &c]),
                    encode(&[b"EXEC"]),
                ]
                .concat();
                (OpKind::Multi3p, cmd, None)
            }
            Workload::Script3p => {
                let [a, b, c] = self.three_counters(rng);
                let cmd = encode(&[b"EVAL", INCR3_SCRIPT.as_bytes(), b"3", &a, &b, &c]);
                (OpKind::Script3p, cmd, None)
            }
            // The pubsub workload runs its own loop (`load::pubsub`); as a
            // plain operation it is one PUBLISH to a channel of the key space.
            Workload::Pubsub => {
                let channel = self.key(rng, "chan:");
                (OpKind::Publish, encode(&[b"PUBLISH", &channel, v]), None)
            }
        };
        Op {
            kind,
            first,
            replies,
            then,
        }
    }

    fn read_or_update<R: Rng>(
        &self,
        rng: &mut R,
        read_share: f64,
    ) -> (OpKind, Vec<u8>, Option<Vec<u8>>) {
        let key = self.key(rng, "");
        if read_share >= 1.0 || rng.gen::<f64>() < read_share {
            (OpKind::Get, encode(&[b"GET", &key]), None)
        } else {
            (OpKind::Set, encode(&[b"SET", &key, &self.value]), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::options::Distribution;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn gen(w: Workload) -> OpGen {
        OpGen::new(w, KeyGen::new(Distribution::Sequential, 10), "k:", 3, 8)
    }

    /// The words of RESP requests (names and arguments, in order), split
    /// back out of their encoding (fine for arguments without CR LF).
    fn words(request: &[u8]) -> Vec<Vec<u8>> {
        let text = String::from_utf8_lossy(request);
        text.split("\r\n")
            .filter(|l| !l.starts_with('*') && !l.starts_with('$') && !l.is_empty())
            .map(|l| l.as_bytes().to_vec())
            .collect()
    }

    #[test]
    fn transaction_workloads_place_their_keys_as_named() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..50 {
            let one = gen(Workload::Multi1p).next(&mut rng);
            assert_eq!(one.replies, 4);
            assert!(one.first.starts_with(b"*1\r\n$5\r\nMULTI\r\n"));
            assert!(one.first.ends_with(b"*1\r\n$4\r\nEXEC\r\n"));
            let w: Vec<Vec<u8>> = words(&one.first);
            // MULTI, SET a v, SET b v, EXEC
            let (a, b) = (&w[2], &w[5]);
            assert_eq!(partition_of(a, 8), partition_of(b, 8), "{w:?}");
            let two = gen(Workload::Multi2p).next(&mut rng);
            let w = words(&two.first);
            let (a, b) = (&w[2], &w[5]);
            assert_ne!(partition_of(a, 8), partition_of(b, 8), "{w:?}");
            for w in [Workload::Multi3p, Workload::Script3p] {
                let op = gen(w).next(&mut rng);
                let words = words(&op.first);
                let mut keys: Vec<&Vec<u8>> = words
                    .iter()
                    .filter(|w| w.starts_with(b"k:counter:"))
                    .collect();
                assert_eq!(keys.len(), 3, "{words:?}");
                keys.dedup_by_key(|k| partition_of(k, 8));
                let parts: std::collections::BTreeSet<u32> =
                    keys.iter().map(|k| partition_of(k, 8)).collect();
                assert_eq!(parts.len(), 3, "{w:?}: {words:?}");
            }
            let mv = gen(Workload::Lmove2p).next(&mut rng);
            assert_eq!(mv.replies, 1);
            let w = words(&mv.first);
            assert_eq!(w[0], b"LMOVE");
            assert_ne!(partition_of(&w[1], 8), partition_of(&w[2], 8), "{w:?}");
        }
    }

    #[test]
    fn commands_on_the_wire() {
        let mut rng = StdRng::seed_from_u64(1);
        let op = gen(Workload::Set).next(&mut rng);
        assert_eq!(
            op.first,
            b"*3\r\n$3\r\nSET\r\n$14\r\nk:000000000000\r\n$3\r\nxxx\r\n"
        );
        let op = gen(Workload::YcsbF).next(&mut rng);
        assert_eq!(op.kind, OpKind::ReadModifyWrite);
        assert!(op
            .then
            .unwrap()
            .starts_with(b"*3\r\n$3\r\nSET\r\n$14\r\nk:000000000000"));
        let op = gen(Workload::Mset).next(&mut rng);
        assert!(op.first.starts_with(b"*21\r\n$4\r\nMSET\r\n"));
    }

    #[test]
    fn ycsb_mixes() {
        let mut rng = StdRng::seed_from_u64(2);
        let g = gen(Workload::YcsbB);
        let reads = (0..10_000)
            .filter(|_| g.next(&mut rng).kind == OpKind::Get)
            .count();
        assert!((9300..9700).contains(&reads), "{reads}");
        let g = gen(Workload::YcsbC);
        assert!((0..100).all(|_| g.next(&mut rng).kind == OpKind::Get));
    }
}
