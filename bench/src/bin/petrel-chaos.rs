//! The `petrel-chaos` binary; everything is in the library
//! ([`petrel_bench::chaos::main`]).

fn main() -> anyhow::Result<()> {
    petrel_bench::chaos::main()
}
