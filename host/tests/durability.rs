//! An acknowledged message is never lost or stored twice when the server dies by SIGKILL mid-stream.
//!
//! Each backend runs the same scenario against the real `confab` binary, through HTTP and
//! WebSocket only: senders stream private messages, each with a window of unanswered messages
//! open, the process is killed with SIGKILL, a new process starts on the same data, and every
//! sender reads its whole conversation back and then resends part of what it had sent
//! (protocol.md sections 3 and 5).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Conversations, each with one sender streaming to a peer who stays offline.
const PAIRS: usize = 8;
/// Messages a sender keeps sent but unanswered at once.
const WINDOW: usize = 8;
/// Acknowledgements, over all senders, before the kill.
const ACKS_BEFORE_KILL: usize = 300;
/// Acknowledgements each sender has before the kill, so that every one is streaming.
const ACKS_PER_SENDER_BEFORE_KILL: usize = 10;
/// An upper bound on what one sender sends, should the kill never come.
const MAX_PER_SENDER: usize = 20_000;
/// How many messages one history page holds (protocol.md section 3).
const PAGE: usize = 10;
/// How many in-flight and how many acknowledged messages each sender resends.
const RESENDS: usize = 3;
/// The longest the server may take to answer one frame or request.
const ANSWER: Duration = Duration::from_secs(20);
/// The longest a debug build may take to start listening.
const STARTUP: Duration = Duration::from_secs(60);
/// The longest the senders may take to collect the acknowledgements before the kill.
const STREAMING: Duration = Duration::from_secs(40);
const PASSWORD: &str = "durable-password";

/// The default: acknowledged from the message log, SQLite written behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_on_sqlite() {
    acknowledged_messages_survive_sigkill("sqlite", &[]).await;
}

