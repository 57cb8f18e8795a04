//! docs/METRICS.md stays in step with the metrics the binaries export: every
//! metric name recorded in the source is documented in one of its tables,
//! and every metric documented there is still recorded somewhere.
//!
//! A metric name is found in the source (comment lines ignored) as:
//! - a `"petrel_…"` literal that is the first argument of `counter!`,
//!   `gauge!` or `histogram!` (any spacing or line breaks before it);
//! - a `const NAME: &str = "petrel_…"` whose `NAME` (or `path::NAME`) is
//!   the first argument of one of those macros somewhere (the proxy keeps
//!   its names in `proxy/src/stats.rs`).
//!
//! A metric is documented when its name is in the first cell of a table row
//! of docs/METRICS.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose binaries export metrics (and the library they share).
const CRATES: [&str; 4] = ["common", "meta", "server", "proxy"];

/// The macros of the `metrics` crate that record a metric.
const MACROS: [&str; 3] = ["counter!", "gauge!", "histogram!"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` with every line that is a comment (`//`, `///`, `//!`) blanked,
/// so examples in comments are not taken for metrics.
fn without_comment_lines(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_metric_name(s: &str) -> bool {
    s.len() > "petrel_".len()
        && s.starts_with("petrel_")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The contents of the string literal opening at byte `i`, if one does.
fn literal_at(text: &str, i: usize) -> Option<&str> {
    if text.as_bytes().get(i) != Some(&b'"') {
        return None;
    }
    let len = text[i + 1..].find('"')?;
    Some(&text[i + 1..i + 1 + len])
}

/// The identifier starting at byte `i`, if one does.
fn ident_at(text: &str, i: usize) -> Option<&str> {
    let b = text.as_bytes();
    let mut end = i;
    while end < b.len() && is_ident_byte(b[end]) {
        end += 1;
    }
    (end > i).then(|| &text[i..end])
}

/// The last segment of the path (`a::b::NAME`) starting at byte `i`.
fn path_tail_at(text: &str, i: usize) -> Option<&str> {
    let b = text.as_bytes();
    let mut end = i;
    while end < b.len() && (is_ident_byte(b[end]) || b[end] == b':') {
        end += 1;
    }
    let tail = text[i..end].rsplit("::").next()?;
    (!tail.is_empty() && tail.bytes().all(is_ident_byte)).then_some(tail)
}

/// What one source file says about metric names.
#[derive(Default)]
struct Found {
    /// Literal names passed to the macros.
    literals: BTreeSet<String>,
    /// Identifiers (last path segment) passed to the macros instead.
    idents: BTreeSet<String>,
    /// `const IDENT: &str = "petrel_…"`, by identifier.
    consts: BTreeMap<String, BTreeSet<String>>,
}

fn scan(text: &str, found: &mut Found) {
    let b = text.as_bytes();
    for mac in MACROS {
        for (at, _) in text.match_indices(mac) {
            let i = skip_whitespace(b, at + mac.len());
            if !matches!(b.get(i), Some(b'(' | b'[' | b'{')) {
                continue;
            }
            let i = skip_whitespace(b, i + 1);
            if let Some(lit) = literal_at(text, i) {
                if is_metric_name(lit) {
                    found.literals.insert(lit.to_string());
                }
            } else if let Some(ident) = path_tail_at(text, i) {
                found.idents.insert(ident.to_string());
            }
        }
    }
    for (at, _) in text.match_indices("const ") {
        if at > 0 && is_ident_byte(b[at - 1]) {
            continue;
        }
        let i = skip_whitespace(b, at + "const ".len());
        let Some(ident) = ident_at(text, i) else {
            continue;
        };
        let i = skip_whitespace(b, i + ident.len());
        if b.get(i) != Some(&b':') {
            continue;
        }
        let Some(eq) = text[i + 1..].find('=') else {
            continue;
        };
        let ty: String = text[i + 1..i + 1 + eq]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if ty != "&str" && ty != "&'staticstr" {
            continue;
        }
        let j = skip_whitespace(b, i + 1 + eq + 1);
        if let Some(lit) = literal_at(text, j) {
            if is_metric_name(lit) {
                found
                    .consts
                    .entry(ident.to_string())
                    .or_default()
                    .insert(lit.to_string());
            }
        }
    }
}

/// Every metric name recorded in the source of [`CRATES`].
fn exported_metrics() -> BTreeSet<String> {
    let root = workspace();
    let mut files = Vec::new();
    for krate in CRATES {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    let mut found = Found::default();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        scan(&without_comment_lines(&text), &mut found);
    }
    let mut names = found.literals;
    for ident in &found.idents {
        if let Some(values) = found.consts.get(ident) {
            names.extend(values.iter().cloned());
        }
    }
    assert!(
        !names.is_empty(),
        "found no metric names under {CRATES:?} in {}: is the scan broken?",
        root.display()
    );
    names
}

/// The `petrel_…` words in `s`.
fn metric_names_in(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    for (at, _) in s.match_indices("petrel_") {
        if at > 0 && is_ident_byte(b[at - 1]) {
            continue;
        }
        let mut end = at;
        while end < b.len() && is_ident_byte(b[end]) {
            end += 1;
        }
        out.push(s[at..end].to_string());
    }
    out
}

/// Every metric name in the first cell of a table row of docs/METRICS.md.
fn documented_metrics() -> BTreeSet<String> {
    let path = workspace().join("docs/METRICS.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(row) = line.trim_start().strip_prefix('|') else {
            continue;
        };
        let first = row.split('|').next().unwrap_or_default();
        names.extend(metric_names_in(first));
    }
    names
}

#[test]
fn every_exported_metric_is_documented() {
    let documented = documented_metrics();
    let missing: Vec<String> = exported_metrics()
        .into_iter()
        .filter(|m| !documented.contains(m))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics recorded in the source but missing from the tables of docs/METRICS.md \
         (add a row: name, type, labels, what it counts): {missing:?}"
    );
}

#[test]
fn every_documented_metric_is_exported() {
    let exported = exported_metrics();
    let stale: Vec<String> = documented_metrics()
        .into_iter()
        .filter(|m| !exported.contains(m))
        .collect();
    assert!(
        stale.is_empty(),
        "metrics documented in docs/METRICS.md that no crate records any more \
         (remove or rename their rows): {stale:?}"
    );
}
