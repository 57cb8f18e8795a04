//! The `petrel` binary; everything is in the library ([`petrel_cli::main`]).

fn main() {
    petrel_cli::main()
}
