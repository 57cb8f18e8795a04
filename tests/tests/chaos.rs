//! The short chaos run CI does: about a minute of client load through the
//! proxy while the nemesis kills primaries, pauses primaries past their
//! lease and restarts meta; then the whole history must be linearizable per
//! key, no acknowledged write may be missing, counters must be within their
//! bounds and every replica identical. The long run is documented in
//! docs/CONSISTENCY.md.

mod support;

use std::process::Command;

use support::{bin, bin_dir, free_ports};

#[test]
fn a_minute_of_kills_pauses_and_meta_restarts_breaks_no_guarantee() {
    let dir = tempfile::tempdir().expect("tempdir");
    // petrel-chaos uses ports from --base-port on: meta, proxy and the
    // relays in front of the servers, and the servers 100 above them.
    let base_port = free_ports(110);
    let out = Command::new(bin("petrel-chaos"))
        .args([
            "--seed",
            "20261124",
            "--duration",
            "60s",
            "--nemesis",
            "kill-primary,pause,meta",
            "--base-port",
            &base_port.to_string(),
            "--dir",
        ])
        .arg(dir.path().join("run"))
        .arg("--bin-dir")
        .arg(bin_dir())
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
