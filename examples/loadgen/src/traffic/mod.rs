//! The measured phase that every sending scenario shares.
//!
//! Each socket runs in a task of its own. A socket with messages to send keeps at most
//! `window` of them unacknowledged; every socket times what is delivered to it. A message
//! carries its send time (nanoseconds since a clock shared by all tasks of this process)
//! and its sender's number inside its text, so the receiving task measures the end-to-end
//! latency at receipt. The phase ends when every sender is done and every expected delivery
//! has arrived, at the deadline, or as soon as a socket breaks (the run can then no longer
//! complete).
//!
//! With a rate, each sender sends on a fixed schedule instead of as fast as its window
//! allows: the rate is shared evenly by the senders, and their schedules are staggered so
//! that the messages of all of them are spread evenly in time. The window still applies, so
//! a server slower than the schedule falls behind it rather than piling up unanswered sends.

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
use crate::frames::{classify, Dialect, Incoming, Stamp};
use crate::latency::Samples;

mod outcome;

pub(crate) use outcome::Outcome;
use outcome::{Problems, Refusals};

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
    /// Messages per second from all senders together; `None`: as fast as the window allows.
    pub(crate) rate: Option<f64>,
    /// Deliveries each acknowledged message makes.
    pub(crate) fanout: u64,
    /// When to stop waiting and report what arrived.
    pub(crate) deadline: Instant,
    /// The server's process id, to report its CPU time; `None` when it is this process.
    pub(crate) server_pid: Option<u32>,
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
    refusals: Refusals,
    altered: u64,
    problems: Problems,
    last_delivery: Option<Instant>,
}

/// When one sender's messages are due, in a paced run.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// This sender's first message.
    first: Instant,
    /// Time between two messages of this sender.
    interval: Duration,
}

impl Pace {
    /// The schedules of `senders` senders sharing `rate` messages per second from `start`,
    /// or `None` when the rate is not a usable number.
    fn schedules(rate: f64, senders: u64, start: Instant) -> Option<Vec<Pace>> {
        let interval = Duration::try_from_secs_f64(senders as f64 / rate).ok()?;
        let stagger = interval.checked_div(u32::try_from(senders.max(1)).ok()?)?;
        (0..senders)
            .map(|i| {
                let first = start.checked_add(stagger.checked_mul(u32::try_from(i).ok()?)?)?;
                Some(Pace { first, interval })
            })
            .collect()
    }

