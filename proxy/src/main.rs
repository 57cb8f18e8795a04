//! The `petrel-proxy` binary: flags and config in, then [`petrel_proxy::run`].

use clap::Parser;
use petrel_proxy::Flags;

#[tokio::main]
async fn main() {
    let flags = Flags::parse();
    let config = match flags.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("petrel-proxy: {e}");
            std::process::exit(2);
        }
    };
    petrel_common::telemetry::init_logging(&config.log);
    let file = flags.config_path().map(|p| p.to_path_buf());
    if let Err(e) = petrel_proxy::run_with_file(config, file).await {
        eprintln!("petrel-proxy: {e}");
        std::process::exit(1);
    }
}
