//! petrel-tests' build of `petrel`: the same `main` as the real one.

fn main() {
    petrel_cli::main()
}
