//! `petrel-bench`: load generator for any RESP endpoint; see
//! [`petrel_bench::load`] and `petrel-bench --help`.

use clap::Parser;
use petrel_bench::load::{self, options::Options, report};

fn main() {
    let opts = Options::parse();
    let report = match load::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("petrel-bench: {e:#}");
            std::process::exit(1);
        }
    };
    if opts.json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("petrel-bench: {e}");
                std::process::exit(1);
            }
        }
    } else if report.endpoints.len() > 1 {
        print!("{}", report::comparison(&report.endpoints));
    } else {
        println!(
            "clients {}  pipeline {}  keyspace {} ({})  data {} B",
            report.clients, report.pipeline, report.keyspace, report.distribution, report.data_size
        );
        for e in &report.endpoints {
            print!("{}", report::table(e));
        }
    }
}
