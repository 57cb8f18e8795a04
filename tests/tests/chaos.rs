//! The short chaos run CI does: about a minute of client load through the
//! proxy while the nemesis kills primaries, pauses primaries past their
//! lease and restarts meta; then the whole history must be linearizable per
//! key, no acknowledged write may be missing, counters must be within their
//! bounds and every replica identical. The long run is documented in
//! docs/CONSISTENCY.md. A second, shorter run splits the table under load.

mod support;

use std::process::Command;

use support::{bin, bin_dir, free_ports};

/// Runs petrel-chaos with `args` on free ports in a fresh directory;
/// asserts it found nothing wrong and injected faults; returns its output.
fn chaos_run(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    // petrel-chaos uses ports from --base-port on: meta, proxy and the
    // relays in front of the servers, and the servers 100 above them.
    let base_port = free_ports(110);
    let out = Command::new(bin("petrel-chaos"))
        .args(args)
        .args(["--base-port", &base_port.to_string(), "--dir"])
        .arg(dir.path().join("run"))
        .arg("--bin-dir")
        .arg(bin_dir())
        .output()
        .expect("petrel-chaos runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
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
    stdout
}

#[test]
fn a_minute_of_kills_pauses_and_meta_restarts_breaks_no_guarantee() {
    chaos_run(&[
        "--seed",
        "20261124",
        "--duration",
        "60s",
        "--nemesis",
        "kill-primary,pause,meta",
    ]);
}

/// An online split under load and primary kills: the table doubles while
/// the multi-key workloads run, then the primaries of a new partition and
/// of the record partition are killed; every check must still pass on the
/// doubled map (petrel verify included).
#[test]
fn a_split_under_load_and_primary_kills_breaks_no_guarantee() {
    let stdout = chaos_run(&[
        // Draws a split at 5 s, then kills the primaries of partitions 13
        // and 8 of the cap (5, a new partition, and 0 of the 8 after it).
        "--seed",
        "18",
        "--duration",
        "40s",
        "--nemesis",
        "split-table,kill-primary",
        "--splits",
        "2",
        "--multikey",
        "bank,mset,lmove",
    ]);
    assert!(
        stdout.contains("split the table (double its partitions): 4 -> 8"),
        "the table split: {stdout}"
    );
    assert!(
        stdout.contains("multi-key verdict: VALID"),
        "the multi-key checkers ran: {stdout}"
    );
}
