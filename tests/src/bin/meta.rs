//! petrel-tests' build of `petrel-meta`: the same `main` as the real one.

fn main() -> anyhow::Result<()> {
    petrel_meta::main()
}