/// With the message log off: each batch committed to SQLite before its acknowledgement.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_on_sqlite_without_the_log() {
    acknowledged_messages_survive_sigkill(
        "sqlite",
        &[(
            "CONFAB_DATABASE__MESSAGE_LOG".to_owned(),
            "false".to_owned(),
        )],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_on_mysql() {
    let Some(database) = fresh_mysql().await else {
        return;
    };
    acknowledged_messages_survive_sigkill(
        "mysql",
        &[("CONFAB_DATABASE__URL".to_owned(), database.clone())],
    )
    .await;
    drop_mysql(&database).await;
}

/// The whole scenario on one backend; `extra` are environment settings for the server.
async fn acknowledged_messages_survive_sigkill(backend: &str, extra: &[(String, String)]) {
    let data = tempfile::tempdir().expect("a temporary data folder");
    let http = reqwest::Client::builder()
        .timeout(ANSWER)
        .build()
        .expect("an HTTP client");
    let mut server = Server::start(data.path(), extra);
    let mut pairs = Vec::new();
    for pair in 0..PAIRS {
        let sender = register(&http, &server.base, &format!("dur_sender_{pair}")).await;
        let peer = register(&http, &server.base, &format!("dur_peer_{pair}")).await;
        pairs.push((sender, peer));
    }

    // Every sender streams with its window full until the server dies under it.
    let progress = Arc::new(watch::channel(vec![0usize; PAIRS]).0);
    let mut streams = Vec::new();
    for (pair, (sender, peer)) in pairs.iter().enumerate() {
        let ws = open_conversation(&server.base, sender, peer.id).await;
        streams.push(tokio::spawn(stream_until_the_server_dies(
            ws,
            pair,
            progress.clone(),
        )));
    }
    wait_for_acks(&progress, &streams).await;
    server.kill();
    let mut outcomes = Vec::new();
    for stream in streams {
        let joined = tokio::time::timeout(ANSWER, stream)
            .await
            .expect("a sender notices the dead server in time");
        match joined {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => panic!("a sender was cancelled: {err}"),
        }
    }
    let acked: usize = outcomes.iter().map(|o| o.acked.len()).sum();
    let unanswered: usize = outcomes.iter().map(|o| o.unanswered.len()).sum();
    let refused: usize = outcomes.iter().map(|o| o.refused.len()).sum();
    assert!(
        unanswered > 0,
        "the kill caught no message in flight, so it proves nothing"
    );

    // A new process on the same data: history holds what was acknowledged, once each.
    let server = Server::start(data.path(), extra);
    let mut stored_unacked = 0;
    for (pair, ((sender, peer), outcome)) in pairs.iter().zip(&outcomes).enumerate() {
        let sender = User {
            token: login(&http, &server.base, &sender.name).await,
            ..sender.clone()
        };
        let mut ws = open_conversation(&server.base, &sender, peer.id).await;
        let history = whole_history(&mut ws).await;
        check_first_page(&mut ws, &history).await;
        stored_unacked += check_history(pair, outcome, &history);
        resend_and_check(&mut ws, pair, outcome, &history).await;
    }
    drop(server);
    eprintln!(
        "{backend}: {acked} messages acknowledged before the SIGKILL, {unanswered} in flight \
         ({stored_unacked} of them stored without an ack), {refused} refused"
    );
}

/// A running `confab serve` process; dropping it kills the process.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the binary on `data_dir` and waits for its "listening" line.
    fn start(data_dir: &Path, extra: &[(String, String)]) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_confab"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CONFAB_SERVER__DATA_DIR", data_dir)
            .env("CONFAB_SERVER__LISTEN", "127.0.0.1:0")
            .env("CONFAB_AUTH__BCRYPT_COST", "4")
            .env("CONFAB_CHAT__MESSAGES_PER_SECOND", "1000000")
            .env("CONFAB_CHAT__MESSAGE_BURST", "1000000")
            .env("CONFAB_CHAT__USER_MESSAGES_PER_SECOND", "1000000")
            .env("CONFAB_CHAT__USER_MESSAGE_BURST", "1000000")
            // Many users register and log in from this one address.
            .env("CONFAB_THROTTLE__REGISTER__ADDRESS__PER_MINUTE", "1000000")
            .env("CONFAB_THROTTLE__REGISTER__ADDRESS__BURST", "1000000")
            .env("CONFAB_THROTTLE__LOGIN__ADDRESS__PER_MINUTE", "1000000")
            .env("CONFAB_THROTTLE__LOGIN__ADDRESS__BURST", "1000000")
            // The senders stream one way, which the bundled stranger rule would refuse.
            .env("CONFAB_PLUGINS__INSTALL_BUNDLED", "false")
            .env("CONFAB_LOG__FILTER", "warn")
            .envs(extra.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn confab");
        let mut server = Server {
            child,
            base: String::new(),
        };
        let stdout = server.child.stdout.take().expect("stdout is piped");
        let (first_line, listening) = std::sync::mpsc::channel();
        // The reader drains stdout to the end, so that the server never writes into a
        // closed pipe, and ends by itself when the process dies.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = first_line.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = listening
            .recv_timeout(STARTUP)
            .expect("the server prints its listening line in time");
        assert!(
            line.contains("listening on http://"),
            "unexpected first line: {line:?}"
        );
        let addr = line.trim().rsplit("http://").next().expect("an address");
        server.base = format!("http://{addr}");
        server
    }

    /// Kills the process with SIGKILL: no shutdown code runs and nothing is flushed.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("reap the server") {
                break status;
            }
            assert!(Instant::now() < deadline, "the server outlived SIGKILL");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.signal(), Some(9), "the server died of SIGKILL");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registered user and an access token.
#[derive(Clone, Debug)]
struct User {
    name: String,
    id: i64,
    token: String,
}

/// Sends a request and returns the envelope's `data`, asserting status 200.
async fn envelope(request: reqwest::RequestBuilder, what: &str) -> Value {
    let reply: Value = request
        .send()
        .await
        .unwrap_or_else(|err| panic!("{what}: {err}"))
        .json()
        .await
        .unwrap_or_else(|err| panic!("{what}: the reply is not an envelope: {err}"));
    assert_eq!(reply["status"], 200, "{what}: {reply}");
    reply["data"].clone()
}

/// Registers `name`, logs in and finds the user's id.
async fn register(http: &reqwest::Client, base: &str, name: &str) -> User {
    let form = [("username", name), ("password", PASSWORD)];
    envelope(
        http.post(format!("{base}/user/register")).form(&form),
        "register",
    )
    .await;
    let token = login(http, base, name).await;
    let found = envelope(
        http.get(format!("{base}/user/find"))
            .query(&[("info", name)])
            .header("Authorization", &token),
        "find",
    )
    .await;
    User {
        name: name.to_owned(),
        id: found["ID"].as_i64().expect("find answers the user's ID"),
        token,
    }
}

