//! Stored formats carry a version: `petrel-meta` and `petrel-server`,
//! started on data whose format version they do not know, refuse to start
//! with an error naming the file and both versions, instead of misreading
//! it.

mod support;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use petrel_server::storage::layout::{encode_layout_version, LAYOUT_VERSION, LAYOUT_VERSION_KEY};
use petrel_server::storage::rocks::{RocksEngine, RocksOptions};
use petrel_server::storage::{Engine, Mutation, WriteOp};
use support::{bin_dir, free_ports};

/// Runs `binary` with `args` until it exits (at most 60 s) and returns its
/// exit status and everything it wrote to stderr.
fn run_to_exit(binary: &str, args: &[String], scratch: &Path) -> (ExitStatus, String) {
    let stderr_path = scratch.join(format!("{binary}.stderr"));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = Command::new(bin_dir().join(binary))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("{binary} still running after 60 s; it should have refused to start:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&stderr_path).expect("read stderr");
    (status, text)
}

#[test]
fn meta_refuses_a_state_file_of_an_unknown_format_version() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let data = scratch.path().join("meta");
    std::fs::create_dir_all(&data).expect("mkdir");
    let state = data.join("state.json");
    // A newer meta's file: whatever else it holds must not be read.
    let written = r#"{"format_version": 99, "tables": "a newer shape"}"#;
    std::fs::write(&state, written).expect("write state");
    let port = free_ports(1);
    let args = [
        "--listen".to_string(),
        format!("127.0.0.1:{port}"),
        "--data-dir".to_string(),
        data.display().to_string(),
    ];
    let (status, stderr) = run_to_exit("petrel-meta", &args, scratch.path());
    assert!(
        !status.success(),
        "meta started anyway ({status}):\n{stderr}"
    );
    assert!(
        stderr.contains(&state.display().to_string()),
        "names the file:\n{stderr}"
    );
    assert!(
        stderr.contains("format version 99") && stderr.contains("version 1"),
        "names both versions:\n{stderr}"
    );
    let after = std::fs::read_to_string(&state).expect("read state");
    assert_eq!(after, written, "the file is left as it was");
}

#[test]
fn server_refuses_a_replica_database_of_an_unknown_layout_version() {
    const NEXT: u32 = LAYOUT_VERSION + 1;
    let scratch = tempfile::tempdir().expect("tempdir");
    let data = scratch.path().join("server");
    let db = data.join("replicas").join("1.0").join("db");
    std::fs::create_dir_all(&db).expect("mkdir");
    {
        // What a newer server would leave: a replica whose database says
        // it holds the layout version after this build's.
        let engine = RocksEngine::open(&db, &RocksOptions::default()).expect("create db");
        let mark = Mutation {
            ops: vec![WriteOp::Put(
                LAYOUT_VERSION_KEY.to_vec(),
                encode_layout_version(NEXT).to_vec(),
            )],
        };
        engine
            .apply(petrel_common::ids::Decree(1), &mark)
            .expect("apply");
        engine.flush().expect("flush");
    }
    let ports = free_ports(2);
    let args = [
        "--listen".to_string(),
        format!("127.0.0.1:{ports}"),
        // Nobody listens there: the server must stop before it looks.
        "--meta".to_string(),
        format!("127.0.0.1:{}", ports + 1),
        "--data-dir".to_string(),
        data.display().to_string(),
    ];
    let (status, stderr) = run_to_exit("petrel-server", &args, scratch.path());
    assert!(
        !status.success(),
        "server started anyway ({status}):\n{stderr}"
    );
    assert!(
        stderr.contains(&db.display().to_string()),
        "names the database:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("layout version {NEXT}"))
            && stderr.contains(&format!("version {LAYOUT_VERSION}")),
        "names both versions:\n{stderr}"
    );
    assert_eq!(
        RocksEngine::layout_version_at(&db).expect("read back"),
        Some(NEXT),
        "the database is left as it was"
    );
}
