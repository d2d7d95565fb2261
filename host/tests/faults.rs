//! Fault runs against real processes: two `confab serve` nodes on a fresh MariaDB database and
//! a Redis of their own, clients streaming private messages across them, and one fault per
//! test — kill -9 of a node, a Redis restart, a stalled and then a cut database link, and
//! SIGTERM under load.
//!
//! Every client behaves as a real one would: it keeps a window of messages sent and not yet
//! answered, each with a `client_id`, and sends again, with the same `client_id`, whatever
//! was refused or left unanswered by a lost connection, to whichever node is up. Afterwards
//! each conversation is read back through the WebSocket API: every acknowledged message must
//! be there exactly once. Each test prints one `faults:` line with its figures;
//! docs/faults.md explains them and records what they measured.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::{call, free_port, start, ClusterDb, Node, Redis, Socket};

/// Conversations; each joins a user at home on node A with one at home on node B, and
/// both of them write.
const PAIRS: usize = 3;
/// Messages a client keeps sent and unanswered at once.
const WINDOW: usize = 8;
/// How often a client may send another window's worth in the Redis and database runs
/// (about 32 messages a second each).
const PACE: Duration = Duration::from_millis(250);
/// The same under load, in the kill -9 and SIGTERM runs (about 160 a second each).
const FAST_PACE: Duration = Duration::from_millis(50);
/// How long the clients stream before a fault.
const WARM_UP: Duration = Duration::from_secs(2);
/// Acknowledgements every client collects before a fault, and again once it is over.
const ACKS_AROUND_A_FAULT: usize = 12;
/// The nodes' `cluster.presence_ttl_secs`.
const PRESENCE_TTL_SECS: u64 = 2;
/// How much later than the ttl the online list may drop a dead node's users: the probe
/// asks every 100 ms, and the heartbeat is refreshed every third of the ttl.
const PRESENCE_MARGIN: Duration = Duration::from_secs(1);
/// The database run's `database.query_timeout_secs`.
const QUERY_TIMEOUT_SECS: u64 = 2;
/// How much longer than the query timeout an answer may take while the database link is
/// down.
const ANSWER_MARGIN: Duration = Duration::from_millis(1500);
/// How long Redis stays away.
const REDIS_AWAY: Duration = Duration::from_secs(3);
/// How long the database link stays stalled, and then cut.
const LINK_AWAY: Duration = Duration::from_secs(5);
/// How long a client waits for an answer before it takes the silence for a fault, drops
/// the connection and sends again elsewhere.
const SILENCE: Duration = Duration::from_secs(15);
/// The longest anything the runs wait for may take: a reconnect, a recovery, the last
/// acknowledgements.
const PATIENCE: Duration = Duration::from_secs(20);
/// How many messages one history page holds (protocol.md section 3).
const PAGE: usize = 10;
const PASSWORD: &str = "fault-password";

/// What every node runs with, besides the shared database, Redis and secrets: a short
/// presence ttl, and no rate limits or throttles, which the streams would hit.
const NODE_SETTINGS: &[(&str, &str)] = &[
    ("CONFAB_CHAT__MESSAGES_PER_SECOND", "1000000"),
    ("CONFAB_CHAT__MESSAGE_BURST", "1000000"),
    ("CONFAB_CHAT__USER_MESSAGES_PER_SECOND", "1000000"),
    ("CONFAB_CHAT__USER_MESSAGE_BURST", "1000000"),
    ("CONFAB_THROTTLE__REGISTER__ADDRESS__PER_MINUTE", "1000000"),
    ("CONFAB_THROTTLE__REGISTER__ADDRESS__BURST", "1000000"),
    ("CONFAB_THROTTLE__LOGIN__ADDRESS__PER_MINUTE", "1000000"),
    ("CONFAB_THROTTLE__LOGIN__ADDRESS__BURST", "1000000"),
];

/// The runs take turns: each measures how long recovery takes, which two runs sharing a
/// small machine would blur.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// kill -9 of node B mid-stream: B's clients reconnect to node A and send again what was
/// unanswered; the online list drops B's users within the presence ttl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_node_mid_stream() {
    let Some(mysql) = prerequisites("the kill -9 run") else {
        return;
    };
    let _turn = TURN.lock().await;
    let mut run = Run::start("kill -9 of node B", &mysql, &[], None, FAST_PACE).await;
    // The probe: a user who stays on node B, and one on node A who writes to him; her
    // acknowledgements say when the online list drops him.
    let watcher = run.register("fw").await;
    let prober = run.register("fp").await;
    let watching = open(&run.shared.bases[1], &watcher.token, prober.id)
        .await
        .expect("the watcher's socket on node B");
    let mut probe = Probe::open(&run.shared.bases[0], &prober, watcher.id).await;
    run.spawn_clients().await;
    run.warm_up("the kill").await;
    assert_eq!(
        probe.send().await,
        50004,
        "the watcher is online through node B before the kill"
    );

    // Killed while its clients have messages in flight, if that moment comes soon.
    run.moment(Duration::from_secs(3), |r| r.in_flight(1) >= WINDOW)
        .await;
    run.shared.up[1].store(false, Ordering::SeqCst);
    run.nodes[1].child.kill().expect("kill -9 node B");
    let killed = Instant::now();
    let _ = run.nodes[1].child.wait();
    let left_online_list = loop {
        if probe.send().await == 50005 {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < PATIENCE,
            "the watcher stayed on the online list after his node died"
        );
        // Polled: the probe asks again until the online list has changed.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    run.until("node B's clients acknowledged through node A", |r| {
        r.every(Some(1), |l| l.first_ack_after(killed, Some(0)).is_some())
    })
    .await;
    let back = since(
        killed,
        run.latest(Some(1), |l| l.first_ack_after(killed, Some(0))),
    );
    let recovered = Instant::now();
    run.until("every client acknowledged after the recovery", |r| {
        r.every(None, |l| l.acks_since(recovered) >= ACKS_AROUND_A_FAULT)
    })
    .await;
    drop(watching);

    let ledgers = run.finish().await;
    let mut tally = run.check(&ledgers).await;
    run.check_conversation(
        &prober,
        watcher.id,
        (&probe.ledger, &Ledger::default()),
        &mut tally,
    )
    .await;
    let in_flight: usize = ledgers.iter().map(|(_, l)| l.unanswered).sum();
    let stored: usize = ledgers.iter().map(|(_, l)| l.stored_unanswered).sum();
    tally.report(
        run.name,
        &format!(
            "{in_flight} in flight at the kill ({stored} of them stored, answered by the \
             resend); B's clients acknowledged through A {} after the kill; B's users left \
             the online list after {} (ttl {PRESENCE_TTL_SECS} s)",
            secs(back),
            secs(left_online_list)
        ),
    );
    assert!(
        in_flight > 0,
        "the kill caught no message in flight, so it proves little"
    );
    assert!(
        left_online_list <= Duration::from_secs(PRESENCE_TTL_SECS) + PRESENCE_MARGIN,
        "B's users left the online list {left_online_list:?} after the kill, past the ttl"
    );
    run.end().await;
}