/// Logs `name` in and returns the access token.
async fn login(http: &reqwest::Client, base: &str, name: &str) -> String {
    let form = [("username", name), ("password", PASSWORD)];
    let data = envelope(http.post(format!("{base}/user/login")).form(&form), "login").await;
    data["aToken"]
        .as_str()
        .expect("login answers an aToken")
        .to_owned()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `user`'s private socket bound to the conversation with `peer`, past the welcome.
async fn open_conversation(base: &str, user: &User, peer: i64) -> Socket {
    let url = format!(
        "{}/chat/ws?toUid={peer}&token={}",
        base.replacen("http://", "ws://", 1),
        user.token
    );
    let (mut ws, _) = tokio::time::timeout(ANSWER, tokio_tungstenite::connect_async(url))
        .await
        .expect("the upgrade in time")
        .expect("the upgrade");
    let welcome = next_frame(&mut ws).await.expect("a welcome frame");
    assert_eq!(welcome["code"], 50002, "{welcome}");
    ws
}

/// The next text frame as JSON, or `None` once the connection is gone.
async fn next_frame(ws: &mut Socket) -> Option<Value> {
    loop {
        let next = tokio::time::timeout(ANSWER, ws.next())
            .await
            .expect("the server answers in time");
        match next {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(text.as_str()).expect("a frame is JSON"))
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Sends a frame; `false` once the connection is gone.
async fn send_frame(ws: &mut Socket, frame: &Value) -> bool {
    tokio::time::timeout(ANSWER, ws.send(Message::Text(frame.to_string().into())))
        .await
        .expect("the server takes a frame in time")
        .is_ok()
}

/// A message as a sender wrote it; both ids and texts are unique over the whole test.
#[derive(Clone, Debug)]
struct Draft {
    seq: usize,
    client_id: String,
    content: String,
}

impl Draft {
    fn new(pair: usize, seq: usize) -> Self {
        let client_id = format!("pair{pair}-msg{seq}");
        let content = format!("message {seq} of pair {pair} ({client_id})");
        Draft {
            seq,
            client_id,
            content,
        }
    }

    fn frame(&self) -> Value {
        json!({"type": 1, "content": self.content, "client_id": self.client_id})
    }
}

/// An acknowledged message and the id the server gave it.
#[derive(Clone, Debug)]
struct Acked {
    draft: Draft,
    id: i64,
}

/// What one sender saw before the server died.
#[derive(Debug, Default)]
struct Outcome {
    acked: Vec<Acked>,
    /// Refused with an error frame, and its code.
    refused: Vec<(Draft, i64)>,
    /// Sent and never answered: in flight when the server died, oldest first.
    unanswered: Vec<Draft>,
}

/// Streams messages with `WINDOW` of them unanswered until the connection dies.
async fn stream_until_the_server_dies(
    mut ws: Socket,
    pair: usize,
    progress: Arc<watch::Sender<Vec<usize>>>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut in_flight: HashMap<String, Draft> = HashMap::new();
    let mut next = 0;
    'streaming: loop {
        while in_flight.len() < WINDOW && next < MAX_PER_SENDER {
            let draft = Draft::new(pair, next);
            next += 1;
            let frame = draft.frame();
            in_flight.insert(draft.client_id.clone(), draft);
            if !send_frame(&mut ws, &frame).await {
                break 'streaming;
            }
        }
        if in_flight.is_empty() {
            break;
        }
        let Some(frame) = next_frame(&mut ws).await else {
            break;
        };
        let code = frame["code"].as_i64().expect("every frame has a code");
        let client_id = frame["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("an answer without client_id: {frame}"));
        let draft = in_flight
            .remove(client_id)
            .unwrap_or_else(|| panic!("an answer to no message in flight: {frame}"));
        if matches!(code, 50004 | 50005) {
            let id = frame["id"].as_i64().expect("an ack carries the message id");
            outcome.acked.push(Acked { draft, id });
            progress.send_modify(|acks| acks[pair] += 1);
        } else {
            outcome.refused.push((draft, code));
        }
    }
    outcome.unanswered = in_flight.into_values().collect();
    outcome.unanswered.sort_by_key(|d| d.seq);
    outcome
}

/// Waits until enough messages are acknowledged, by every sender, for the kill.
async fn wait_for_acks(
    progress: &watch::Sender<Vec<usize>>,
    streams: &[tokio::task::JoinHandle<Outcome>],
) {
    let mut acks = progress.subscribe();
    let deadline = Instant::now() + STREAMING;
    loop {
        let (total, slowest) = {
            let acks = acks.borrow_and_update();
            (
                acks.iter().sum::<usize>(),
                acks.iter().copied().min().unwrap_or_default(),
            )
        };
        if total >= ACKS_BEFORE_KILL && slowest >= ACKS_PER_SENDER_BEFORE_KILL {
            break;
        }
        assert!(
            !streams.iter().any(|s| s.is_finished()),
            "a sender stopped before the kill ({total} acks so far)"
        );
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            tokio::time::timeout(left, acks.changed()).await.is_ok(),
            "only {total} acks (slowest sender {slowest}) within {STREAMING:?}"
        );
    }
}

/// One message as history shows it to the sender.
#[derive(Clone, Debug)]
struct Stored {
    id: i64,
    from: String,
    content: String,
}

/// Sends one history request and reads its page: up to `PAGE` messages, oldest first,
/// then the end marker if the page is not full.
async fn history_page(ws: &mut Socket, request: Value) -> Vec<Stored> {
    assert!(send_frame(ws, &request).await, "the server is up");
    let mut page: Vec<Stored> = Vec::new();
    while page.len() < PAGE {
        let frame = next_frame(ws).await.expect("the server is up");
        match frame["code"].as_i64() {
            Some(0) => {
                let stored = Stored {
                    id: frame["id"].as_i64().expect("a history message has an id"),
                    from: frame["from"].as_str().unwrap_or_default().to_owned(),
                    content: frame["content"].as_str().unwrap_or_default().to_owned(),
                };
                if let Some(last) = page.last() {
                    assert!(last.id < stored.id, "a page is oldest first: {page:?}");
                }
                page.push(stored);
            }
            Some(50003) => break,
            _ => panic!("unexpected frame while reading history: {frame}"),
        }
    }
    page
}

/// The whole conversation, oldest first, read by paging backwards with `before`.
async fn whole_history(ws: &mut Socket) -> Vec<Stored> {
    let most_pages = PAIRS * MAX_PER_SENDER / PAGE + 2;
    let mut pages = Vec::new();
    let mut before = i64::MAX;
    for _ in 0..most_pages {
        let page = history_page(ws, json!({"type": 2, "before": before})).await;
        assert!(
            page.iter().all(|m| m.id < before),
            "a page before {before} holds only older messages: {page:?}"
        );
        let full = page.len() == PAGE;
        if let Some(oldest) = page.first() {
            before = oldest.id;
        }
        pages.push(page);
        if !full {
            return pages.into_iter().rev().flatten().collect();
        }
    }
    panic!("history did not end within {most_pages} pages");
}

/// The first page forward from the beginning of time is the oldest page read backwards.
async fn check_first_page(ws: &mut Socket, history: &[Stored]) {
    let first = history_page(ws, json!({"type": 2, "content": "0"})).await;
    let ids = |m: &[Stored]| m.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&first),
        ids(&history[..history.len().min(PAGE)]),
        "paging forward and backward disagree"
    );
}

