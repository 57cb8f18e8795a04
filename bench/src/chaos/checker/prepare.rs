//! Compiling one key's ops for the linearizability search: what to drop,
//! what to bound, what to leave open.

use std::collections::HashMap;

use super::model::{compile, Cmd, Expect, State, Step, Values};
use crate::chaos::history::{Command, Op, Outcome, Reply};

/// By when an op must have taken effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Span {
    /// By this time: an acknowledged op's completion, or for an unknown SET
    /// whose value some GET returned, the first such GET's completion.
    Until(u64),
    /// Unknown outcome: any time after invocation, or never. Open ops with
    /// the same compiled step are interchangeable, so each such class is
    /// linearized in invocation (`rank`) order.
    Open { class: usize, rank: u32 },
}

#[derive(Debug, Clone, Copy)]
pub(super) struct PreparedOp {
    pub(crate) step: Step,
    pub(crate) invoke: u64,
    pub(crate) span: Span,
    /// Index in the caller's slice.
    pub(crate) src: usize,
    /// An unknown SET made bounded because its value was read.
    pub(crate) forced_by_read: bool,
}

impl PreparedOp {
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.span, Span::Open { .. })
    }
}

pub(super) struct Prepared {
    /// Sorted by invocation.
    pub(crate) ops: Vec<PreparedOp>,
    /// Number of open classes.
    pub(crate) classes: usize,
    /// The open class whose members are INCRs, if any.
    pub(crate) incr_class: Option<usize>,
    /// The first-completing op whose reply no state could produce (a GET of
    /// a value no SET wrote, a reply of the wrong type): the history is
    /// not linearizable, whatever the search would say.
    pub(crate) impossible: Option<usize>,
}

/// Compiles the ops of one key for the search, dropping what cannot matter:
/// - Failed ops never happened.
/// - Unknown GETs change nothing.
/// - An unknown SET of a non-integer value no GET returned (Junk) only
///   matters if it could explain a `DEL` that returned 1; without such a
///   DEL, any linearization using it still works without it.
///
/// and bounding what must have happened: an unknown SET whose value some
/// GET returned, when no other SET wrote that value and it is not an
/// integer (INCR could make it), must take effect before the first such GET
/// completed, so it is searched like an acknowledged op ending there.
///
/// The remaining unknown ops are open, grouped by compiled step: two open
/// ops with the same step that are both invoked can swap places in any
/// linearization, so the search only places them in invocation order and
/// only uses a prefix of each class. With unique SET values this turns the
/// 2^n subsets of n pending unknown INCRs or DELs into n + 1 counts.
pub(super) fn prepare(ops: &[Op]) -> Prepared {
    let mut values = Values::default();
    let mut del_found_value = false;
    let mut writers: HashMap<&str, usize> = HashMap::new();
    for op in ops {
        match (&op.command, &op.outcome) {
            (_, Outcome::Failed) => {}
            (Command::Get, Outcome::Ok(Reply::Str(s))) => values.observe(s),
            (Command::Del, Outcome::Ok(Reply::Int(1))) => del_found_value = true,
            (Command::Set(v), _) => *writers.entry(v.as_str()).or_default() += 1,
            _ => {}
        }
    }
    let mut first_read: HashMap<State, u64> = HashMap::new();
    for op in ops {
        if let (Command::Get, Outcome::Ok(Reply::Str(s))) = (&op.command, &op.outcome) {
            let t = first_read.entry(values.state_of(s)).or_insert(u64::MAX);
            *t = (*t).min(op.complete_ns.max(op.invoke_ns));
        }
    }

    let mut kept = Vec::with_capacity(ops.len());
    let mut classes: HashMap<Cmd, usize> = HashMap::new();
    for (src, op) in ops.iter().enumerate() {
        let reply = match &op.outcome {
            Outcome::Failed => continue,
            Outcome::Ok(reply) => Some(reply),
            Outcome::Unknown => None,
        };
        let step = compile(&values, &op.command, reply);
        let mut forced_by_read = false;
        let span = if reply.is_some() {
            Span::Until(op.complete_ns.max(op.invoke_ns))
        } else {
            let unique_write = match &op.command {
                Command::Set(v) => writers.get(v.as_str()) == Some(&1),
                _ => false,
            };
            match step.cmd {
                Cmd::Get => continue,
                Cmd::Set(State::Junk) if !del_found_value => continue,
                Cmd::Set(s @ State::Str(_)) if unique_write && first_read.contains_key(&s) => {
                    forced_by_read = true;
                    Span::Until(first_read.get(&s).copied().unwrap_or(u64::MAX))
                }
                cmd => {
                    let next = classes.len();
                    let class = *classes.entry(cmd).or_insert(next);
                    Span::Open { class, rank: 0 }
                }
            }
        };
        kept.push(PreparedOp {
            step,
            invoke: op.invoke_ns,
            span,
            src,
            forced_by_read,
        });
    }
    kept.sort_by_key(|o| (o.invoke, o.src));
    let mut ranks = vec![0u32; classes.len()];
    for o in &mut kept {
        if let Span::Open { class, rank } = &mut o.span {
            *rank = ranks[*class];
            ranks[*class] += 1;
        }
    }
    let impossible = kept
        .iter()
        .enumerate()
        .filter(|(_, o)| match (o.step.cmd, o.step.expect) {
            (_, Expect::Impossible) => true,
            (Cmd::Get, Expect::Value(State::Str(_))) => {
                let Command::Get = ops[o.src].command else {
                    return false;
                };
                match &ops[o.src].outcome {
                    Outcome::Ok(Reply::Str(v)) => !writers.contains_key(v.as_str()),
                    _ => false,
                }
            }
            _ => false,
        })
        .min_by_key(|(_, o)| match o.span {
            Span::Until(t) => t,
            Span::Open { .. } => u64::MAX,
        })
        .map(|(i, _)| i);
    Prepared {
        ops: kept,
        impossible,
        classes: classes.len(),
        incr_class: classes.get(&Cmd::Incr).copied(),
    }
}