/// Redis killed mid-stream and started again on its port a few seconds later: sending goes
/// on without it, and delivery across the nodes resumes without restarting either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_stream() {
    let Some(mysql) = prerequisites("the Redis restart run") else {
        return;
    };
    let _turn = TURN.lock().await;
    let mut run = Run::start("Redis restart", &mysql, &[], None, PACE).await;
    run.spawn_clients().await;
    run.warm_up("Redis goes").await;
    run.until("every client heard its peer live before Redis goes", |r| {
        r.every(None, |l| !l.delivered.is_empty())
    })
    .await;

    run.redis.kill();
    let gone = Instant::now();
    run.until(
        "every client acknowledged all the while Redis is away",
        |r| gone.elapsed() >= REDIS_AWAY && r.every(None, |l| l.acks_since(gone) >= WINDOW),
    )
    .await;
    let port = run.redis.port;
    run.redis = tokio::task::spawn_blocking(move || Redis::start(port))
        .await
        .expect("redis-server starts again");
    let back = Instant::now();
    let acked_while_away = run.total(|l| l.acks_between(gone, back));

    run.until("every client heard its peer live again", |r| {
        r.every(None, |l| l.first_delivery_after(back).is_some())
    })
    .await;
    let first = since(back, run.earliest(None, |l| l.first_delivery_after(back)));
    let every = since(back, run.latest(None, |l| l.first_delivery_after(back)));
    for node in &mut run.nodes {
        assert!(
            node.child.try_wait().expect("a node's state").is_none(),
            "a node stopped"
        );
    }
    let resumed = Instant::now();
    run.until("every client acknowledged after delivery resumed", |r| {
        r.every(None, |l| l.acks_since(resumed) >= ACKS_AROUND_A_FAULT)
    })
    .await;

    let ledgers = run.finish().await;
    let tally = run.check(&ledgers).await;
    let resyncs = closes(&ledgers, |_, code| code == Some(1013));
    tally.report(
        run.name,
        &format!(
            "{acked_while_away} acknowledged while Redis was away ({}); {resyncs} sockets \
             closed with 1013 once it was back; live delivery across the nodes resumed {} \
             after Redis came back (for every client: {})",
            secs(REDIS_AWAY),
            secs(first),
            secs(every)
        ),
    );
    run.end().await;
}

/// The database link stalled (nothing forwarded, nothing closed), then cut (every
/// connection closed): clients are told out loud (40001) within the query timeout, and the
/// nodes recover by themselves once the link is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_then_cut_database_link() {
    let Some(mysql) = prerequisites("the database link run") else {
        return;
    };
    let _turn = TURN.lock().await;
    let proxy = Proxy::start(address(&mysql)).await;
    let timeout = QUERY_TIMEOUT_SECS.to_string();
    let mut run = Run::start(
        "database link stalled, then cut",
        &mysql,
        &[("CONFAB_DATABASE__QUERY_TIMEOUT_SECS", timeout.as_str())],
        Some(proxy.port),
        PACE,
    )
    .await;
    run.spawn_clients().await;
    run.warm_up("the link goes").await;

    let mut figures = Vec::new();
    for (link, what) in [(Link::Stalled, "stalled"), (Link::Cut, "cut")] {
        proxy.set(link);
        let down = Instant::now();
        run.until(
            "every client refused out loud while the link is down",
            |r| down.elapsed() >= LINK_AWAY && r.every(None, |l| l.refused_since(down) > 0),
        )
        .await;
        proxy.set(Link::Up);
        let restored = Instant::now();
        let refused = run.total(|l| l.refused_since(down));
        run.until(
            "every client acknowledged again once the link is back",
            |r| r.every(None, |l| l.first_ack_after(restored, None).is_some()),
        )
        .await;
        let again = since(
            restored,
            run.latest(None, |l| l.first_ack_after(restored, None)),
        );
        figures.push(format!(
            "{what} for {}: {refused} refused meanwhile, every client acknowledged again {} \
             after",
            secs(LINK_AWAY),
            secs(again)
        ));
    }
    for node in &mut run.nodes {
        assert!(
            node.child.try_wait().expect("a node's state").is_none(),
            "a node stopped"
        );
    }
    let settled = Instant::now();
    run.until("every client acknowledged after the faults", |r| {
        r.every(None, |l| l.acks_since(settled) >= ACKS_AROUND_A_FAULT)
    })
    .await;

    let ledgers = run.finish().await;
    let tally = run.check(&ledgers).await;
    let slowest = ledgers
        .iter()
        .map(|(_, l)| l.slowest)
        .max()
        .unwrap_or_default();
    let silences: usize = ledgers.iter().map(|(_, l)| l.silences).sum();
    tally.report(
        run.name,
        &format!(
            "{}; slowest answer {} (query timeout {QUERY_TIMEOUT_SECS} s)",
            figures.join("; "),
            secs(slowest)
        ),
    );
    assert_eq!(silences, 0, "a sent frame went unanswered for {SILENCE:?}");
    assert!(
        tally.codes.keys().all(|code| *code == 40001),
        "refusals while the database is away say so with 40001: {:?}",
        tally.codes
    );
    assert!(
        slowest <= Duration::from_secs(QUERY_TIMEOUT_SECS) + ANSWER_MARGIN,
        "a frame waited {slowest:?} for its answer, past the query timeout \
         ({QUERY_TIMEOUT_SECS} s) and a margin of {ANSWER_MARGIN:?}"
    );
    run.end().await;
    drop(proxy);
}

