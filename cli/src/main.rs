//! `petrel`: the operator CLI.
//!
//! - `petrel onebox`: a whole local cluster (meta, three servers, a proxy) as
//!   child processes; see [`onebox`].
//! - Admin verbs against meta (`nodes`, `tables`, `create-table`,
//!   `drop-table`, `partitions`, `locate`); see [`admin`].

mod admin;
mod onebox;
mod render;

use clap::{Parser, Subcommand};

/// Petrel's operator CLI.
#[derive(Parser, Debug)]
#[command(name = "petrel", version)]
struct Cli {
    /// Meta address for the admin verbs.
    #[arg(long, global = true, default_value = "127.0.0.1:34601")]
    meta: String,
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
    /// List servers known to meta, with liveness and load.
    Nodes,
    /// List tables.
    Tables,
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
    /// Show each partition of a table: ballot, primary, secondaries, decree.
    Partitions { table: String },
    /// Show where a key lives.
    Locate { table: String, key: String },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Onebox(args) => onebox::run(args).await,
        other => admin::run(&cli.meta, cli.json, other).await,
    };
    if let Err(e) = result {
        eprintln!("petrel: {e:#}");
        std::process::exit(1);
    }
}
