//! The session loop driven without a socket: frames in through a channel, frames out
//! through another, over a real SQLite store. A store wrapper can hold batches back or
//! fail them, to see ordering, the window and errors as a client would.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::Message as WsMessage;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::Session;
use crate::bus::{Bus, LocalBus};
use crate::config::{ChatConfig, DatabaseConfig};
use crate::error::Result;
use crate::groups::{GroupLimits, GroupService, HistoryVisibility, SeedPolicy};
use crate::messages::{Appended, BatchLimits, ChatService, Conversation, Message, NewMessage};
use crate::presence::MemoryPresence;
use crate::store::{MessageStore, SqlStore, Stores};
use crate::users::{NewUser, UserId};
use crate::ws::hub::{Hub, SocketKind};
use crate::ws::limits::{SocketCaps, UserRate};

/// Refuses every renewal: these tests do not renew tokens (the end-to-end tests do).
struct NoRenewal;

#[async_trait]
impl super::Renewal for NoRenewal {
    async fn renew(&self, _token: &str) -> Result<(UserId, i64)> {
        Err(crate::error::Error::InvalidToken("no renewals here"))
    }
}

/// The real store, with a gate each batch must pass and a switch that fails batches.
struct Gated {
    inner: Arc<dyn MessageStore>,
    gate: Arc<Semaphore>,
    fail: AtomicBool,
}

#[async_trait]
impl MessageStore for Gated {
    async fn append(&self, message: NewMessage) -> Result<Appended> {
        self.inner.append(message).await
    }
    async fn append_batch(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        self.gate
            .acquire()
            .await
            .map_err(|e| anyhow::anyhow!("gate closed: {e}"))?
            .forget();
        if self.fail.load(Ordering::SeqCst) {
            return Err(anyhow::anyhow!("the disk is full").into());
        }
        self.inner.append_batch(batch).await
    }
    async fn after(&self, c: &Conversation, ms: i64, above: i64, n: u32) -> Result<Vec<Message>> {
        self.inner.after(c, ms, above, n).await
    }
    async fn before(&self, c: &Conversation, id: i64, above: i64, n: u32) -> Result<Vec<Message>> {
        self.inner.before(c, id, above, n).await
    }
    async fn unread(&self, c: &Conversation, reader: UserId, limit: u32) -> Result<Vec<Message>> {
        self.inner.unread(c, reader, limit).await
    }
    async fn mark_read(&self, c: &Conversation, reader: UserId, up_to: i64) -> Result<bool> {
        self.inner.mark_read(c, reader, up_to).await
    }
    async fn purge_before(&self, cutoff_ms: i64) -> Result<u64> {
        self.inner.purge_before(cutoff_ms).await
    }
}

struct World {
    _dir: tempfile::TempDir,
    chat: ChatService,
    hub: Arc<Hub>,
    store: Arc<Gated>,
    users: Vec<UserId>,
}

async fn world(open_gate: bool) -> World {
    world_with(open_gate, BatchLimits::default()).await
}

async fn world_with(open_gate: bool, batch: BatchLimits) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = SqlStore::connect(&DatabaseConfig::default(), dir.path())
        .await
        .expect("SQLite");
    sql.migrate().await.expect("migrate");
    let stores = Stores::from_sql(sql);
    let mut users = Vec::new();
    for name in ["ann", "ben", "cat"] {
        let user = stores
            .users
            .create_user(
                NewUser {
                    username: name.to_owned(),
                    password_digest: "x".to_owned(),
                    status: "active".to_owned(),
                    now: 0,
                },
                None,
            )
            .await
            .expect("user");
        users.push(user.id);
    }
    let gate = Arc::new(Semaphore::new(if open_gate {
        Semaphore::MAX_PERMITS
    } else {
        0
    }));
    let store = Arc::new(Gated {
        inner: stores.messages.clone(),
        gate,
        fail: AtomicBool::new(false),
    });
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::default());
    let groups = GroupService::new(
        stores.groups.clone(),
        stores.messages.clone(),
        Arc::new(SeedPolicy),
        GroupLimits {
            default_size: 10,
            max_size: 10,
            history: HistoryVisibility::Joined,
        },
        bus.clone(),
    );
    let chat = ChatService::new(
        store.clone(),
        stores.users.clone(),
        groups,
        Arc::new(MemoryPresence::default()),
        bus.clone(),
        4000,
        batch,
    )
    .with_changes(stores.changes.clone());
    let hub = Hub::start(
        1,
        &bus,
        SocketCaps::unlimited(),
        UserRate::new(1_000_000, 1_000_000),
    );
    World {
        _dir: dir,
        chat,
        hub,
        store,
        users,
    }
}