/// SIGTERM of node A under load: every frame it read is acknowledged or refused before its
/// close frame (1001), and its clients send the rest again through node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load() {
    let Some(mysql) = prerequisites("the SIGTERM run") else {
        return;
    };
    let _turn = TURN.lock().await;
    // The nodes handle fewer frames of a socket at once than the clients keep in flight, so
    // that at the signal some frames have arrived and are not read yet: those are refused
    // out loud.
    let window = (WINDOW / 2).to_string();
    let mut run = Run::start(
        "SIGTERM of node A under load",
        &mysql,
        &[("CONFAB_CHAT__WINDOW", window.as_str())],
        None,
        FAST_PACE,
    )
    .await;
    run.spawn_clients().await;
    run.warm_up("the signal").await;

    // Signalled while its clients have messages in flight, if that moment comes soon.
    run.moment(Duration::from_secs(3), |r| r.in_flight(0) >= WINDOW)
        .await;
    run.shared.up[0].store(false, Ordering::SeqCst);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&run.nodes[0].child),
        rustix::process::Signal::TERM,
    )
    .expect("SIGTERM node A");
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = run.nodes[0].child.try_wait().expect("node A's state") {
            break status;
        }
        assert!(
            signalled.elapsed() < PATIENCE,
            "node A still runs {PATIENCE:?} after SIGTERM"
        );
        // Polled: the process ends by itself.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stopped = signalled.elapsed();
    assert!(
        status.success(),
        "node A exits cleanly on SIGTERM: {status}"
    );
    run.until("A's clients acknowledged through node B", |r| {
        r.every(Some(0), |l| l.first_ack_after(signalled, Some(1)).is_some())
    })
    .await;
    let back = since(
        signalled,
        run.latest(Some(0), |l| l.first_ack_after(signalled, Some(1))),
    );
    let recovered = Instant::now();
    run.until("every client acknowledged after the recovery", |r| {
        r.every(None, |l| l.acks_since(recovered) >= ACKS_AROUND_A_FAULT)
    })
    .await;

    let ledgers = run.finish().await;
    let tally = run.check(&ledgers).await;
    let refused_at_shutdown = tally.codes.get(&500).copied().unwrap_or_default();
    let closed_1001 = closes(&ledgers, |node, code| node == 0 && code == Some(1001));
    let dropped = closes(&ledgers, |node, code| node == 0 && code.is_none());
    let unanswered: usize = ledgers.iter().map(|(_, l)| l.unanswered).sum();
    let stored_unanswered: usize = ledgers
        .iter()
        .map(|(_, l)| l.stored_unanswered_at_1001)
        .sum();
    tally.report(
        run.name,
        &format!(
            "node A stopped {} after SIGTERM; {refused_at_shutdown} refused by the shutdown, \
             {unanswered} unanswered before the close ({stored_unanswered} of them stored), \
             {closed_1001} sockets closed with 1001 and {dropped} without a close frame; A's \
             clients acknowledged through B {} after the signal",
            secs(stopped),
            secs(back)
        ),
    );
    assert_eq!(
        stored_unanswered, 0,
        "frames node A read and stored had no answer before its close frame"
    );
    assert_eq!(dropped, 0, "node A dropped sockets without a close frame");
    assert!(
        ledgers
            .iter()
            .filter(|(spec, _)| spec.home == 0)
            .all(|(_, l)| l.ended.iter().any(|e| e.1 == 0 && e.2 == Some(1001))),
        "every socket on node A closed with 1001"
    );
    assert!(
        tally.codes.keys().all(|code| *code == 500),
        "the only refusals are the shutdown's: {:?}",
        tally.codes
    );
    run.end().await;
}

/// The test database's URL, or `None` after a `SKIPPED:` line when a prerequisite is
/// missing.
fn prerequisites(run: &str) -> Option<String> {
    let Ok(mysql) = std::env::var("CONFAB_TEST_MYSQL_URL") else {
        eprintln!(
            "SKIPPED: {run} needs a MySQL or MariaDB server in CONFAB_TEST_MYSQL_URL \
             (e.g. mysql://root@127.0.0.1:3306/test)"
        );
        return None;
    };
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: {run} needs redis-server on the PATH");
        return None;
    }
    Some(mysql)
}

/// A registered user and an access token.
#[derive(Debug, Clone)]
struct User {
    id: i64,
    token: String,
}

/// One streaming client: a user at home on one node, writing to a peer at home on the
/// other.
#[derive(Debug, Clone)]
struct Spec {
    /// `a0`, `b0`, ...: the node it starts on and its conversation.
    label: String,
    user: User,
    peer: i64,
    /// The node it connects to while that node is up (0 is A, 1 is B).
    home: usize,
}

/// An acknowledgement as a client received it.
#[derive(Debug, Clone, Copy)]
struct Ack {
    /// The message id it carried.
    id: i64,
    at: Instant,
    /// Through which node.
    node: usize,
}

