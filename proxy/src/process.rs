//! The `petrel-proxy` process: flags and config in, then the runtime and the
//! service. `src/main.rs` calls [`main`]; so does petrel-tests' copy of the
//! binary (`tests/`), so both run the same code.

use crate::Flags;
use clap::Parser;

/// The `petrel-proxy` binary's `main`.
pub fn main() {
    let flags = Flags::parse();
    let config = match flags.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("petrel-proxy: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match petrel_common::runtime::build(config.worker_threads) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("petrel-proxy: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let file = flags.config_path().map(|p| p.to_path_buf());
    let served = runtime.block_on(async {
        petrel_common::telemetry::init_logging(&config.log);
        crate::run_with_file(config, file).await
    });
    if let Err(e) = served {
        eprintln!("petrel-proxy: {e}");
        std::process::exit(1);
    }
}