/// A client of a session: what it sends, what it reads, and how many frames the session
/// has taken from it so far.
struct Client {
    to_server: mpsc::UnboundedSender<std::result::Result<WsMessage, Infallible>>,
    from_server: mpsc::UnboundedReceiver<WsMessage>,
    taken: Arc<AtomicUsize>,
}

impl Client {
    fn send(&self, frame: Value) {
        self.to_server
            .unbounded_send(Ok(WsMessage::Text(frame.to_string().into())))
            .expect("session alive");
    }

    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.from_server.next())
                .await
                .expect("a frame within 10 s")
                .expect("session still open");
            match frame {
                WsMessage::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("JSON frame")
                }
                WsMessage::Close(close) => panic!("closed: {close:?}"),
                _ => {}
            }
        }
    }

    /// Reads until the session closes; returns the close code.
    async fn closed(&mut self) -> u16 {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.from_server.next())
                .await
                .expect("a frame within 10 s");
            match frame {
                Some(WsMessage::Close(Some(close))) => return close.code,
                Some(_) => {}
                None => panic!("ended without a close frame"),
            }
        }
    }
}

fn start(world: &World, user: UserId, kind: SocketKind, limits: ChatConfig) -> Client {
    let (to_server, incoming) = mpsc::unbounded();
    let (outgoing, from_server) = mpsc::unbounded();
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = taken.clone();
    let incoming = incoming.inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let session = Session {
        user,
        kind,
        address: None,
        token_expires: i64::MAX,
        context: Arc::new(super::Context {
            renewal: Arc::new(NoRenewal),
            chat: world.chat.clone(),
            hub: world.hub.clone(),
            limits,
        }),
        welcome: false,
    };
    let sink = outgoing.sink_map_err(|_| ());
    tokio::spawn(session.drive(sink, Box::pin(incoming)));
    Client {
        to_server,
        from_server,
        taken,
    }
}

fn limits(window: usize) -> ChatConfig {
    ChatConfig {
        window,
        messages_per_second: 1_000_000,
        message_burst: 1_000_000,
        ..ChatConfig::default()
    }
}

#[tokio::test]
async fn answers_come_in_the_order_frames_came_in() {
    let w = world(true).await;
    let (ann, ben) = (w.users[0], w.users[1]);
    let mut sender = start(&w, ann, SocketKind::Direct(ben), limits(8));
    let mut receiver = start(&w, ben, SocketKind::Direct(ann), limits(8));
    // Registration is synchronous in drive(); wait until both sockets are in the hub.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while w.hub.len() < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::task::yield_now().await;
    }
    for n in 0..30 {
        if n == 10 {
            // A malformed frame in the middle is answered in its place.
            sender.send(json!({"type": 1}));
        }
        sender.send(json!({"type": 1, "content": format!("m{n}"), "client_id": format!("c{n}")}));
    }
    let mut last = 0;
    for n in 0..31 {
        let frame = sender.recv().await;
        if n == 10 {
            assert_eq!(frame["code"], 400, "{frame}");
            assert!(frame["content"].as_str().expect("text").contains("content"));
            continue;
        }
        let expected = if n < 10 { n } else { n - 1 };
        assert_eq!(frame["code"], 50004, "{frame}");
        assert_eq!(frame["client_id"], format!("c{expected}"));
        let id = frame["id"].as_i64().expect("id");
        assert!(id > last, "ids follow the order of sending");
        last = id;
    }
    for n in 0..30 {
        let frame = receiver.recv().await;
        assert_eq!(frame["code"], 50001);
        assert_eq!(frame["content"], format!("m{n}"), "delivered in order");
    }
}

#[tokio::test]
async fn past_the_window_the_session_stops_reading() {
    let w = world(false).await;
    let (ann, ben) = (w.users[0], w.users[1]);
    let mut client = start(&w, ann, SocketKind::Direct(ben), limits(3));
    // One message goes all the way through first, so that everything the session needs
    // later (the recipient's existence) is in memory and nothing waits on the disk.
    w.store.gate.add_permits(1);
    client.send(json!({"type": 1, "content": "warm", "client_id": "w"}));
    assert_eq!(client.recv().await["code"], 50005);

    tokio::time::pause();
    for n in 0..10 {
        client.send(json!({"type": 1, "content": format!("m{n}"), "client_id": format!("c{n}")}));
    }
    // With time paused, this sleep ends only once every task is idle: the session has
    // read all it is going to while the store holds every batch back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        client.taken.load(Ordering::SeqCst),
        1 + 3,
        "read exactly the window"
    );
    tokio::time::resume();

    w.store.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    for n in 0..10 {
        let frame = client.recv().await;
        assert_eq!(frame["client_id"], format!("c{n}"), "{frame}");
        assert_eq!(frame["code"], 50005);
    }
    assert_eq!(client.taken.load(Ordering::SeqCst), 11);
}

