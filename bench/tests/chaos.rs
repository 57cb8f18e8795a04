//! The short chaos run CI does: about a minute of client load through the
//! proxy while the nemesis kills primaries, pauses primaries past their
//! lease and restarts meta; then the whole history must be linearizable per
//! key, no acknowledged write may be missing, counters must be within their
//! bounds and every replica identical. The long run is documented in
//! docs/CONSISTENCY.md.

use std::path::PathBuf;
use std::process::Command;

fn free_base_port() -> u16 {
    // Ten consecutive free ports: meta, proxy, servers.
    for _ in 0..50 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = l.local_addr().expect("addr").port();
        drop(l);
        if base > 60000 {
            continue;
        }
        if (0..10).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no 10 consecutive free ports");
}

#[test]
fn a_minute_of_kills_pauses_and_meta_restarts_breaks_no_guarantee() {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_petrel-chaos"));
    let bin_dir = exe.parent().expect("bin dir").to_path_buf();
    assert!(
        bin_dir.join("petrel-server").exists(),
        "build the release binaries first (cargo build --release --workspace --bins)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(&exe)
        .args([
            "--seed",
            "20261124",
            "--duration",
            "60s",
            "--nemesis",
            "kill-primary,pause,meta",
            "--base-port",
            &free_base_port().to_string(),
            "--dir",
        ])
        .arg(dir.path().join("run"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .output()
        .expect("petrel-chaos runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "petrel-chaos found violations or failed (exit {:?})",
        out.status.code()
    );
    assert!(stdout.contains("petrel-chaos: OK"), "{stdout}");
    assert!(
        stdout.contains("faults injected") && !stdout.contains(" 0 faults injected"),
        "faults were injected: {stdout}"
    );
}