    /// When message `seq` is due; `None` if that is too far away to represent.
    fn due(&self, seq: u64) -> Option<Instant> {
        let offset = self
            .interval
            .checked_mul(u32::try_from(seq).unwrap_or(u32::MAX))?;
        self.first.checked_add(offset)
    }
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
    // A rate that cannot be scheduled was refused by `Load::check`; should one get here,
    // the run goes as fast as the window allows rather than not at all.
    let mut paces = plan
        .rate
        .and_then(|rate| Pace::schedules(rate, senders, start))
        .unwrap_or_default()
        .into_iter();
    let tasks: Vec<_> = plan
        .roles
        .into_iter()
        .enumerate()
        .map(|(id, role)| {
            let pace = if role.sends > 0 { paces.next() } else { None };
            let task = Task {
                id: id as u64,
                dialect: plan.dialect,
                sends: role.sends,
                window: plan.window.max(1),
                bytes: plan.bytes,
                pace,
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

    let mut latency = Samples::default();
    let mut ack = Samples::default();
    let mut refusals = Refusals::default();
    let mut altered = 0;
    let mut problems = Problems::default();
    let mut last = start;
    for task in tasks {
        match task.await {
            Ok(report) => {
                latency.merge(report.latency);
                ack.merge(report.ack);
                refusals.merge(report.refusals);
                altered += report.altered;
                problems.merge(report.problems);
                if let Some(at) = report.last_delivery {
                    last = last.max(at);
                }
            }
            Err(err) => problems.note(format!("a socket task failed: {err}")),
        }
    }
    Outcome {
        delivered: progress.delivered.load(Ordering::Acquire),
        expected: progress.acked.load(Ordering::Acquire) * plan.fanout,
        acked: progress.acked.load(Ordering::Acquire),
        refusals,
        altered,
        problems,
        elapsed: last.duration_since(start),
        latency: latency.summary(),
        ack: ack.summary(),
        target_rate: plan.rate,
        timed_out,
        server_cpu,
        own_cpu,
    }
}

/// One socket's sender and receiver.
struct Task {
    /// The socket's number in the plan, written into its messages.
    id: u64,
    dialect: Dialect,
    sends: u64,
    window: u64,
    bytes: usize,
    pace: Option<Pace>,
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
            // Top up the window with what is due, then wait for what comes back (or, in a
            // paced run, for the next message to fall due).
            let now = Instant::now();
            while sending
                && next < self.sends
                && (in_flight.len() as u64) < self.window
                && self.due(next).is_some_and(|due| due <= now)
            {
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
            let waiting_for_pace = sending
                && next < self.sends
                && (in_flight.len() as u64) < self.window
                && self.pace.is_some();
            let due = self.due(next).unwrap_or(self.deadline);
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
                () = tokio::time::sleep_until(due), if waiting_for_pace => continue,
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
            match classify(self.dialect, text.as_str(), self.id) {
                Incoming::Ack { seq } => {
                    if let Some(at) = in_flight.remove(&seq) {
                        report.ack.record(now.duration_since(at));
                        settled += 1;
                        self.progress.acked.fetch_add(1, Ordering::AcqRel);
                    }
                }
                Incoming::Refused { seq, code, reason } => {
                    if in_flight.remove(&seq).is_some() {
                        settled += 1;
                        report.refusals.note(code, reason);
                    }
                }
                Incoming::Delivery(stamp) => {
                    self.delivered(&mut report, now, stamp);
                }
                Incoming::Echo { seq, stamp } => {
                    if let Some(at) = in_flight.remove(&seq) {
                        report.ack.record(now.duration_since(at));
                        settled += 1;
                        self.progress.acked.fetch_add(1, Ordering::AcqRel);
                    }
                    self.delivered(&mut report, now, stamp);
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

    /// When message `seq` may go out: at once unless the run is paced.
    fn due(&self, seq: u64) -> Option<Instant> {
        match &self.pace {
            Some(pace) => pace.due(seq),
            None => Some(self.clock),
        }
    }

    fn delivered(&self, report: &mut TaskReport, now: Instant, stamp: Stamp) {
        let sent = self.clock + Duration::from_nanos(stamp.sent_ns);
        report.latency.record(now.saturating_duration_since(sent));
        report.last_delivery = Some(now);
        if !stamp.intact {
            // Counted as delivered (it arrived), but a rewritten text means a filter did
            // work the run was not meant to measure, so it is reported.
            report.altered += 1;
        }
        self.progress.delivered.fetch_add(1, Ordering::AcqRel);
    }

    /// A send frame whose text carries the send time and the sender, padded to `bytes`.
    ///
    /// The text is JSON of digits and the letters `t`, `s`, `c`, `p` and `x`, so no word
    /// filter with a list of real words changes it (the `frames_contain_no_blocked_word`
    /// test checks the bundled filter's default list).
    fn frame(&self, seq: u64) -> String {
        let sent_ns = u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut content = json!({ "t": sent_ns, "s": seq, "c": self.id, "p": "" }).to_string();
        if content.len() < self.bytes {
            let pad = "x".repeat(self.bytes - content.len());
            content = json!({ "t": sent_ns, "s": seq, "c": self.id, "p": pad }).to_string();
        }
        json!({ "type": 1, "content": content, "client_id": format!("s{seq}") }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::frames::seq_of;

    fn task(bytes: usize) -> Task {
        let (_tx, stop) = watch::channel(false);
        Task {
            id: 7,
            dialect: Dialect::Direct,
            sends: 1,
            window: 1,
            bytes,
            pace: None,
            clock: Instant::now(),
            progress: Arc::default(),
            stop,
            deadline: Instant::now(),
        }
    }

    #[test]
    fn frames_are_padded_to_length() {
        let frame: Value = serde_json::from_str(&task(200).frame(3)).expect("JSON");
        assert_eq!(frame["content"].as_str().map(str::len), Some(200));
        assert_eq!(seq_of(&frame), Some(3));
    }

    /// The bundled word filter runs on every message in the benchmark runs; a text it
    /// rewrote would measure the filter's rewriting, not the message path.
    #[test]
    fn frames_contain_no_blocked_word() {
        // The list is one line, `words = ["...", ...]`: a TOML array of plain strings,
        // which reads as JSON.
        let manifest = include_str!("../../../../plugins/word-filter/plugin.toml");
        let list = manifest
            .lines()
            .find_map(|line| line.trim().strip_prefix("words"))
            .and_then(|rest| rest.trim().strip_prefix('='))
            .expect("the word filter's manifest has a `words = [...]` line");
        let words: Vec<String> = serde_json::from_str(list.trim()).expect("a list of strings");
        let words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        assert!(!words.is_empty());
        for bytes in [32, 100, 200, 4000] {
            for seq in [0, 9, 3999, u64::MAX] {
                let frame: Value = serde_json::from_str(&task(bytes).frame(seq)).expect("JSON");
                let text = frame["content"].as_str().expect("a text").to_lowercase();
                for word in &words {
                    assert!(!text.contains(word.as_str()), "{word:?} in {text}");
                }
            }
        }
    }

    #[test]
    fn paced_senders_share_the_rate_evenly() {
        let start = Instant::now();
        let paces = Pace::schedules(100.0, 4, start).expect("a usable rate");
        assert_eq!(paces.len(), 4);
        // 100 messages/s over 4 senders: each sends every 40 ms, 10 ms after the previous.
        for (i, pace) in paces.iter().enumerate() {
            assert_eq!(pace.interval, Duration::from_millis(40));
            assert_eq!(pace.first - start, Duration::from_millis(10 * i as u64));
        }
        assert_eq!(
            paces[1].due(3).map(|due| due - start),
            Some(Duration::from_millis(130))
        );
        assert!(Pace::schedules(0.0, 4, start).is_none());
        assert!(Pace::schedules(f64::NAN, 4, start).is_none());
    }
}
