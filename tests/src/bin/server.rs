//! petrel-tests' build of `petrel-server`: the same `main` as the real one.

fn main() -> anyhow::Result<()> {
    petrel_server::main()
}