/// Asserts that history holds every acknowledged message once, with its text, and
/// nothing twice or never sent; returns how many unanswered messages were stored anyway.
fn check_history(pair: usize, outcome: &Outcome, history: &[Stored]) -> usize {
    let mut by_id: HashMap<i64, &Stored> = HashMap::new();
    let mut texts = HashSet::new();
    for stored in history {
        assert!(
            by_id.insert(stored.id, stored).is_none(),
            "pair {pair}: id {} appears twice in history",
            stored.id
        );
        assert!(
            texts.insert(stored.content.as_str()),
            "pair {pair}: stored twice: {:?}",
            stored.content
        );
        assert_eq!(stored.from, "me", "pair {pair}: {stored:?}");
    }
    for acked in &outcome.acked {
        let stored = by_id.get(&acked.id).unwrap_or_else(|| {
            panic!(
                "pair {pair}: acknowledged message {} ({:?}) is lost after the restart",
                acked.id, acked.draft.content
            )
        });
        assert_eq!(
            stored.content, acked.draft.content,
            "pair {pair}: message {} holds another text",
            acked.id
        );
    }
    let sent: HashSet<&str> = outcome
        .acked
        .iter()
        .map(|a| &a.draft)
        .chain(outcome.refused.iter().map(|(d, _)| d))
        .chain(&outcome.unanswered)
        .map(|d| d.content.as_str())
        .collect();
    for stored in history {
        assert!(
            sent.contains(stored.content.as_str()),
            "pair {pair}: history holds a message never sent: {stored:?}"
        );
    }
    outcome
        .unanswered
        .iter()
        .filter(|d| texts.contains(d.content.as_str()))
        .count()
}

