//! The Markdown tables `petrel-resp-bench` prints.

use std::fmt::Write;

use super::check::Fidelity;
use super::timing::Measured;

/// One row per contender: ns/op, MB/s, and time over Petrel's (median of
/// the rounds, with the lowest and highest round).
pub fn table(measured: &[Measured]) -> String {
    let mut out = String::from(
        "| case | bytes | contender | ns/op | MB/s | time / Petrel's (min–max) |\n\
         |---|---:|---|---:|---:|---:|\n",
    );
    for m in measured {
        for (i, f) in m.figures.iter().enumerate() {
            let (case, bytes) = if i == 0 {
                (m.name.as_str(), m.bytes.to_string())
            } else {
                ("", String::new())
            };
            let (r, lo, hi) = f.ratio;
            let _ = writeln!(
                out,
                "| {case} | {bytes} | {} | {:.1} | {:.0} | {r:.2} ({lo:.2}–{hi:.2}) |",
                f.name,
                f.ns_per_op,
                m.mb_per_s(f.ns_per_op),
            );
        }
    }
    out
}

/// Inputs and what each side makes of them.
pub fn fidelity(rows: &[Fidelity]) -> String {
    let mut out = String::from("| input | Petrel | redis-protocol |\n|---|---|---|\n");
    for r in rows {
        let cell = |s: &str| format!("`{}`", s.replace('|', "\\|"));
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            r.what,
            cell(&r.petrel),
            cell(&r.redis_protocol)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::timing::Figure;
    use super::*;

    #[test]
    fn names_the_case_once_and_shows_each_contender() {
        let m = Measured {
            name: "encode +OK".into(),
            bytes: 5,
            figures: vec![
                Figure {
                    name: "petrel",
                    ns_per_op: 5.0,
                    ratio: (1.0, 1.0, 1.0),
                },
                Figure {
                    name: "other",
                    ns_per_op: 10.0,
                    ratio: (2.0, 1.9, 2.2),
                },
            ],
        };
        let t = table(&[m]);
        let rows: Vec<&str> = t.lines().collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[2],
            "| encode +OK | 5 | petrel | 5.0 | 1000 | 1.00 (1.00–1.00) |"
        );
        assert_eq!(rows[3], "|  |  | other | 10.0 | 500 | 2.00 (1.90–2.20) |");
    }

    #[test]
    fn fidelity_cells_are_code_and_escape_pipes() {
        let t = fidelity(&[Fidelity {
            what: "x",
            petrel: "a|b".into(),
            redis_protocol: "c".into(),
        }]);
        assert!(t.ends_with("| x | `a\\|b` | `c` |\n"), "{t}");
    }
}
