//! `petrel-resp-bench`: Petrel's RESP code against the `redis-protocol`
//! crate on identical inputs, to decide where that crate earns its place
//! (the figures and the decision are in `docs/ARCHITECTURE.md`).
//!
//! - [`check`]: what both sides must agree on, and where they differ.
//! - [`timing`]: interleaved rounds, medians, ratios within a round.
//! - [`encode`]: (a) the proxy's reply encoder, RESP2 and RESP3.
//! - [`requests`]: (b) the proxy's request decoder.
//! - [`replies`]: (c) petrel-bench's reply skimming and parsing.
//! - [`report`]: the Markdown tables.
//!
//! Every case is checked to give the same bytes or frames on both sides
//! before it is timed; the fidelity rows list inputs where they differ.

pub(crate) mod check;
pub(crate) mod encode;
pub(crate) mod replies;
pub mod report;
pub(crate) mod requests;
pub(crate) mod timing;

use std::time::Duration;

use clap::Parser;

pub(crate) use check::{Fidelity, Mismatch};
use timing::{measure, Measured, Plan};

/// Times Petrel's RESP encoder and decoders against the `redis-protocol`
/// crate's on the same inputs, in interleaved rounds, and prints Markdown
/// tables (median ns/op, MB/s, and each alternative's time over Petrel's).
#[derive(Debug, Clone, Parser)]
#[command(name = "petrel-resp-bench", version)]
pub struct Options {
    /// Rounds per case; each round times every contender once.
    #[arg(long, default_value_t = 15)]
    pub(crate) rounds: usize,
    /// About how long one contender runs per round, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub(crate) sample_ms: u64,
    /// Only the cases whose name contains this text.
    #[arg(long)]
    pub(crate) only: Option<String>,
}

/// Everything one run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// One per case, in order.
    pub measured: Vec<Measured>,
    /// Inputs where the two sides may differ.
    pub fidelity: Vec<Fidelity>,
}

/// Checks every case, then times the ones `opts` selects.
pub fn run(opts: &Options) -> Result<Report, Mismatch> {
    let plan = Plan {
        rounds: opts.rounds,
        sample: Duration::from_millis(opts.sample_ms),
    };
    let mut cases = encode::cases()?;
    cases.extend(requests::cases()?);
    cases.extend(replies::cases()?);
    let measured = cases
        .into_iter()
        .filter(|c| opts.only.as_deref().is_none_or(|o| c.name.contains(o)))
        .map(|c| measure(c, plan))
        .collect();
    let mut fidelity = encode::fidelity();
    fidelity.extend(requests::fidelity());
    Ok(Report { measured, fidelity })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_times_only_the_selected_cases() {
        let opts = Options {
            rounds: 1,
            sample_ms: 1,
            only: Some("encode RESP3 +OK".into()),
        };
        let report = run(&opts).expect("both sides agree");
        assert_eq!(report.measured.len(), 1);
        assert_eq!(report.measured[0].figures.len(), 3);
        assert!(report.fidelity.len() >= 4);
    }
}
