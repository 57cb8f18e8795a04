//! PFSELFTEST: Redis's self-test of the registers and the estimator, with
//! its checks and failure texts.

use rand::{Rng, SeedableRng};

use super::dense;
use super::format::{Encoding, DENSE_LEN, HEADER_LEN, REGISTERS, REGISTER_MAX};
use super::value::Hll;

/// Rounds of random register values written and read back.
const REGISTER_ROUNDS: usize = 1000;
/// Elements added in the estimate test.
const ELEMENTS: u64 = 10_000_000;

/// Runs Redis's two tests: dense registers keep what is written to them
/// without touching their neighbours, and 10,000,000 distinct elements
/// added to a dense and a sparse HLL (turning dense on the way, with
/// `sparse_max_bytes`) are counted alike and within six standard errors
/// at every power of ten. `Err` is the reply's text (`TESTFAILED ...`).
pub fn selftest(seed: u64, sparse_max_bytes: usize) -> Result<(), String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut registers = vec![0u8; DENSE_LEN - HEADER_LEN];
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..REGISTER_ROUNDS {
        for (i, e) in expected.iter_mut().enumerate() {
            let r = rng.gen::<u8>() & REGISTER_MAX;
            *e = r;
            dense::set(&mut registers, i, r);
        }
        for (i, &e) in expected.iter().enumerate() {
            let got = dense::get(&registers, i);
            if got != e {
                return Err(format!(
                    "TESTFAILED Register {i} should be {e} but is {got}"
                ));
            }
        }
    }

    let mut dense_hll = Hll::new();
    dense_hll.to_dense().map_err(|e| e.to_string())?;
    let mut sparse_hll = Hll::new();
    let relative_error = 1.04 / (REGISTERS as f64).sqrt();
    let salt: u64 = rng.gen();
    let mut checkpoint: u64 = 1;
    for j in 1..=ELEMENTS {
        let element = (j ^ salt).to_le_bytes();
        let added = dense_hll
            .add(&element, sparse_max_bytes)
            .and_then(|_| sparse_hll.add(&element, sparse_max_bytes));
        added.map_err(|e| e.to_string())?;
        if j != checkpoint {
            continue;
        }
        if j < (sparse_max_bytes / 2) as u64 && sparse_hll.encoding() != Encoding::Sparse {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let count = dense_hll.count().map_err(|e| e.to_string())?;
        if sparse_hll.count().map_err(|e| e.to_string())? != count {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        // At 10 a collision is likely enough that Redis allows one off.
        let max_error = if j == 10 {
            1
        } else {
            (relative_error * 6.0 * checkpoint as f64).ceil() as u64
        };
        let error = checkpoint.abs_diff(count);
        if error > max_error {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{error}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}