/// What one client wrote and heard; the test reads it while the client runs.
#[derive(Debug, Default)]
struct Ledger {
    /// Every message it wrote: client_id → text.
    drafts: HashMap<String, String>,
    /// The acknowledged ones, by client_id.
    acked: HashMap<String, Ack>,
    /// Error frames answering a send: when, and their code.
    refused: Vec<(Instant, i64)>,
    /// Live messages from the peer: when, and through which node.
    delivered: Vec<(Instant, usize)>,
    /// Connections that ended: when, on which node, and their close code (`None`: no
    /// close frame).
    ended: Vec<(Instant, usize, Option<u16>)>,
    /// Messages sent and not yet answered, now.
    in_flight: usize,
    /// Messages that had no answer when their connection ended.
    unanswered: usize,
    /// Of those, the ones history already held when the client reconnected.
    stored_unanswered: usize,
    /// The same, counting only connections closed with 1001.
    stored_unanswered_at_1001: usize,
    /// The longest a sent message waited for its answer.
    slowest: Duration,
    /// Answers that did not come within [`SILENCE`].
    silences: usize,
}

impl Ledger {
    fn acks_since(&self, since: Instant) -> usize {
        self.acked.values().filter(|a| a.at > since).count()
    }

    fn acks_between(&self, from: Instant, to: Instant) -> usize {
        self.acked
            .values()
            .filter(|a| a.at > from && a.at <= to)
            .count()
    }

    /// The first acknowledgement after `since` (through `node`, if given).
    fn first_ack_after(&self, since: Instant, node: Option<usize>) -> Option<Instant> {
        self.acked
            .values()
            .filter(|a| a.at > since && node.is_none_or(|n| a.node == n))
            .map(|a| a.at)
            .min()
    }

    fn first_delivery_after(&self, since: Instant) -> Option<Instant> {
        self.delivered
            .iter()
            .map(|(at, _)| *at)
            .filter(|at| *at > since)
            .min()
    }

    fn refused_since(&self, since: Instant) -> usize {
        self.refused.iter().filter(|(at, _)| *at > since).count()
    }
}