#[tokio::test]
async fn a_stalled_store_answers_with_errors_not_silence() {
    // The gate stays shut: every batch stalls, as on a database link that hangs.
    let w = world_with(
        false,
        BatchLimits {
            store_timeout: Duration::from_millis(200),
            ..BatchLimits::default()
        },
    )
    .await;
    let (ann, ben) = (w.users[0], w.users[1]);
    let mut client = start(&w, ann, SocketKind::Direct(ben), limits(8));
    for n in 0..3 {
        client.send(json!({"type": 1, "content": format!("m{n}"), "client_id": format!("c{n}")}));
    }
    for n in 0..3 {
        let frame = client.recv().await;
        assert_eq!(frame["code"], 40001, "{frame}");
        assert_eq!(frame["client_id"], format!("c{n}"));
        assert!(frame["content"]
            .as_str()
            .expect("reason")
            .contains("did not answer in time"));
    }
    // The socket is still open and answers what does not need the stalled writer.
    client.send(json!({"type": 7}));
    assert_eq!(client.recv().await["code"], 400);
}

#[tokio::test]
async fn a_failed_batch_answers_every_message_and_keeps_the_socket() {
    let w = world(true).await;
    let (ann, ben) = (w.users[0], w.users[1]);
    let mut client = start(&w, ann, SocketKind::Direct(ben), limits(8));
    w.store.fail.store(true, Ordering::SeqCst);
    for n in 0..5 {
        client.send(json!({"type": 1, "content": format!("m{n}"), "client_id": format!("c{n}")}));
    }
    for n in 0..5 {
        let frame = client.recv().await;
        assert_eq!(frame["code"], 40001, "{frame}");
        assert_eq!(frame["client_id"], format!("c{n}"));
        assert!(frame["content"]
            .as_str()
            .expect("reason")
            .contains("send it again"));
    }
    // The store recovers; the same client ids are stored now, once each.
    w.store.fail.store(false, Ordering::SeqCst);
    for n in 0..5 {
        client.send(json!({"type": 1, "content": format!("m{n}"), "client_id": format!("c{n}")}));
    }
    for n in 0..5 {
        let frame = client.recv().await;
        assert_eq!(frame["code"], 50005, "{frame}");
        assert_eq!(frame["client_id"], format!("c{n}"));
    }
    client.send(json!({"type": 2, "content": "0"}));
    let mut stored = Vec::new();
    loop {
        let frame = client.recv().await;
        if frame["code"] == 50003 {
            break;
        }
        stored.push(frame["content"].clone());
    }
    assert_eq!(
        stored,
        (0..5).map(|n| json!(format!("m{n}"))).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn garbage_is_answered_then_closes_the_socket() {
    let w = world(true).await;
    let (ann, ben) = (w.users[0], w.users[1]);
    let mut client = start(&w, ann, SocketKind::Direct(ben), limits(8));
    client
        .to_server
        .unbounded_send(Ok(WsMessage::Binary(vec![1, 2, 3].into())))
        .expect("sent");
    let frame = client.recv().await;
    assert_eq!(frame["code"], 400);
    assert!(frame["content"].as_str().expect("text").contains("binary"));
    for _ in 0..4 {
        client
            .to_server
            .unbounded_send(Ok(WsMessage::Text("not json".into())))
            .expect("sent");
    }
    for _ in 0..4 {
        assert_eq!(client.recv().await["code"], 400);
    }
    assert_eq!(client.closed().await, 1008);
}

#[tokio::test]
async fn pings_between_invalid_frames_do_not_reset_their_count() {
    let w = world(true).await;
    let (ann, ben) = (w.users[0], w.users[1]);
    let limit = ChatConfig::default().invalid_frame_limit;
    let mut client = start(&w, ann, SocketKind::Direct(ben), limits(8));
    for i in 0..limit {
        // Control frames keep the connection alive, but are not good frames.
        let control = if i % 2 == 0 {
            WsMessage::Ping(Default::default())
        } else {
            WsMessage::Pong(Default::default())
        };
        client.to_server.unbounded_send(Ok(control)).expect("sent");
        client
            .to_server
            .unbounded_send(Ok(WsMessage::Text("not json".into())))
            .expect("sent");
    }
    for _ in 0..limit {
        assert_eq!(client.recv().await["code"], 400);
    }
    assert_eq!(client.closed().await, 1008);
}

#[tokio::test]
async fn a_group_sender_who_is_no_longer_a_member_is_told_and_closed() {
    let w = world(true).await;
    let ann = w.users[0];
    let mut client = start(&w, ann, SocketKind::Group(999), limits(8));
    client.send(json!({"content": "hello", "client_id": "g1"}));
    let frame = client.recv().await;
    assert_eq!(frame["code"], 30009, "{frame}");
    assert_eq!(frame["client_id"], "g1");
    assert_eq!(client.closed().await, 1008);
}
