//! What a run measured, and how it is reported: readable lines, then a `RESULT` line.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::latency::{ms, Summary};

/// What a run measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Messages delivered (each receiving socket counts once).
    pub(crate) delivered: u64,
    /// Deliveries expected from the acknowledged messages.
    pub(crate) expected: u64,
    /// Messages acknowledged as stored.
    pub(crate) acked: u64,
    /// Sends the server refused with an error frame, by code and reason.
    pub(crate) refusals: Refusals,
    /// Deliveries whose text was not the one sent (a filter rewrote it).
    pub(crate) altered: u64,
    /// Problems seen (the first few, with a total).
    pub(crate) problems: Problems,
    /// From the first send to the last delivery.
    pub(crate) elapsed: Duration,
    /// Send to delivery.
    pub(crate) latency: Summary,
    /// Send to acknowledgement.
    pub(crate) ack: Summary,
    /// The rate the senders were paced at, messages per second; `None`: unpaced.
    pub(crate) target_rate: Option<f64>,
    /// Whether the deadline ended the run.
    pub(crate) timed_out: bool,
    /// CPU seconds the server used during the run, when it is another process.
    pub(crate) server_cpu: Option<f64>,
    /// CPU seconds this process used during the run (the echo server included, for echo).
    pub(crate) own_cpu: Option<f64>,
}

/// The first few problems, and how many there were.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    /// How many.
    pub(crate) count: u64,
    /// The first few, as text.
    pub(crate) first: Vec<String>,
}

impl Problems {
    const KEPT: usize = 5;

    pub(super) fn note(&mut self, problem: String) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(problem);
        }
    }

    pub(super) fn merge(&mut self, other: Problems) {
        self.count += other.count;
        for problem in other.first {
            if self.first.len() < Self::KEPT {
                self.first.push(problem);
            }
        }
    }
}

/// Refused sends, counted by the code and reason of the server's error frame.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    by_reason: BTreeMap<(i64, String), u64>,
}

impl Refusals {
    /// Counts one refusal.
    pub(crate) fn note(&mut self, code: i64, reason: String) {
        *self.by_reason.entry((code, reason)).or_default() += 1;
    }

    /// Adds every refusal of `other`.
    pub(crate) fn merge(&mut self, other: Refusals) {
        for (key, count) in other.by_reason {
            *self.by_reason.entry(key).or_default() += count;
        }
    }

    /// Refused sends in all.
    pub(crate) fn total(&self) -> u64 {
        self.by_reason.values().sum()
    }

    /// `code "reason" xN, ...`, or `none`.
    pub(crate) fn describe(&self) -> String {
        if self.by_reason.is_empty() {
            return "none".to_owned();
        }
        self.by_reason
            .iter()
            .map(|((code, reason), count)| format!("{code} {reason:?} x{count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What to change so that the refusals seen stop, one line per cause.
    fn hints(&self) -> Vec<&'static str> {
        let mut hints: Vec<&'static str> = self
            .by_reason
            .keys()
            .map(|(code, _)| match code {
                30019 => {
                    "30019: the send limits; raise CONFAB_CHAT__MESSAGES_PER_SECOND, \
                     CONFAB_CHAT__MESSAGE_BURST, CONFAB_CHAT__USER_MESSAGES_PER_SECOND and \
                     CONFAB_CHAT__USER_MESSAGE_BURST on the server"
                }
                50006 => {
                    "50006: the stranger-limit plugin; raise its limit with PUT \
                     /admin/plugins/stranger-limit/config (run.sh does)"
                }
                30013 => {
                    "30013: the word filter, or a text the filters left empty or too long; \
                     check the filter's list"
                }
                _ => "another refusal: see docs/protocol.md for the code",
            })
            .collect();
        hints.sort_unstable();
        hints.dedup();
        hints
    }
}

impl Outcome {
    /// Deliveries per second over the measured phase.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.delivered as f64 / secs
        } else {
            0.0
        }
    }

    /// Whether every message went through and arrived everywhere, in time, unrefused.
    pub(crate) fn complete(&self) -> bool {
        !self.timed_out
            && self.delivered >= self.expected
            && self.problems.count == 0
            && self.refusals.total() == 0
            && self.altered == 0
    }

    /// Prints the readable report, each line indented by two spaces.
    pub(crate) fn report(&self, unit: &str) {
        let rate = self.rate();
        let paced = self
            .target_rate
            .map(|target| format!(", paced at {target:.0} messages/s"))
            .unwrap_or_default();
        println!(
            "  delivered   {} of {} {unit} in {:.3} s: {rate:.0} {unit}/s{paced}{}",
            self.delivered,
            self.expected,
            self.elapsed.as_secs_f64(),
            if self.timed_out {
                "  (stopped at the deadline)"
            } else {
                ""
            }
        );
        println!("  latency     {}", self.latency);
        println!("  ack         {}", self.ack);
        println!(
            "  acked {}, refused {} ({}), altered {}, problems {}",
            self.acked,
            self.refusals.total(),
            self.refusals.describe(),
            self.altered,
            self.problems.count
        );
        for problem in &self.problems.first {
            println!("    {problem}");
        }
        for hint in self.refusals.hints() {
            println!("  refused sends count against the run: {hint}");
        }
        if self.altered > 0 {
            println!(
                "  altered texts: a filter rewrote delivered messages; the word filter's list \
                 matches the generated texts"
            );
        }
        let share = |cpu: f64| 100.0 * cpu / self.elapsed.as_secs_f64().max(f64::EPSILON);
        if let Some(cpu) = self.server_cpu {
            println!("  server CPU  {cpu:.2} s ({:.0}% of one core)", share(cpu));
        }
        if let Some(cpu) = self.own_cpu {
            println!("  loadgen CPU {cpu:.2} s ({:.0}% of one core)", share(cpu));
        }
    }

    /// The `key=value` fields of the `RESULT` line.
    pub(crate) fn fields(&self) -> String {
        let cpu_field =
            |cpu: Option<f64>| cpu.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"));
        format!(
            "delivered={} expected={} seconds={:.3} rate={:.1} target_rate={} mean_ms={} \
             p50_ms={} p99_ms={} max_ms={} ack_mean_ms={} ack_p50_ms={} ack_p99_ms={} \
             refused={} altered={} problems={} server_cpu_s={} loadgen_cpu_s={} complete={}",
            self.delivered,
            self.expected,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.target_rate
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}")),
            ms(self.latency.mean),
            ms(self.latency.p50),
            ms(self.latency.p99),
            ms(self.latency.max),
            ms(self.ack.mean),
            ms(self.ack.p50),
            ms(self.ack.p99),
            self.refusals.total(),
            self.altered,
            self.problems.count,
            cpu_field(self.server_cpu),
            cpu_field(self.own_cpu),
            if self.complete() { "yes" } else { "no" },
        )
    }

    /// Prints the report and the `RESULT` line for `scenario`.
    pub(crate) fn print(&self, scenario: &str, unit: &str) {
        self.report(unit);
        println!("RESULT scenario={scenario} {}", self.fields());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_reason() {
        let mut refusals = Refusals::default();
        refusals.note(50006, "达到限制".to_owned());
        let mut other = Refusals::default();
        other.note(50006, "达到限制".to_owned());
        other.note(30019, "slow down".to_owned());
        refusals.merge(other);
        assert_eq!(refusals.total(), 3);
        assert_eq!(
            refusals.describe(),
            "30019 \"slow down\" x1, 50006 \"达到限制\" x2"
        );
        assert_eq!(refusals.hints().len(), 2);
        assert_eq!(Refusals::default().describe(), "none");
    }
}