fn lock(ledger: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    ledger
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the test and its clients share.
struct Shared {
    /// `ws://127.0.0.1:<port>` of each node.
    bases: Vec<String>,
    /// Which nodes clients may connect to. The test marks a node down before it stops it,
    /// as a load balancer's health check would.
    up: Vec<AtomicBool>,
    /// Set when clients are to stop writing new messages; each still sends what it has
    /// until all of it is acknowledged.
    stop: AtomicBool,
    /// How often a client may send another window's worth.
    pace: Duration,
}

/// A streaming client's state.
struct Client {
    spec: Spec,
    shared: Arc<Shared>,
    ledger: Arc<Mutex<Ledger>>,
    /// Messages to send again (refused, or unanswered when a connection ended), first
    /// first.
    again: VecDeque<String>,
    /// The number of the next new message.
    next: usize,
    /// Messages it may still send before the next tick of its pace.
    tokens: usize,
    pace: tokio::time::Interval,
}

/// How a connection ended.
enum Ended {
    /// The test asked the client to stop, and everything it wrote is acknowledged.
    Done,
    /// Lost or closed: the close code (`None` without a close frame), and the client ids
    /// of the messages it left unanswered.
    Lost(Option<u16>, Vec<String>),
}

impl Client {
    fn new(spec: Spec, shared: Arc<Shared>, ledger: Arc<Mutex<Ledger>>) -> Self {
        let mut pace = tokio::time::interval(shared.pace);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            spec,
            shared,
            ledger,
            again: VecDeque::new(),
            next: 0,
            tokens: WINDOW,
            pace,
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Connects, streams, and reconnects after every lost connection, until the test
    /// stops it and everything it wrote is acknowledged.
    async fn run(mut self) {
        let mut unanswered: Option<(Option<u16>, Vec<String>)> = None;
        loop {
            let (node, mut ws) = self.connect().await;
            if let Some((close, ids)) = unanswered.take() {
                self.look_for(node, &mut ws, close, &ids).await;
            }
            match self.converse(node, &mut ws).await {
                Ended::Done => {
                    let _ = ws.send(Message::Close(None)).await;
                    return;
                }
                Ended::Lost(close, ids) => {
                    if !ids.is_empty() {
                        unanswered = Some((close, ids));
                    }
                }
            }
        }
    }

    /// A socket on the home node, or on the other one while home is down.
    async fn connect(&self) -> (usize, Socket) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            for node in [self.spec.home, 1 - self.spec.home] {
                if !self.shared.up[node].load(Ordering::SeqCst) {
                    continue;
                }
                let base = &self.shared.bases[node];
                if let Some(ws) = open(base, &self.spec.user.token, self.spec.peer).await {
                    return (node, ws);
                }
            }
            assert!(
                Instant::now() < deadline,
                "{}: no node took its connection within {PATIENCE:?}",
                self.spec.label
            );
            // Polled: a node that refused may be about to take connections again.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new message's client id, unless the client is stopping.
    fn draft(&mut self) -> Option<String> {
        if self.stopping() {
            return None;
        }
        let client_id = format!("{}-{}", self.spec.label, self.next);
        self.next += 1;
        let text = format!("fault run message {client_id}");
        lock(&self.ledger).drafts.insert(client_id.clone(), text);
        Some(client_id)
    }

    /// Streams on one connection until it ends.
    async fn converse(&mut self, node: usize, ws: &mut Socket) -> Ended {
        let mut in_flight: VecDeque<(String, Instant)> = VecDeque::new();
        loop {
            // Resends first, then new messages, as far as the window and the pace allow.
            while in_flight.len() < WINDOW && self.tokens > 0 {
                let Some(client_id) = self.again.pop_front().or_else(|| self.draft()) else {
                    break;
                };
                self.tokens -= 1;
                let text = lock(&self.ledger).drafts[&client_id].clone();
                let frame = json!({"type": 1, "content": text, "client_id": client_id});
                in_flight.push_back((client_id, Instant::now()));
                if ws
                    .send(Message::Text(frame.to_string().into()))
                    .await
                    .is_err()
                {
                    return self.lost(node, None, in_flight);
                }
            }
            lock(&self.ledger).in_flight = in_flight.len();
            if in_flight.is_empty() && self.again.is_empty() && self.stopping() {
                return Ended::Done;
            }
            if in_flight
                .front()
                .is_some_and(|(_, sent)| sent.elapsed() > SILENCE)
            {
                lock(&self.ledger).silences += 1;
                return self.lost(node, None, in_flight);
            }
            let next = tokio::select! {
                _ = self.pace.tick() => None,
                frame = ws.next() => Some(frame),
            };
            match next {
                None => self.tokens = WINDOW,
                Some(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
                    self.answer(node, &frame, &mut in_flight);
                }
                Some(Some(Ok(Message::Close(close)))) => {
                    // The reply to the close frame goes out at once, as a browser's would.
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.flush()).await;
                    let code = close.map(|c| u16::from(c.code));
                    return self.lost(node, code, in_flight);
                }
                Some(Some(Ok(_))) => {}
                Some(Some(Err(_)) | None) => return self.lost(node, None, in_flight),
            }
        }
    }

    /// Takes in one frame: a live message from the peer, or the answer to a message in
    /// flight.
    fn answer(&mut self, node: usize, frame: &Value, in_flight: &mut VecDeque<(String, Instant)>) {
        let label = &self.spec.label;
        let now = Instant::now();
        let code = frame["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("{label}: a frame without a code: {frame}"));
        let mut ledger = lock(&self.ledger);
        if code == 50001 {
            ledger.delivered.push((now, node));
            return;
        }
        let client_id = frame["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{label}: an unexpected frame: {frame}"));
        let at = in_flight
            .iter()
            .position(|(id, _)| id == client_id)
            .unwrap_or_else(|| panic!("{label}: an answer to no message in flight: {frame}"));
        let (client_id, sent) = in_flight.remove(at).expect("the position was just found");
        ledger.slowest = ledger.slowest.max(now - sent);
        if matches!(code, 50004 | 50005) {
            let id = frame["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{label}: an ack without an id: {frame}"));
            let ack = Ack { id, at: now, node };
            if let Some(first) = ledger.acked.insert(client_id, ack) {
                panic!("{label}: acknowledged twice, first as {first:?}, then {frame}");
            }
        } else {
            ledger.refused.push((now, code));
            drop(ledger);
            self.again.push_back(client_id);
        }
    }

    /// Records a connection's end; what it left unanswered is sent again first.
    fn lost(
        &mut self,
        node: usize,
        close: Option<u16>,
        in_flight: VecDeque<(String, Instant)>,
    ) -> Ended {
        let ids: Vec<String> = in_flight.into_iter().map(|(id, _)| id).collect();
        let mut ledger = lock(&self.ledger);
        ledger.ended.push((Instant::now(), node, close));
        ledger.unanswered += ids.len();
        ledger.in_flight = 0;
        drop(ledger);
        for id in ids.iter().rev() {
            self.again.push_front(id.clone());
        }
        Ended::Lost(close, ids)
    }

    /// After a connection ended with messages unanswered: counts those history holds
    /// already. Stored ones are newer than every acknowledged message, so reading back to
    /// the newest acknowledged one is enough.
    async fn look_for(&mut self, node: usize, ws: &mut Socket, close: Option<u16>, ids: &[String]) {
        let (floor, wanted) = {
            let ledger = lock(&self.ledger);
            let floor = ledger.acked.values().map(|a| a.id).max().unwrap_or(0);
            let wanted: HashSet<String> = ids.iter().map(|id| ledger.drafts[id].clone()).collect();
            (floor, wanted)
        };
        // A node that cannot read history now (its database is away) leaves it unchecked.
        let Ok((stored, live)) = read_back(ws, floor).await else {
            return;
        };
        let found = stored
            .iter()
            .filter(|m| m.mine && wanted.contains(&m.content))
            .count();
        let now = Instant::now();
        let mut ledger = lock(&self.ledger);
        ledger.stored_unanswered += found;
        if close == Some(1001) {
            ledger.stored_unanswered_at_1001 += found;
        }
        ledger
            .delivered
            .extend(std::iter::repeat_n((now, node), live));
    }
}

/// A client that sends one message at a time and returns its answer's code: the presence
/// probe.
struct Probe {
    ws: Socket,
    ledger: Ledger,
}

impl Probe {
    async fn open(base: &str, user: &User, peer: i64) -> Self {
        let ws = open(base, &user.token, peer)
            .await
            .expect("the prober's socket");
        Self {
            ws,
            ledger: Ledger::default(),
        }
    }

    async fn send(&mut self) -> i64 {
        let client_id = format!("probe-{}", self.ledger.drafts.len());
        let text = format!("fault run probe {client_id}");
        self.ledger.drafts.insert(client_id.clone(), text.clone());
        let frame = json!({"type": 1, "content": text, "client_id": client_id});
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("the probe sends");
        loop {
            let frame = next_text(&mut self.ws)
                .await
                .expect("the probe's node answers");
            if frame["client_id"] != client_id.as_str() || frame["code"] == 50001 {
                continue;
            }
            let code = frame["code"].as_i64().expect("an answer has a code");
            if matches!(code, 50004 | 50005) {
                let id = frame["id"].as_i64().expect("an ack has an id");
                let ack = Ack {
                    id,
                    at: Instant::now(),
                    node: 0,
                };
                self.ledger.acked.insert(client_id, ack);
            }
            return code;
        }
    }
}

