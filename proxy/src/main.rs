//! The `petrel-proxy` binary; everything is in the library ([`petrel_proxy::main`]).

fn main() {
    petrel_proxy::main()
}
