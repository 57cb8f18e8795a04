//! `client-output-buffer-limit`: how many unsent reply bytes a client may
//! have before it is disconnected, per class of client (normal, replica,
//! pubsub), each a hard limit and a soft limit held for some seconds.
//! Written and read back in Redis's format.

use std::time::{Duration, Instant};

use crate::util::parse_memory;

/// One class's limits; 0 turns a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limit {
    pub(crate) hard: u64,
    pub(crate) soft: u64,
    pub(crate) soft_seconds: u64,
}

/// Every class's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutputLimits {
    pub(crate) normal: Limit,
    pub(crate) replica: Limit,
    pub(crate) pubsub: Limit,
}

impl OutputLimits {
    /// Redis's defaults, but a normal client's hard limit from the config
    /// file (`client_output_buffer_limit`: a proxy protects its memory).
    pub(crate) fn with_normal_hard(hard: u64) -> Self {
        OutputLimits {
            normal: Limit {
                hard,
                soft: 0,
                soft_seconds: 0,
            },
            replica: Limit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            pubsub: Limit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
        }
    }

    /// The value as `CONFIG GET` shows it.
    pub(crate) fn render(&self) -> String {
        let one =
            |name: &str, l: &Limit| format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds);
        format!(
            "{} {} {}",
            one("normal", &self.normal),
            one("slave", &self.replica),
            one("pubsub", &self.pubsub)
        )
    }

    /// Applies `CONFIG SET client-output-buffer-limit <class> <hard> <soft>
    /// <seconds> ...`: every class named, or nothing when any part is wrong.
    pub(crate) fn set(&mut self, value: &str) -> Result<(), String> {
        let words: Vec<&str> = value.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut next = *self;
        for group in words.chunks(4) {
            let slot = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut next.normal,
                "slave" | "replica" => &mut next.replica,
                "pubsub" => &mut next.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad = || {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            };
            let hard = parse_memory(group[1]).ok_or_else(bad)?;
            let soft = parse_memory(group[2]).ok_or_else(bad)?;
            let soft_seconds = group[3].parse::<u64>().map_err(|_| bad())?;
            *slot = Limit {
                hard,
                soft,
                soft_seconds,
            };
        }
        *self = next;
        Ok(())
    }
}

/// One connection's watch over its unsent bytes.
#[derive(Default)]
pub(crate) struct Watch {
    /// Since when the soft limit has been exceeded without a break.
    over_soft_since: Option<Instant>,
}

impl Watch {
    /// Whether a client with `pending` unsent bytes, held to `limit`, must go.
    pub(crate) fn exceeded(&mut self, limit: &Limit, pending: usize) -> bool {
        let pending = pending as u64;
        if limit.hard > 0 && pending >= limit.hard {
            return true;
        }
        if limit.soft == 0 || pending < limit.soft {
            self.over_soft_since = None;
            return false;
        }
        let since = *self.over_soft_since.get_or_insert_with(Instant::now);
        since.elapsed() >= Duration::from_secs(limit.soft_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_takes_every_class_or_nothing_and_renders_as_redis() {
        let mut l = OutputLimits::with_normal_hard(0);
        assert_eq!(
            l.render(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        l.set("pubsub 1mb 512kb 10 normal 1gb 0 0").unwrap();
        assert_eq!(l.pubsub.hard, 1 << 20);
        assert_eq!(l.pubsub.soft, 512 << 10);
        assert_eq!(l.normal.hard, 1 << 30);
        let before = l;
        assert!(l.set("pubsub 1 2").unwrap_err().starts_with("Wrong number"));
        assert!(l
            .set("pubsub 1 2 3 master 1 2 3")
            .unwrap_err()
            .starts_with("Invalid client class"));
        assert!(l
            .set("pubsub x 2 3")
            .unwrap_err()
            .starts_with("Error in hard"));
        assert_eq!(l, before, "a refused value changes nothing");
    }

    #[test]
    fn the_soft_limit_needs_its_seconds_and_the_hard_one_none() {
        let mut w = Watch::default();
        let limit = Limit {
            hard: 100,
            soft: 10,
            soft_seconds: 0,
        };
        assert!(!w.exceeded(&limit, 5));
        assert!(w.exceeded(&limit, 10), "soft with 0 seconds is immediate");
        assert!(w.exceeded(&limit, 100));
        let slow = Limit {
            soft_seconds: 60,
            ..limit
        };
        let mut w = Watch::default();
        assert!(!w.exceeded(&slow, 50), "over soft, not for long");
        assert!(!w.exceeded(&slow, 5));
        assert!(w.exceeded(&slow, 100), "hard");
    }
}
