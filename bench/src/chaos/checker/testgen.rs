//! Random histories of one key from a simulated linearizable Redis key, for
//! tests: each op takes effect at a random point inside its interval (an
//! unknown op late, or never), so the result is linearizable by
//! construction.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::model::apply;
use crate::chaos::history::{Command, Op, Outcome, Reply};

/// Which commands the simulated clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mix {
    /// GET, SET of unique non-integer values, DEL.
    Register,
    /// INCR and GET.
    Counter,
    /// Everything, including SETs of small integers.
    Mixed,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Sim {
    pub(crate) processes: usize,
    pub(crate) ops: usize,
    pub(crate) mix: Mix,
    /// Chance an op's outcome is unknown.
    pub(crate) p_unknown: f64,
    /// Chance an unknown op takes effect at all.
    pub(crate) p_lands: f64,
    /// Longest time from invocation to effect and from effect to reply.
    pub(crate) latency: u64,
}

impl Sim {
    pub(crate) fn new(mix: Mix, processes: usize, ops: usize) -> Self {
        Sim {
            processes,
            ops,
            mix,
            p_unknown: 0.0,
            p_lands: 0.5,
            latency: 1_000,
        }
    }

    pub(crate) fn unknowns(self, p_unknown: f64) -> Self {
        Sim { p_unknown, ..self }
    }
}

fn command(rng: &mut StdRng, mix: Mix, id: u64) -> Command {
    let r = rng.gen_range(0..100);
    match mix {
        Mix::Register => match r {
            0..=44 => Command::Get,
            45..=84 => Command::Set(format!("v{id}")),
            _ => Command::Del,
        },
        Mix::Counter => match r {
            0..=69 => Command::Incr,
            _ => Command::Get,
        },
        Mix::Mixed => match r {
            0..=34 => Command::Get,
            35..=54 => Command::Set(format!("v{id}")),
            55..=59 => Command::Set(rng.gen_range(0..4).to_string()),
            60..=84 => Command::Incr,
            _ => Command::Del,
        },
    }
}

/// A linearizable history of key "k".
pub(super) fn simulate(seed: u64, sim: &Sim) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    let lat = sim.latency.max(1);
    // (next free time, process id) per client slot.
    let mut slots: Vec<(u64, u64)> = (0..sim.processes as u64)
        .map(|p| (rng.gen_range(0..lat), p))
        .collect();
    let mut next_process = sim.processes as u64;
    // (op, effect time, takes effect)
    let mut planned: Vec<(Op, u64, bool)> = Vec::with_capacity(sim.ops);
    for id in 0..sim.ops as u64 {
        let Some(slot) = (0..slots.len()).min_by_key(|&s| slots[s].0) else {
            break;
        };
        let (invoke, process) = slots[slot];
        let command = command(&mut rng, sim.mix, id);
        let unknown = rng.gen_bool(sim.p_unknown);
        let (effect, complete, lands) = if unknown {
            // Lands late (possibly long after the client gave up) or never.
            let effect = invoke + rng.gen_range(1..=lat * 20);
            let gave_up = invoke + lat * 3;
            slots[slot] = (gave_up + rng.gen_range(0..lat), next_process);
            next_process += 1;
            (effect, gave_up, rng.gen_bool(sim.p_lands))
        } else {
            let effect = invoke + rng.gen_range(0..=lat);
            let complete = effect + rng.gen_range(0..=lat);
            slots[slot] = (complete + rng.gen_range(0..=lat / 2), process);
            (effect, complete, true)
        };
        let op = Op {
            id,
            process,
            key: "k".to_string(),
            command,
            invoke_ns: invoke,
            complete_ns: complete,
            outcome: if unknown {
                Outcome::Unknown
            } else {
                Outcome::Failed
            },
        };
        planned.push((op, effect, lands));
    }
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].1, i));
    let mut state: Option<String> = None;
    for i in order {
        let (op, _, lands) = &mut planned[i];
        if !*lands {
            continue;
        }
        let result = apply(&state, &op.command);
        if let Ok((next, _)) = &result {
            state = next.clone();
        }
        if op.outcome != Outcome::Unknown {
            op.outcome = match result {
                Ok((_, reply)) => Outcome::Ok(reply),
                Err(_) => Outcome::Failed,
            };
        }
    }
    planned.into_iter().map(|(op, _, _)| op).collect()
}

/// Indices of the acknowledged ops matching `f`.
pub(super) fn acked_where(ops: &[Op], f: impl Fn(&Op, &Reply) -> bool) -> Vec<usize> {
    ops.iter()
        .enumerate()
        .filter(|(_, o)| matches!(&o.outcome, Outcome::Ok(r) if f(o, r)))
        .map(|(i, _)| i)
        .collect()
}
