//! What clients measure: per-kind latency histograms and error counts.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::workloads::OpKind;

/// Highest latency tracked exactly (larger values are clamped): 60 s in µs.
const MAX_MICROS: u64 = 60_000_000;

/// Latency of one operation kind, in microseconds.
#[derive(Debug, Clone)]
pub(crate) struct KindStats {
    pub(crate) latency: Histogram<u64>,
}

impl Default for KindStats {
    fn default() -> Self {
        KindStats {
            // 3 significant digits: 0.1% error on every percentile.
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"),
        }
    }
}

/// One client's (or, merged, a whole run's) measurements.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    /// Indexed by [`OpKind::index`]; `None` for kinds never seen.
    pub(crate) kinds: [Option<KindStats>; OpKind::ALL.len()],
    /// Error replies by first word (`ERR`, `WRONGTYPE`, ...).
    pub(crate) errors: BTreeMap<String, u64>,
    /// Operations lost to connection failures.
    pub(crate) io_errors: u64,
}

impl Stats {
    /// Records one completed operation.
    pub(crate) fn record(&mut self, kind: OpKind, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        let k = self.kinds[kind.index()].get_or_insert_with(KindStats::default);
        k.latency.saturating_record(micros);
    }

    /// Counts an error reply.
    pub(crate) fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds another client's measurements.
    pub(crate) fn merge(&mut self, other: &Stats) {
        for (mine, theirs) in self.kinds.iter_mut().zip(other.kinds.iter()) {
            if let Some(theirs) = theirs {
                let mine = mine.get_or_insert_with(KindStats::default);
                // Same bounds on both sides, so adding cannot fail.
                let _ = mine.latency.add(&theirs.latency);
            }
        }
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
        self.io_errors += other.io_errors;
    }

    /// Completed operations of all kinds.
    pub(crate) fn ops(&self) -> u64 {
        self.kinds.iter().flatten().map(|k| k.latency.len()).sum()
    }

    /// Error replies of all kinds.
    pub(crate) fn error_replies(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Latency summary of one kind, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub(crate) struct Percentiles {
    pub(crate) mean_ms: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
}

impl Percentiles {
    /// Reads the histogram (µs) into milliseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_latencies() {
        let mut s = Stats::default();
        for us in 1..=1000u64 {
            s.record(OpKind::Get, Duration::from_micros(us));
        }
        let mut other = Stats::default();
        other.record(OpKind::Get, Duration::from_secs(1));
        other.record(OpKind::Set, Duration::from_micros(5));
        other.error("ERR");
        other.error("ERR");
        other.io_errors = 3;
        s.merge(&other);
        assert_eq!(s.ops(), 1002);
        assert_eq!(s.error_replies(), 2);
        assert_eq!(s.io_errors, 3);
        let p = Percentiles::of(&s.kinds[OpKind::Get.index()].as_ref().unwrap().latency);
        assert!((p.p50_ms - 0.5).abs() < 0.002, "{p:?}");
        assert!((p.p90_ms - 0.9).abs() < 0.002, "{p:?}");
        assert!((p.p99_ms - 0.99).abs() < 0.002, "{p:?}");
        assert!(p.p50_ms <= p.p90_ms && p.p90_ms <= p.p99_ms && p.p99_ms <= p.p999_ms);
        assert!((p.max_ms - 1000.0).abs() < 1.0, "{p:?}");
        // Zero-length latencies count as the smallest bucket, huge ones clamp.
        s.record(OpKind::Set, Duration::ZERO);
        s.record(OpKind::Set, Duration::from_secs(3600));
        assert_eq!(
            s.kinds[OpKind::Set.index()].as_ref().unwrap().latency.len(),
            3
        );
    }
}