/// Opens `token`'s socket for the conversation with `peer` on the node at `base` and reads
/// its welcome; `None` if the node does not take it.
async fn open(base: &str, token: &str, peer: i64) -> Option<Socket> {
    let url = format!("{base}/chat/ws?toUid={peer}&token={token}");
    let connecting = tokio_tungstenite::connect_async(url);
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .ok()?
        .ok()?;
    let welcome = next_text(&mut ws).await?;
    (welcome["code"] == 50002).then_some(ws)
}

/// The next text frame as JSON; `None` once the connection is gone or silent for
/// [`SILENCE`].
async fn next_text(ws: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(SILENCE, ws.next()).await.ok()?? {
            Ok(Message::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// One message as history shows it to the reader.
#[derive(Debug, Clone)]
struct Stored {
    id: i64,
    /// Written by the reader (`from` is "me").
    mine: bool,
    content: String,
}

/// Reads a private socket's conversation backwards, a page at a time, until a page reaches
/// back to message `floor` (0: to the beginning); also returns how many live messages
/// arrived meanwhile. `Err` holds what answered instead of history.
async fn read_back(ws: &mut Socket, floor: i64) -> Result<(Vec<Stored>, usize), Value> {
    let mut stored = Vec::new();
    let mut live = 0;
    let mut before = i64::MAX;
    loop {
        let request = json!({"type": 2, "before": before});
        if ws
            .send(Message::Text(request.to_string().into()))
            .await
            .is_err()
        {
            return Err(json!("the connection was lost"));
        }
        let mut page = Vec::new();
        let mut end = false;
        while page.len() < PAGE {
            let Some(frame) = next_text(ws).await else {
                return Err(json!("the connection was lost"));
            };
            match frame["code"].as_i64() {
                Some(0) => page.push(Stored {
                    id: frame["id"].as_i64().expect("a history message has an id"),
                    mine: frame["from"] == "me",
                    content: frame["content"].as_str().unwrap_or_default().to_owned(),
                }),
                Some(50003) => {
                    end = true;
                    break;
                }
                Some(50001) => live += 1,
                _ => return Err(frame),
            }
        }
        let oldest = page.iter().map(|m| m.id).min();
        stored.extend(page);
        match oldest {
            Some(oldest) if !end && oldest > floor => before = oldest,
            _ => return Ok((stored, live)),
        }
    }
}

/// What the read-back found, over a run.
#[derive(Debug, Default)]
struct Tally {
    acknowledged: usize,
    refused: usize,
    /// Refusals by code.
    codes: BTreeMap<i64, usize>,
    /// Acknowledged and not in history (or in history with another id).
    lost: usize,
    /// Extra copies of a message in history.
    duplicated: usize,
    /// A few of the lost and duplicated, for the failure message.
    examples: Vec<String>,
}

impl Tally {
    /// Prints the run's line, then asserts that nothing was lost or stored twice.
    fn report(&self, run: &str, figures: &str) {
        eprintln!(
            "faults: {run}: acknowledged {}, refused {} {:?}, lost {}, duplicated {}; {figures}",
            self.acknowledged, self.refused, self.codes, self.lost, self.duplicated
        );
        assert_eq!(
            self.lost, 0,
            "{run}: acknowledged messages lost: {:?}",
            self.examples
        );
        assert_eq!(
            self.duplicated, 0,
            "{run}: messages stored twice: {:?}",
            self.examples
        );
    }

    fn example(&mut self, example: String) {
        if self.examples.len() < 5 {
            self.examples.push(example);
        }
    }
}

/// Counts the ledgers' connections that ended on a node with a close code `matching`.
fn closes(ledgers: &[(Spec, Ledger)], matching: impl Fn(usize, Option<u16>) -> bool) -> usize {
    ledgers
        .iter()
        .flat_map(|(_, l)| &l.ended)
        .filter(|(_, node, code)| matching(*node, *code))
        .count()
}

/// How long after `start` the instant came.
fn since(start: Instant, instant: Option<Instant>) -> Duration {
    instant
        .expect("every client got there")
        .saturating_duration_since(start)
}

/// A duration in seconds, for the report line.
fn secs(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// Two nodes, their database and Redis, and the clients streaming between them.
struct Run {
    name: &'static str,
    db: ClusterDb,
    redis: Redis,
    nodes: Vec<Node>,
    shared: Arc<Shared>,
    http: reqwest::Client,
    clients: Vec<(Spec, Arc<Mutex<Ledger>>)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Run {
    /// Starts Redis and two nodes on a fresh database, with `settings` on top of
    /// [`NODE_SETTINGS`]; with `database_port` the nodes reach the database through that
    /// port (the proxy).
    async fn start(
        name: &'static str,
        mysql: &str,
        settings: &[(&str, &str)],
        database_port: Option<u16>,
        pace: Duration,
    ) -> Self {
        let redis = tokio::task::spawn_blocking(|| Redis::start(free_port()))
            .await
            .expect("redis-server starts");
        let db = ClusterDb::create(mysql, "confab_f").await;
        let mut env = db.node_env(&redis.url());
        env.extend(
            NODE_SETTINGS
                .iter()
                .chain(settings)
                .map(|&(key, value)| (key.to_owned(), value.to_owned())),
        );
        env.push((
            "CONFAB_CLUSTER__PRESENCE_TTL_SECS".to_owned(),
            PRESENCE_TTL_SECS.to_string(),
        ));
        if let Some(port) = database_port {
            env.push(("CONFAB_DATABASE__URL".to_owned(), through(&db.url, port)));
        }
        // The runs fault on purpose, and the nodes' logs of it would bury the figures;
        // CONFAB_TEST_FAULTS_LOG (a log filter, such as "warn") shows them.
        let log = std::env::var("CONFAB_TEST_FAULTS_LOG").unwrap_or_else(|_| "off".to_owned());
        env.push(("CONFAB_LOG__FILTER".to_owned(), log));
        let mut nodes = Vec::new();
        for _ in 0..2 {
            // One after the other: the first applies the migrations.
            let env = env.clone();
            let node = tokio::task::spawn_blocking(move || start(&env))
                .await
                .expect("a node starts");
            nodes.push(node);
        }
        let http = reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .expect("an HTTP client");
        let shared = Arc::new(Shared {
            bases: nodes
                .iter()
                .map(|n| n.base.replacen("http://", "ws://", 1))
                .collect(),
            up: vec![AtomicBool::new(true), AtomicBool::new(true)],
            stop: AtomicBool::new(false),
            pace,
        });
        Self {
            name,
            db,
            redis,
            nodes,
            shared,
            http,
            clients: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Registers `name` (with the run's suffix) through node A and logs in.
    async fn register(&self, name: &str) -> User {
        let node = &self.nodes[0];
        let name = format!("{name}_{}", self.db.suffix);
        let form = json!({"username": name, "password": PASSWORD});
        call(&self.http, node, "/user/register", None, form.clone()).await;
        let token = call(&self.http, node, "/user/login", None, form).await["aToken"]
            .as_str()
            .expect("login answers an aToken")
            .to_owned();
        let me: Value = self
            .http
            .get(format!("{}/user/me", node.base))
            .header("Authorization", &token)
            .send()
            .await
            .expect("/user/me")
            .json()
            .await
            .expect("/user/me answers JSON");
        let id = me["data"]["ID"].as_i64().expect("/user/me has the ID");
        User { id, token }
    }

    /// Registers the pairs and starts their clients, two per conversation.
    async fn spawn_clients(&mut self) {
        let mut specs = Vec::new();
        for pair in 0..PAIRS {
            let a = self.register(&format!("fa{pair}")).await;
            let b = self.register(&format!("fb{pair}")).await;
            specs.push(Spec {
                label: format!("a{pair}"),
                user: a.clone(),
                peer: b.id,
                home: 0,
            });
            specs.push(Spec {
                label: format!("b{pair}"),
                user: b,
                peer: a.id,
                home: 1,
            });
        }
        for spec in specs {
            let ledger = Arc::new(Mutex::new(Ledger::default()));
            let client = Client::new(spec.clone(), self.shared.clone(), ledger.clone());
            self.tasks.push(tokio::spawn(client.run()));
            self.clients.push((spec, ledger));
        }
    }

    /// Polls `done` every 5 ms until it holds, for at most `within`; `false` if it did
    /// not. A client that stopped ends the test with its panic.
    async fn moment(&mut self, within: Duration, done: impl Fn(&Run) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if done(self) {
                return true;
            }
            if let Some(at) = self.tasks.iter().position(JoinHandle::is_finished) {
                if let Err(err) = self.tasks.remove(at).await {
                    if err.is_panic() {
                        std::panic::resume_unwind(err.into_panic());
                    }
                }
                panic!("{}: a client stopped before the run was over", self.name);
            }
            if start.elapsed() > within {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until `done` holds, for at most [`PATIENCE`] after the condition can first
    /// hold; panics with `what` past that.
    async fn until(&mut self, what: &str, done: impl Fn(&Run) -> bool) {
        // The conditions that include a fault's duration need that much longer.
        let within = PATIENCE + LINK_AWAY;
        assert!(
            self.moment(within, done).await,
            "{}: {what}: not within {within:?}",
            self.name
        );
    }

    /// Lets the clients stream for [`WARM_UP`], and until each has
    /// [`ACKS_AROUND_A_FAULT`] acknowledgements.
    async fn warm_up(&mut self, before: &str) {
        let started = Instant::now();
        let what = format!("every client acknowledged before {before}");
        self.until(&what, |r| {
            started.elapsed() >= WARM_UP && r.every(None, |l| l.acked.len() >= ACKS_AROUND_A_FAULT)
        })
        .await;
    }

    /// Whether `test` holds for every client (at home on `home`, if given).
    fn every(&self, home: Option<usize>, test: impl Fn(&Ledger) -> bool) -> bool {
        self.clients
            .iter()
            .filter(|(spec, _)| home.is_none_or(|h| spec.home == h))
            .all(|(_, ledger)| test(&lock(ledger)))
    }

    /// The latest over the clients (at home on `home`, if given) of what `pick` finds;
    /// `None` if it finds nothing in one of them.
    fn latest(
        &self,
        home: Option<usize>,
        pick: impl Fn(&Ledger) -> Option<Instant>,
    ) -> Option<Instant> {
        let mut latest = None;
        for (spec, ledger) in &self.clients {
            if home.is_none_or(|h| spec.home == h) {
                latest = latest.max(Some(pick(&lock(ledger))?));
            }
        }
        latest
    }

    /// The earliest over the clients of what `pick` finds.
    fn earliest(
        &self,
        home: Option<usize>,
        pick: impl Fn(&Ledger) -> Option<Instant>,
    ) -> Option<Instant> {
        self.clients
            .iter()
            .filter(|(spec, _)| home.is_none_or(|h| spec.home == h))
            .filter_map(|(_, ledger)| pick(&lock(ledger)))
            .min()
    }

    /// Messages in flight now, over the clients at home on `home`.
    fn in_flight(&self, home: usize) -> usize {
        self.clients
            .iter()
            .filter(|(spec, _)| spec.home == home)
            .map(|(_, ledger)| lock(ledger).in_flight)
            .sum()
    }

    /// The sum over the clients of `count`.
    fn total(&self, count: impl Fn(&Ledger) -> usize) -> usize {
        self.clients
            .iter()
            .map(|(_, ledger)| count(&lock(ledger)))
            .sum()
    }

    /// Stops the clients from writing more, waits until each has everything it wrote
    /// acknowledged, and returns what they saw.
    async fn finish(&mut self) -> Vec<(Spec, Ledger)> {
        self.shared.stop.store(true, Ordering::SeqCst);
        for task in std::mem::take(&mut self.tasks) {
            match tokio::time::timeout(PATIENCE, task).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Ok(Err(err)) => panic!("a client was cancelled: {err}"),
                Err(_) => panic!(
                    "{}: a client's last messages were not acknowledged within {PATIENCE:?}",
                    self.name
                ),
            }
        }
        self.clients
            .iter()
            .map(|(spec, ledger)| (spec.clone(), std::mem::take(&mut *lock(ledger))))
            .collect()
    }

    /// Reads every conversation back and counts what was lost or stored twice.
    async fn check(&self, ledgers: &[(Spec, Ledger)]) -> Tally {
        let mut tally = Tally::default();
        for (_, ledger) in ledgers {
            tally.acknowledged += ledger.acked.len();
            tally.refused += ledger.refused.len();
            for (_, code) in &ledger.refused {
                *tally.codes.entry(*code).or_default() += 1;
            }
        }
        for (spec, mine) in ledgers.iter().filter(|(spec, _)| spec.home == 0) {
            let (_, theirs) = ledgers
                .iter()
                .find(|(other, _)| other.user.id == spec.peer)
                .expect("the peer's ledger");
            self.check_conversation(&spec.user, spec.peer, (mine, theirs), &mut tally)
                .await;
        }
        tally
    }

    /// Reads `reader`'s conversation with `peer` back through a node that is up, and
    /// checks it against what each side had acknowledged.
    async fn check_conversation(
        &self,
        reader: &User,
        peer: i64,
        (mine, theirs): (&Ledger, &Ledger),
        tally: &mut Tally,
    ) {
        let node = self
            .shared
            .up
            .iter()
            .position(|up| up.load(Ordering::SeqCst))
            .expect("a node is up");
        let mut ws = open(&self.shared.bases[node], &reader.token, peer)
            .await
            .expect("a socket to read history");
        let (stored, _) = read_back(&mut ws, 0)
            .await
            .unwrap_or_else(|frame| panic!("history reads back: {frame}"));
        let _ = ws.send(Message::Close(None)).await;
        let mut ids = HashSet::new();
        let mut copies: HashMap<(bool, &str), Vec<i64>> = HashMap::new();
        for message in &stored {
            assert!(ids.insert(message.id), "id {} read twice", message.id);
            copies
                .entry((message.mine, message.content.as_str()))
                .or_default()
                .push(message.id);
        }
        for side in [true, false] {
            let ledger = if side { mine } else { theirs };
            let written: HashSet<&str> = ledger.drafts.values().map(String::as_str).collect();
            for message in stored.iter().filter(|m| m.mine == side) {
                assert!(
                    written.contains(message.content.as_str()),
                    "history holds a message its sender never wrote: {message:?}"
                );
            }
            for (client_id, ack) in &ledger.acked {
                let text = ledger.drafts[client_id].as_str();
                match copies.get(&(side, text)) {
                    Some(found) if found.contains(&ack.id) => {}
                    found => {
                        tally.lost += 1;
                        tally.example(format!(
                            "{client_id}, acknowledged as {}, is in history as {found:?}",
                            ack.id
                        ));
                    }
                }
            }
        }
        for ((_, text), found) in &copies {
            if found.len() > 1 {
                tally.duplicated += found.len() - 1;
                tally.example(format!("{text:?} is in history as {found:?}"));
            }
        }
    }

    /// Stops the nodes and drops the database.
    async fn end(self) {
        let Run { db, nodes, .. } = self;
        drop(nodes);
        db.drop_database().await;
    }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
fn through(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}127.0.0.1:{port}/{path}")
}

/// The `host:port` of a database URL.
fn address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:3306")
    }
}

/// The state of the proxied database link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Bytes flow.
    Up,
    /// Nothing is forwarded and nothing is closed: queries and their answers wait.
    Stalled,
    /// Every connection is closed, and new ones are closed as soon as they come.
    Cut,
}

/// A TCP proxy between the nodes and the database, whose link the test stalls or cuts.
struct Proxy {
    port: u16,
    link: Arc<watch::Sender<Link>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy listens");
        let port = listener.local_addr().expect("the proxy's address").port();
        let link = Arc::new(watch::channel(Link::Up).0);
        let accepting = link.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // While cut, a new connection is closed at once: the database is away.
                if *accepting.borrow() == Link::Cut {
                    continue;
                }
                tokio::spawn(pipe(client, target.clone(), accepting.subscribe()));
            }
        });
        Self { port, link, accept }
    }

    fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Carries one connection to `target` and back; when either direction ends, both
/// connections close.
async fn pipe(client: TcpStream, target: String, link: watch::Receiver<Link>) {
    let Ok(server) = TcpStream::connect(&target).await else {
        return;
    };
    let (from_client, to_client) = client.into_split();
    let (from_server, to_server) = server.into_split();
    tokio::select! {
        () = carry(from_client, to_server, link.clone()) => {}
        () = carry(from_server, to_client, link) => {}
    }
}

/// Copies bytes one way while the link is up, holds them while it is stalled, and returns
/// when it is cut or either side closes.
async fn carry(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut link: watch::Receiver<Link>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !passable(&mut link).await {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            changed = link.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read just before a stall wait for its end.
        if !passable(&mut link).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits while the link is stalled; `false` once it is cut.
async fn passable(link: &mut watch::Receiver<Link>) -> bool {
    loop {
        let now = *link.borrow_and_update();
        match now {
            Link::Up => return true,
            Link::Cut => return false,
            Link::Stalled => {}
        }
        if link.changed().await.is_err() {
            return false;
        }
    }
}
