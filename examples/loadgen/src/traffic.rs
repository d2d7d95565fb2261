//! The measured phase that every sending scenario shares.
//!
//! Each socket runs in a task of its own. A socket with messages to send keeps at most
//! `window` of them unacknowledged; every socket times what is delivered to it. A message
//! carries its send time (nanoseconds since a clock shared by all tasks of this process)
//! inside its text, so the receiving task measures the end-to-end latency at receipt.
//! The phase ends when every sender is done and every expected delivery has arrived, at
//! the deadline, or as soon as a socket breaks (the run can then no longer complete).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::confab::Socket;
use crate::cpu;
use crate::frames::{classify, Dialect, Incoming};
use crate::latency::{ms, Samples};

/// What one socket does.
pub(crate) struct Role {
    /// The open socket, already registered with the server.
    pub(crate) socket: Socket,
    /// Messages it sends (0: it only receives).
    pub(crate) sends: u64,
}

/// The traffic of one run.
pub(crate) struct Plan {
    /// How to read the server's frames.
    pub(crate) dialect: Dialect,
    /// The sockets.
    pub(crate) roles: Vec<Role>,
    /// Unacknowledged messages a sender may have at once.
    pub(crate) window: u64,
    /// Length of each message's text.
    pub(crate) bytes: usize,
    /// Deliveries each acknowledged message makes.
    pub(crate) fanout: u64,
    /// When to stop waiting and report what arrived.
    pub(crate) deadline: Instant,
    /// The server's process id, to report its CPU time; `None` when it is this process.
    pub(crate) server_pid: Option<u32>,
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Messages delivered (each receiving socket counts once).
    pub(crate) delivered: u64,
    /// Deliveries expected from the acknowledged messages.
    pub(crate) expected: u64,
    /// Messages acknowledged as stored.
    pub(crate) acked: u64,
    /// Sends the server refused with an error frame.
    pub(crate) refused: u64,
    /// Problems seen (the first few, with a total).
    pub(crate) problems: Problems,
    /// From the first send to the last delivery.
    pub(crate) elapsed: Duration,
    /// Send to delivery.
    pub(crate) latency: Samples,
    /// Send to acknowledgement.
    pub(crate) ack: Samples,
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

    fn note(&mut self, problem: String) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(problem);
        }
    }

    fn merge(&mut self, other: Problems) {
        self.count += other.count;
        for problem in other.first {
            if self.first.len() < Self::KEPT {
                self.first.push(problem);
            }
        }
    }
}

/// Counters every task updates and the coordinator watches.
#[derive(Debug, Default)]
struct Progress {
    delivered: AtomicU64,
    acked: AtomicU64,
    senders_done: AtomicU64,
    /// Sockets that closed or failed before the end: the run cannot complete.
    broken: AtomicU64,
}

/// What one task measured.
#[derive(Debug, Default)]
struct TaskReport {
    latency: Samples,
    ack: Samples,
    refused: u64,
    problems: Problems,
    last_delivery: Option<Instant>,
}

