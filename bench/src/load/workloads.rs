//! Workloads: which commands an operation sends.
//!
//! Every key is `prefix` + a 12-digit key number (the shape of
//! redis-benchmark's `key:__rand_int__`); commands on other types add a type
//! word (`hash:`, `list:`, `zset:`, `counter:`) so running several
//! workloads one after another never meets WRONGTYPE.

use rand::Rng;

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
}

impl OpKind {
    /// All kinds, in report order.
    pub(crate) const ALL: [OpKind; 8] = [
        OpKind::Set,
        OpKind::Get,
        OpKind::Incr,
        OpKind::Mset,
        OpKind::Hset,
        OpKind::Lpush,
        OpKind::Zadd,
        OpKind::ReadModifyWrite,
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
    pub(crate) then: Option<Vec<u8>>,
}

/// Builds operations for one client.
#[derive(Debug, Clone)]
pub(crate) struct OpGen {
    workload: Workload,
    keys: KeyGen,
    prefix: String,
    value: Vec<u8>,
}

impl OpGen {
    /// A generator of `workload` over `keys`, values of `data_size` bytes.
    pub(crate) fn new(workload: Workload, keys: KeyGen, prefix: &str, data_size: usize) -> OpGen {
        OpGen {
            workload,
            keys,
            prefix: prefix.to_string(),
            value: vec![b'x'; data_size],
        }
    }

    fn key<R: Rng>(&self, rng: &mut R, kind: &str) -> Vec<u8> {
        format!("{}{kind}{:012}", self.prefix, self.keys.next(rng)).into_bytes()
    }

    /// The next operation.
    pub(crate) fn next<R: Rng>(&self, rng: &mut R) -> Op {
        let v = &self.value[..];
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
        };
        Op { kind, first, then }
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
        OpGen::new(w, KeyGen::new(Distribution::Sequential, 10), "k:", 3)
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
