//! `petrel-bench`: load generator for any RESP endpoint; see
//! [`petrel_bench::load`] and `petrel-bench --help`.

use clap::Parser;
use petrel_bench::load::{self, options::Options, report};

fn main() {
    let opts = Options::parse();
    let runtime = if opts.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if opts.threads > 1 {
            b.worker_threads(opts.threads);
        }
        b.enable_all().build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("petrel-bench: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let report = match runtime.block_on(load::run(&opts)) {
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