/// Resends, with their client ids, some messages that were in flight and some that were
/// acknowledged: every one is acknowledged, the acknowledged ones with their first id,
/// and history still holds each text once.
async fn resend_and_check(ws: &mut Socket, pair: usize, outcome: &Outcome, history: &[Stored]) {
    let stored_id: HashMap<&str, i64> =
        history.iter().map(|m| (m.content.as_str(), m.id)).collect();
    let in_flight = outcome.unanswered.iter().take(RESENDS);
    let acked = outcome.acked.iter().rev().take(RESENDS);
    // The id each resend must come back with, if it is known already.
    let mut expected: HashMap<String, (Draft, Option<i64>)> = HashMap::new();
    for draft in in_flight {
        let id = stored_id.get(draft.content.as_str()).copied();
        expected.insert(draft.client_id.clone(), (draft.clone(), id));
    }
    for acked in acked {
        expected.insert(
            acked.draft.client_id.clone(),
            (acked.draft.clone(), Some(acked.id)),
        );
    }
    for (draft, _) in expected.values() {
        assert!(send_frame(ws, &draft.frame()).await, "the server is up");
    }
    let mut resent: HashMap<String, i64> = HashMap::new();
    while resent.len() < expected.len() {
        let frame = next_frame(ws).await.expect("the server is up");
        let client_id = frame["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("pair {pair}: an answer without client_id: {frame}"));
        let (_, first_id) = expected
            .get(client_id)
            .unwrap_or_else(|| panic!("pair {pair}: an answer to nothing resent: {frame}"));
        assert!(
            matches!(frame["code"].as_i64(), Some(50004 | 50005)),
            "pair {pair}: a resend is acknowledged: {frame}"
        );
        let id = frame["id"].as_i64().expect("an ack carries the message id");
        if let Some(first_id) = first_id {
            assert_eq!(
                id, *first_id,
                "pair {pair}: a resend of a stored message keeps its id: {frame}"
            );
        }
        resent.insert(client_id.to_owned(), id);
    }

    let after = whole_history(ws).await;
    let mut times_stored: HashMap<&str, Vec<i64>> = HashMap::new();
    for stored in &after {
        times_stored
            .entry(stored.content.as_str())
            .or_default()
            .push(stored.id);
    }
    for (client_id, (draft, _)) in &expected {
        assert_eq!(
            times_stored.get(draft.content.as_str()),
            Some(&vec![resent[client_id]]),
            "pair {pair}: {:?} is stored once, with the acknowledged id",
            draft.content
        );
    }
    assert!(
        times_stored.values().all(|ids| ids.len() == 1),
        "pair {pair}: a text is stored twice after the resends"
    );
    let new = expected.values().filter(|(_, id)| id.is_none()).count();
    assert_eq!(
        after.len(),
        history.len() + new,
        "pair {pair}: only the messages never stored before were added"
    );
}

/// A fresh database on the server named by `CONFAB_TEST_MYSQL_URL`, or `None` (skipped).
async fn fresh_mysql() -> Option<String> {
    let Ok(url) = std::env::var("CONFAB_TEST_MYSQL_URL") else {
        eprintln!(
            "SKIPPED: the MySQL durability test needs a server, and CONFAB_TEST_MYSQL_URL is not set \
             (e.g. mysql://root@127.0.0.1:3306/test)"
        );
        return None;
    };
    let mut admin = sqlx::MySqlConnection::connect(&url)
        .await
        .expect("CONFAB_TEST_MYSQL_URL is set but the server cannot be reached");
    let name = format!("confab_dur_{:08x}", rand::random::<u32>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    Some(format!("{base}/{name}"))
}

/// Drops a database made by [`fresh_mysql`] once its test has passed.
async fn drop_mysql(url: &str) {
    let mut admin = sqlx::MySqlConnection::connect(url)
        .await
        .expect("connect to the test database");
    let name = url.rsplit('/').next().expect("a database name");
    sqlx::query(&format!("DROP DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
}
