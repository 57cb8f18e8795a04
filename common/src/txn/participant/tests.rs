//! Scenario tests of the participant machine, input by input.

use bytes::Bytes;

use super::*;

fn g(p: u32) -> Gpid {
    Gpid::new(1, p)
}

fn t(n: u64) -> TxnId {
    TxnId {
        start_ms: 1_000 + n,
        nonce: n,
    }
}

fn k(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[test]
fn compiles() {
    let mut p = Participant::new(g(0), 1, Options::default(), 1_000);
    let out = p.handle(Input::Fast {
        token: 1,
        keys: vec![k("a")],
        write: true,
    });
    assert_eq!(out, vec![Output::FastGo { token: 1 }]);
    let _ = t(1);
}
