//! petrel-tests' build of `petrel-chaos`: the same `main` as the real one.

fn main() -> anyhow::Result<()> {
    petrel_bench::chaos::main()
}
