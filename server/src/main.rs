//! The `petrel-server` binary; everything is in the library ([`petrel_server::main`]).

fn main() -> anyhow::Result<()> {
    petrel_server::main()
}
