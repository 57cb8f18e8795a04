//! The `petrel-meta` binary; everything is in the library ([`petrel_meta::main`]).

fn main() -> anyhow::Result<()> {
    petrel_meta::main()
}