/// Runs the plan and returns what it measured.
pub(crate) async fn drive(plan: Plan) -> Outcome {
    let clock = Instant::now();
    let progress = Arc::new(Progress::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let senders = plan.roles.iter().filter(|r| r.sends > 0).count() as u64;
    let cpu_before = (
        plan.server_pid.and_then(|pid| cpu::seconds(Some(pid))),
        cpu::seconds(None),
    );
    let start = Instant::now();
    let tasks: Vec<_> = plan
        .roles
        .into_iter()
        .map(|role| {
            let task = Task {
                dialect: plan.dialect,
                sends: role.sends,
                window: plan.window.max(1),
                bytes: plan.bytes,
                clock,
                progress: progress.clone(),
                stop: stop_rx.clone(),
                deadline: plan.deadline,
            };
            tokio::spawn(task.run(role.socket))
        })
        .collect();

    // Polling is enough here: the figures come from the tasks' own timestamps, not from
    // when this loop notices that the run is complete.
    let mut timed_out = false;
    loop {
        let done = progress.senders_done.load(Ordering::Acquire) == senders;
        let expected = progress.acked.load(Ordering::Acquire) * plan.fanout;
        if done && progress.delivered.load(Ordering::Acquire) >= expected {
            break;
        }
        if Instant::now() >= plan.deadline {
            timed_out = true;
            break;
        }
        if progress.broken.load(Ordering::Acquire) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_tx.send(true);
    let used = |before: Option<f64>, now: Option<f64>| Some(now? - before?);
    let server_cpu = used(
        cpu_before.0,
        plan.server_pid.and_then(|pid| cpu::seconds(Some(pid))),
    );
    let own_cpu = used(cpu_before.1, cpu::seconds(None));

    let mut outcome = Outcome {
        delivered: progress.delivered.load(Ordering::Acquire),
        expected: progress.acked.load(Ordering::Acquire) * plan.fanout,
        acked: progress.acked.load(Ordering::Acquire),
        refused: 0,
        problems: Problems::default(),
        elapsed: Duration::ZERO,
        latency: Samples::default(),
        ack: Samples::default(),
        timed_out,
        server_cpu,
        own_cpu,
    };
    let mut last = start;
    for task in tasks {
        match task.await {
            Ok(report) => {
                outcome.latency.merge(report.latency);
                outcome.ack.merge(report.ack);
                outcome.refused += report.refused;
                outcome.problems.merge(report.problems);
                if let Some(at) = report.last_delivery {
                    last = last.max(at);
                }
            }
            Err(err) => outcome
                .problems
                .note(format!("a socket task failed: {err}")),
        }
    }
    outcome.elapsed = last.duration_since(start);
    outcome
}

/// One socket's sender and receiver.
struct Task {
    dialect: Dialect,
    sends: u64,
    window: u64,
    bytes: usize,
    clock: Instant,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
    deadline: Instant,
}

impl Task {
    async fn run(mut self, socket: Socket) -> TaskReport {
        let (mut sink, mut stream) = socket.split();
        let mut report = TaskReport::default();
        let mut in_flight: HashMap<u64, Instant> = HashMap::new();
        let mut next = 0u64;
        let mut settled = 0u64;
        let mut sending = self.sends > 0;
        let mut broken = true;
        loop {
            // Top up the window, then wait for what comes back.
            while sending && next < self.sends && (in_flight.len() as u64) < self.window {
                let frame = self.frame(next);
                in_flight.insert(next, Instant::now());
                if let Err(err) = sink.send(Message::Text(frame.into())).await {
                    report.problems.note(format!("sending failed: {err}"));
                    sending = false;
                    break;
                }
                next += 1;
            }
            if sending && settled == self.sends {
                sending = false;
                self.progress.senders_done.fetch_add(1, Ordering::AcqRel);
            }
            let frame = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => {
                    broken = false;
                    break;
                }
                () = tokio::time::sleep_until(self.deadline) => {
                    broken = false;
                    break;
                }
                frame = stream.next() => frame,
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(close))) => {
                    report
                        .problems
                        .note(format!("the server closed a socket: {close:?}"));
                    break;
                }
                Some(Ok(_)) => continue,
                Some(Err(err)) => {
                    report.problems.note(format!("socket error: {err}"));
                    break;
                }
                None => {
                    report
                        .problems
                        .note("the server dropped a socket".to_owned());
                    break;
                }
            };
            let now = Instant::now();
            match classify(self.dialect, text.as_str()) {
                Incoming::Ack { seq } => {
                    if let Some(at) = in_flight.remove(&seq) {
                        report.ack.record(now.duration_since(at));
                        settled += 1;
                        self.progress.acked.fetch_add(1, Ordering::AcqRel);
                    }
                }
                Incoming::Refused { seq, reason } => {
                    if in_flight.remove(&seq).is_some() {
                        settled += 1;
                        report.refused += 1;
                        report
                            .problems
                            .note(format!("a send was refused: {reason}"));
                    }
                }
                Incoming::Delivery { sent_ns } => {
                    self.delivered(&mut report, now, sent_ns);
                }
                Incoming::Echo { seq, sent_ns } => {
                    if let Some(at) = in_flight.remove(&seq) {
                        report.ack.record(now.duration_since(at));
                        settled += 1;
                        self.progress.acked.fetch_add(1, Ordering::AcqRel);
                    }
                    self.delivered(&mut report, now, sent_ns);
                }
                Incoming::Ignored => {}
                Incoming::Unexpected(text) => {
                    report.problems.note(format!("unexpected frame: {text}"));
                }
            }
        }
        if broken {
            self.progress.broken.fetch_add(1, Ordering::AcqRel);
        }
        // A polite close, so the server logs no broken connections; never waited on long.
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        report
    }

    fn delivered(&self, report: &mut TaskReport, now: Instant, sent_ns: u64) {
        let sent = self.clock + Duration::from_nanos(sent_ns);
        report.latency.record(now.saturating_duration_since(sent));
        report.last_delivery = Some(now);
        self.progress.delivered.fetch_add(1, Ordering::AcqRel);
    }

    /// A send frame whose text carries the send time and is padded to `bytes`.
    fn frame(&self, seq: u64) -> String {
        let sent_ns = u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut content = json!({ "t": sent_ns, "s": seq, "p": "" }).to_string();
        if content.len() < self.bytes {
            let pad = "x".repeat(self.bytes - content.len());
            content = json!({ "t": sent_ns, "s": seq, "p": pad }).to_string();
        }
        json!({ "type": 1, "content": content, "client_id": format!("s{seq}") }).to_string()
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

    /// Prints the report and the `RESULT` line for `scenario`.
    pub(crate) fn print(self, scenario: &str, unit: &str) {
        let rate = self.rate();
        let complete =
            !self.timed_out && self.delivered >= self.expected && self.problems.count == 0;
        println!(
            "  delivered   {} of {} {unit} in {:.3} s: {rate:.0} {unit}/s{}",
            self.delivered,
            self.expected,
            self.elapsed.as_secs_f64(),
            if self.timed_out {
                "  (stopped at the deadline)"
            } else {
                ""
            }
        );
        let latency = self.latency.summary();
        let ack = self.ack.summary();
        println!("  latency     {latency}");
        println!("  ack         {ack}");
        println!(
            "  acked {}, refused {}, problems {}",
            self.acked, self.refused, self.problems.count
        );
        for problem in &self.problems.first {
            println!("    {problem}");
        }
        if self.refused > 0 {
            println!(
                "  (refused sends count against the run: raise CONFAB_CHAT__MESSAGES_PER_SECOND \
                 and CONFAB_CHAT__MESSAGE_BURST on the server)"
            );
        }
        let share = |cpu: f64| 100.0 * cpu / self.elapsed.as_secs_f64().max(f64::EPSILON);
        if let Some(cpu) = self.server_cpu {
            println!("  server CPU  {cpu:.2} s ({:.0}% of one core)", share(cpu));
        }
        if let Some(cpu) = self.own_cpu {
            println!("  loadgen CPU {cpu:.2} s ({:.0}% of one core)", share(cpu));
        }
        let cpu_field =
            |cpu: Option<f64>| cpu.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"));
        println!(
            "RESULT scenario={scenario} delivered={} expected={} seconds={:.3} rate={rate:.1} \
             mean_ms={} p50_ms={} p99_ms={} max_ms={} ack_mean_ms={} ack_p50_ms={} ack_p99_ms={} refused={} problems={} \
             server_cpu_s={} loadgen_cpu_s={} complete={}",
            self.delivered,
            self.expected,
            self.elapsed.as_secs_f64(),
            ms(latency.mean),
            ms(latency.p50),
            ms(latency.p99),
            ms(latency.max),
            ms(ack.mean),
            ms(ack.p50),
            ms(ack.p99),
            self.refused,
            self.problems.count,
            cpu_field(self.server_cpu),
            cpu_field(self.own_cpu),
            if complete { "yes" } else { "no" },
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::frames::seq_of;

    #[test]
    fn frames_are_padded_to_length() {
        let (_tx, stop) = watch::channel(false);
        let task = Task {
            dialect: Dialect::Direct,
            sends: 1,
            window: 1,
            bytes: 200,
            clock: Instant::now(),
            progress: Arc::default(),
            stop,
            deadline: Instant::now(),
        };
        let frame: Value = serde_json::from_str(&task.frame(3)).expect("JSON");
        assert_eq!(frame["content"].as_str().map(str::len), Some(200));
        assert_eq!(seq_of(&frame), Some(3));
    }
}
