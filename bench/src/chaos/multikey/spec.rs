//! Which multi-key workloads a run has and their shape, from
//! `petrel-chaos`'s flags.

use std::path::PathBuf;

use anyhow::bail;

/// How bank clients read every balance at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BankReads {
    /// Transfers only; the final balances are still checked.
    None,
    /// `MULTI / GET a0 / ... / EXEC`, read-only.
    Multi,
    /// One `MGET` of every account.
    Mget,
    /// Either, drawn per read.
    Both,
}

/// How bank clients transfer money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BankTransfers {
    /// `MULTI / DECRBY / INCRBY / SET marker / EXEC`.
    Multi,
    /// One `EVAL` with `numkeys 0` naming the accounts and the marker in
    /// its arguments: a script that builds its keys, over three partitions.
    Eval,
    /// Either, drawn per transfer.
    Both,
}

/// The multi-key workloads of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spec {
    pub(crate) bank: bool,
    pub(crate) mset: bool,
    pub(crate) lmove: bool,
    /// Client workers per workload.
    pub(crate) workers: usize,
    pub(crate) accounts: usize,
    /// Every account's balance before the run.
    pub(crate) initial_balance: i64,
    pub(crate) bank_reads: BankReads,
    pub(crate) bank_transfers: BankTransfers,
    pub(crate) mset_keys: usize,
    pub(crate) items: usize,
    /// Partitions of the table: keys are spread over all of them.
    pub(crate) partitions: u32,
    /// The most partitions splits may grow the table to (`partitions`
    /// without splits): the first keys stay in the record partition.
    pub(crate) grows_to: u32,
}

impl Spec {
    /// Whether any multi-key workload runs.
    pub(crate) fn any(&self) -> bool {
        self.bank || self.mset || self.lmove
    }
}

/// `petrel-chaos` flags of the multi-key workloads.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct MultiKeyArgs {
    /// Multi-key workloads to run beside the per-key one, comma-separated:
    /// bank (transfers by MULTI or EVAL between accounts in different partitions),
    /// mset (MSET/MGET snapshots), lmove (items moved between two lists by
    /// LMOVE and RPOPLPUSH). Default: none.
    #[arg(long, value_delimiter = ',')]
    pub(crate) multikey: Vec<String>,
    /// Client workers of each multi-key workload.
    #[arg(long, default_value_t = 4)]
    pub(crate) txn_workers: usize,
    /// Bank accounts (spread over every partition).
    #[arg(long, default_value_t = 16)]
    pub(crate) bank_accounts: usize,
    /// How bank clients read every balance at once, between transfers.
    #[arg(long, value_enum, default_value_t = BankReads::Both)]
    pub(crate) bank_reads: BankReads,
    /// How bank clients transfer: by MULTI, by a script (EVAL with numkeys 0
    /// over three partitions), or either.
    #[arg(long, value_enum, default_value_t = BankTransfers::Both)]
    pub(crate) bank_transfers: BankTransfers,
    /// Keys every MSET writes and every MGET reads (spread over every partition).
    #[arg(long, default_value_t = 8)]
    pub(crate) mset_keys: usize,
    /// Items moved between the two lists.
    #[arg(long, default_value_t = 20)]
    pub(crate) lmove_items: usize,
    /// Check a multi-key record saved by an earlier run (multikey.json) and exit.
    #[arg(long)]
    pub(crate) check_multikey: Option<PathBuf>,
}

/// The names `--multikey` takes.
pub(crate) const WORKLOADS: [&str; 3] = ["bank", "mset", "lmove"];

impl MultiKeyArgs {
    /// The workloads asked for, on a table of `partitions` partitions that
    /// splits may grow to `grows_to`.
    pub(crate) fn spec(&self, partitions: u32, grows_to: u32) -> anyhow::Result<Spec> {
        let mut spec = Spec {
            bank: false,
            mset: false,
            lmove: false,
            workers: self.txn_workers,
            accounts: self.bank_accounts,
            initial_balance: 100,
            bank_reads: self.bank_reads,
            bank_transfers: self.bank_transfers,
            mset_keys: self.mset_keys,
            items: self.lmove_items,
            partitions,
            grows_to,
        };
        for name in self
            .multikey
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            match name {
                "bank" => spec.bank = true,
                "mset" => spec.mset = true,
                "lmove" => spec.lmove = true,
                _ => bail!(
                    "unknown multi-key workload '{name}'; known: {}",
                    WORKLOADS.join(", ")
                ),
            }
        }
        if spec.bank && spec.accounts < 2 {
            bail!("--bank-accounts must be at least 2");
        }
        if spec.mset && spec.mset_keys < 2 {
            bail!("--mset-keys must be at least 2");
        }
        if spec.any() && spec.workers == 0 {
            bail!("--txn-workers must be at least 1");
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        multi: MultiKeyArgs,
    }

    fn spec(args: &[&str]) -> anyhow::Result<Spec> {
        let flags =
            Flags::try_parse_from(std::iter::once("petrel-chaos").chain(args.iter().copied()))?;
        flags.multi.spec(4, 4)
    }

    #[test]
    fn no_workload_unless_asked() -> anyhow::Result<()> {
        let s = spec(&[])?;
        assert!(!s.any());
        assert_eq!(
            (s.workers, s.accounts, s.mset_keys, s.items),
            (4, 16, 8, 20)
        );
        assert_eq!(s.bank_reads, BankReads::Both);
        Ok(())
    }

    #[test]
    fn workloads_are_chosen_by_name() -> anyhow::Result<()> {
        let s = spec(&["--multikey", "bank,lmove", "--bank-reads", "mget"])?;
        assert!(s.bank && s.lmove && !s.mset);
        assert_eq!(s.bank_reads, BankReads::Mget);
        assert!(spec(&["--multikey", "bank,nope"]).is_err());
        assert!(spec(&["--multikey", "bank", "--bank-accounts", "1"]).is_err());
        Ok(())
    }
}
