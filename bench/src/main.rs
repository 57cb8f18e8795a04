//! `petrel-bench`: the load generator and consistency checker will live here
//! (a later piece of work). Until then use `redis-benchmark` against the proxy.

fn main() {
    eprintln!("petrel-bench is not written yet; use redis-benchmark -p 6379 against a proxy");
    std::process::exit(2);
}
