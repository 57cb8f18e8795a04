//! `petrel-resp-bench`: Petrel's RESP encoder and decoders against the
//! `redis-protocol` crate's; see [`petrel_bench::resp_bench`] and
//! `petrel-resp-bench --help`. Run it in release mode.

use clap::Parser;
use petrel_bench::resp_bench::{self, report, Options};

fn main() {
    let opts = Options::parse();
    match resp_bench::run(&opts) {
        Ok(r) => {
            print!("{}", report::table(&r.measured));
            println!();
            print!("{}", report::fidelity(&r.fidelity));
        }
        Err(e) => {
            eprintln!("petrel-resp-bench: {e}");
            std::process::exit(1);
        }
    }
}
