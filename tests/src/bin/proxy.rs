//! petrel-tests' build of `petrel-proxy`: the same `main` as the real one.

fn main() {
    petrel_proxy::main()
}
