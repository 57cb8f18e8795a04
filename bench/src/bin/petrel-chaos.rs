//! `petrel-chaos`: see `petrel_bench::chaos`.

fn main() {
    eprintln!("petrel-chaos: the runner is being written");
    std::process::exit(2);
}
