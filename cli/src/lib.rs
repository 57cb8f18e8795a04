//! `petrel`: the operator CLI. `src/main.rs` calls [`main`]; so does
//! petrel-tests' copy of the binary (`tests/`).
//!
//! - `petrel onebox`: a whole local cluster (meta, three servers, a proxy) as
//!   child processes; see [`onebox`].
//! - Admin verbs against meta (`nodes`, `tables`, `create-table`,
//!   `drop-table`, `locate`, `add-learner`); see [`admin`].
//! - Replica placement (`drain`, `balance`); see [`placement`].
//! - The meta group's verbs (`metas`, `meta add`, `meta remove`); see
//!   [`metas`].
//! - Replica inspection (`partitions`, `verify`), which asks the servers
//!   themselves as well as meta; see [`replicas`].
//! - `petrel import`: copies a live Redis (or Petrel) into Petrel with
//!   SCAN, DUMP and RESTORE, resumable; see [`import`].
//! - [`launch`]: the process launcher onebox, petrel-tests and
//!   `petrel-chaos` share.

mod admin;
mod import;
pub mod launch;
mod metas;
mod onebox;
mod placement;
mod render;
mod replicas;

use clap::{Parser, Subcommand};
use petrel_common::meta_client::MetaClient;
use petrel_common::rpc::client::RpcClient;

/// Petrel's operator CLI.
#[derive(Parser, Debug)]
#[command(name = "petrel", version)]
struct Cli {
    /// A meta address for the admin verbs; repeat (or separate with commas)
    /// for each meta of the group: the leader answers, the others redirect.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:34601"
    )]
    meta: Vec<String>,
    /// Print JSON instead of human tables (admin verbs).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Start meta, servers and a proxy on 127.0.0.1 as child processes.
    Onebox(onebox::OneboxArgs),
    /// List servers known to meta, with liveness, load, draining and the
    /// replica moves in flight towards and away from each.
    Nodes,
    /// Move every replica off a server (its primaries hand their lead over
    /// first) and place nothing new on it; once it holds none it can be
    /// stopped. `--cancel` stops draining.
    Drain(placement::DrainArgs),
    /// Double a table's partition count while it serves: partition p of n
    /// becomes p and p + n of 2n, each replica splitting its data in place
    /// by the key hash's next bit. `--wait` returns once every new
    /// partition is built.
    Split(placement::SplitArgs),
    /// Show the replica moves in flight and the steps meta plans until every
    /// server holds its share of replicas and primaries (within one) and
    /// every draining server is empty.
    Balance,
    /// List tables.
    Tables,
    /// List the meta group's members: address, role (leader, follower,
    /// learner), Raft term, last log index and applied index, as each
    /// member reports them.
    Metas,
    /// Change the meta group's membership (through its leader).
    #[command(subcommand)]
    Meta(metas::MetaCommand),
    /// Create a table.
    CreateTable {
        name: String,
        /// Partition count (a power of two).
        #[arg(long, default_value_t = 8)]
        partitions: u32,
        /// Replica count.
        #[arg(long, default_value_t = 3)]
        replicas: u32,
    },
    /// Drop a table (its data is moved aside on the servers).
    DropTable { name: String },
    /// Show every replica of every partition of a table: meta's
    /// configuration (ballot, primary, secondaries) next to what each server
    /// reports (role, ballot, last committed and last prepared decree; `?`
    /// when the server does not answer), learners included.
    Partitions {
        /// Table name.
        table: String,
    },
    /// Compare the committed contents of every member of every partition
    /// (a digest per replica at the same applied decree). Exits 0 only when
    /// every partition is identical on all its members.
    Verify(replicas::VerifyArgs),
    /// Copy every key of a live Redis (or another Petrel) into Petrel:
    /// SCAN + DUMP/PTTL at the source, RESTORE ... ABSTTL REPLACE at the
    /// target, in parallel, resumable with --state; keys the target refuses
    /// are listed and make the run fail.
    Import(import::ImportArgs),
    /// Show where a key lives.
    Locate { table: String, key: String },
    /// Ask meta to add a learner to one partition now: it copies the
    /// partition, follows new writes, and meta makes it a secondary once it
    /// has caught up.
    AddLearner {
        /// Table name.
        table: String,
        /// Partition id.
        partition: u32,
        /// Server to host the learner (default: meta picks the least loaded
        /// eligible server).
        #[arg(long)]
        node: Option<String>,
    },
}

/// The `petrel` binary: parses the command line and runs the verb; exits 1
/// with the error on failure.
#[tokio::main]
pub async fn main() {
    let cli = Cli::parse();
    let meta = MetaClient::new(RpcClient::new(), cli.meta);
    let result = match cli.command {
        Command::Onebox(args) => onebox::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::Partitions { table } => replicas::partitions(&meta, cli.json, &table).await,
        Command::Verify(args) => replicas::verify(&meta, cli.json, &args).await,
        Command::Metas => metas::list(&meta, cli.json).await,
        Command::Drain(args) => placement::drain(&meta, cli.json, &args).await,
        Command::Split(args) => placement::split(&meta, cli.json, &args).await,
        Command::Balance => placement::balance(&meta, cli.json).await,
        Command::Meta(change) => metas::change(&meta, cli.json, change).await,
        other => admin::run(&meta, cli.json, other).await,
    };
    if let Err(e) = result {
        eprintln!("petrel: {e:#}");
        std::process::exit(1);
    }
}
