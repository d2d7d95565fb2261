//! This node's sockets, and delivery of bus events to them.
//!
//! Each socket has an outbound queue bounded in frames and in bytes. Delivery never waits:
//! a socket whose queue is full has a reader too slow to keep up, and is closed with 1013
//! rather than skipped, so its client reconnects and reads what it missed from history.
//! A frame is encoded once per event and the same bytes are queued on every socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, watch, Notify};
use tokio_util::task::TaskTracker;

use crate::bus::{Bus, Event, SocketRef};
use crate::groups::GroupId;
use crate::users::UserId;
use crate::ws::limits::{Census, Refused, SocketCaps, UserRate};
use crate::ws::outbox::{Outbox, Pushed};
use crate::ws::protocol::ServerFrame;

/// What a socket is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// Every private message of the user.
    Inbox,
    /// The private conversation with this peer.
    Direct(UserId),
    /// A group.
    Group(GroupId),
}

/// Tells a session to close, with which code and why.
#[derive(Debug, Default)]
pub struct Kill {
    notify: Notify,
    code: AtomicU16,
    reason: Mutex<&'static str>,
}

impl Kill {
    /// Asks the session to close with `code`; the first request wins.
    pub fn fire(&self, code: u16, reason: &'static str) {
        if self
            .code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            *self
                .reason
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = reason;
            self.notify.notify_one();
        }
    }

    /// Waits until [`Kill::fire`] was called.
    pub async fn fired(&self) {
        self.notify.notified().await;
    }

    /// The close code and reason asked for.
    pub fn close(&self) -> (u16, &'static str) {
        let reason = *self
            .reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (self.code.load(Ordering::SeqCst), reason)
    }
}

/// The bounds of one socket's outbound queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Frames waiting.
    pub frames: usize,
    /// Bytes waiting.
    pub bytes: usize,
}

struct Entry {
    user: UserId,
    kind: SocketKind,
    address: Option<IpAddr>,
    outbox: Arc<Outbox>,
    kill: Arc<Kill>,
}

impl Drop for Entry {
    /// A socket the hub no longer knows reads what waits, then ends.
    fn drop(&mut self) {
        self.outbox.close();
    }
}

#[derive(Default)]
struct Registry {
    sockets: HashMap<u64, Entry>,
    by_user: HashMap<UserId, Vec<u64>>,
    by_group: HashMap<GroupId, Vec<u64>>,
    census: Census,
}

/// A registered socket: its id, its queue and its kill switch.
pub struct Registration {
    /// Where the socket is in the cluster.
    pub socket: SocketRef,
    /// Frames to write.
    pub outbox: Arc<Outbox>,
    /// Closes the socket from outside.
    pub kill: Arc<Kill>,
}

/// A socket asking to join the hub.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// Its user.
    pub user: UserId,
    /// What it is bound to.
    pub kind: SocketKind,
    /// The client's address, when known.
    pub address: Option<IpAddr>,
    /// The bounds of its outbound queue.
    pub queue: QueueLimits,
}

/// How often the per-user send limiter forgets users who have been quiet.
const RATE_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The sockets of this node.
pub struct Hub {
    node: u64,
    caps: SocketCaps,
    user_rate: UserRate,
    /// Sockets closed by the server (or refused at the caps), by close code.
    closes: Mutex<std::collections::BTreeMap<u16, u64>>,
    /// Sends answered on this node's sockets, and message frames queued on them.
    messages: crate::metrics::MessageStats,
    next: AtomicU64,
    registry: Mutex<Registry>,
    shutdown: watch::Sender<bool>,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub for node `node` that delivers what `bus` carries, admitting sockets within
    /// `caps` and sends within `user_rate`.
    pub fn start(
        node: u64,
        bus: &Arc<dyn Bus>,
        caps: SocketCaps,
        user_rate: UserRate,
    ) -> Arc<Self> {
        let sweep = user_rate.clone();
        let hub = Arc::new(Self {
            node,
            caps,
            user_rate,
            closes: Mutex::default(),
            messages: crate::metrics::MessageStats::default(),
            next: AtomicU64::new(1),
            registry: Mutex::new(Registry::default()),
            shutdown: watch::channel(false).0,
            tracker: TaskTracker::new(),
        });
        let weak = Arc::downgrade(&hub);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RATE_SWEEP_EVERY);
            loop {
                tick.tick().await;
                if weak.strong_count() == 0 {
                    return;
                }
                sweep.sweep();
            }
        });
        let mut events = bus.subscribe();
        let weak = Arc::downgrade(&hub);
        tokio::spawn(async move {
            loop {
                let event = events.recv().await;
                let Some(hub) = weak.upgrade() else { return };
                match event {
                    Ok(event) => hub.deliver(&event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::error!(missed, "the hub fell behind the bus; closing local sockets so clients resync from history");
                        hub.kill_all(1013, "server overloaded: reconnect and read history");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        hub
    }

    /// This node's id.
    pub fn node(&self) -> u64 {
        self.node
    }

    /// Counts a socket the server closed (or refused) with `code`.
    pub fn count_close(&self, code: u16) {
        *self
            .closes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(code)
            .or_default() += 1;
    }

    /// Sockets the server closed or refused so far, by close code.
    pub fn closes(&self) -> Vec<(u16, u64)> {
        self.closes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(code, count)| (*code, *count))
            .collect()
    }

    /// Sends answered on this node's sockets, and message frames delivered to them.
    pub fn message_stats(&self) -> &crate::metrics::MessageStats {
        &self.messages
    }

    /// The limit on sends per user across their sockets.
    pub fn user_rate(&self) -> &UserRate {
        &self.user_rate
    }

    /// Sessions register here; the tracker lets shutdown wait for them.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// A receiver that turns true when the server starts shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Tells every session to finish the frame it is handling and close with 1001.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
        self.tracker.close();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Every change to the registry is completed before the lock is released, so a
        // poisoned lock still guards a consistent map.
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a socket, unless its user or its address already holds as many as allowed.
    pub fn register(&self, admission: Admission) -> Result<Registration, Refused> {
        let Admission {
            user,
            kind,
            address,
            queue,
        } = admission;
        let mut reg = self.lock();
        let open = reg.by_user.get(&user).map_or(0, Vec::len);
        reg.census.admit(open, address, self.caps)?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let outbox = Arc::new(Outbox::new(queue.frames, queue.bytes));
        let kill = Arc::new(Kill::default());
        reg.census.add(address);
        reg.sockets.insert(
            id,
            Entry {
                user,
                kind,
                address,
                outbox: outbox.clone(),
                kill: kill.clone(),
            },
        );
        reg.by_user.entry(user).or_default().push(id);
        if let SocketKind::Group(g) = kind {
            reg.by_group.entry(g).or_default().push(id);
        }
        Ok(Registration {
            socket: SocketRef {
                node: self.node,
                socket: id,
            },
            outbox,
            kill,
        })
    }

    /// Removes a socket.
    pub fn unregister(&self, id: u64) {
        let mut reg = self.lock();
        let Some(entry) = reg.sockets.remove(&id) else {
            return;
        };
        reg.census.remove(entry.address);
        if let Some(list) = reg.by_user.get_mut(&entry.user) {
            list.retain(|s| *s != id);
            if list.is_empty() {
                reg.by_user.remove(&entry.user);
            }
        }
        if let SocketKind::Group(g) = entry.kind {
            if let Some(list) = reg.by_group.get_mut(&g) {
                list.retain(|s| *s != id);
                if list.is_empty() {
                    reg.by_group.remove(&g);
                }
            }
        }
    }

    /// How many sockets this node holds.
    pub fn len(&self) -> usize {
        self.lock().sockets.len()
    }

    /// Whether this node holds no socket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kill_all(&self, code: u16, reason: &'static str) {
        for entry in self.lock().sockets.values() {
            entry.kill.fire(code, reason);
        }
    }

    fn deliver(&self, event: &Event) {
        let reg = self.lock();
        let origin_here =
            |origin: &Option<SocketRef>| origin.filter(|o| o.node == self.node).map(|o| o.socket);
        match event {
            Event::Direct { message, origin } => {
                let Some(recipient) = message.recipient else {
                    return;
                };
                let skip = origin_here(origin);
                let frame = ServerFrame::Direct(message).encode();
                let wants = |entry: &Entry, peer: UserId| {
                    matches!(entry.kind, SocketKind::Inbox)
                        || entry.kind == SocketKind::Direct(peer)
                };
                let mut delivered = 0;
                for (user, peer) in [(recipient, message.sender), (message.sender, recipient)] {
                    for id in reg.by_user.get(&user).into_iter().flatten() {
                        if Some(*id) == skip {
                            continue;
                        }
                        if let Some(entry) = reg.sockets.get(id) {
                            if wants(entry, peer) {
                                delivered += u64::from(push(entry, &frame));
                            }
                        }
                    }
                }
                self.messages.delivered(delivered);
            }
            Event::Group { message, origin } => {
                let crate::messages::Conversation::Group(group) = message.conversation else {
                    return;
                };
                let skip = origin_here(origin);
                let frame = ServerFrame::Group { message, group }.encode();
                let mut delivered = 0;
                for id in reg.by_group.get(&group).into_iter().flatten() {
                    if Some(*id) == skip {
                        continue;
                    }
                    if let Some(entry) = reg.sockets.get(id) {
                        delivered += u64::from(push(entry, &frame));
                    }
                }
                self.messages.delivered(delivered);
            }
            Event::Change {
                conversation,
                audience,
                change,
                origin,
            } => {
                let skip = origin_here(origin);
                let frame = crate::ws::change_frames::encode(*conversation, change);
                match *conversation {
                    crate::messages::Conversation::Direct(a, b) => {
                        for (user, peer) in [(a, b), (b, a)] {
                            if !audience.includes(user) {
                                continue;
                            }
                            for id in reg.by_user.get(&user).into_iter().flatten() {
                                if Some(*id) == skip {
                                    continue;
                                }
                                if let Some(entry) = reg.sockets.get(id) {
                                    if matches!(entry.kind, SocketKind::Inbox)
                                        || entry.kind == SocketKind::Direct(peer)
                                    {
                                        push(entry, &frame);
                                    }
                                }
                            }
                        }
                    }
                    crate::messages::Conversation::Group(group) => {
                        for id in reg.by_group.get(&group).into_iter().flatten() {
                            if Some(*id) == skip {
                                continue;
                            }
                            if let Some(entry) = reg.sockets.get(id) {
                                if audience.includes(entry.user) {
                                    push(entry, &frame);
                                }
                            }
                        }
                    }
                }
            }
            Event::Revoked { user } => {
                for id in reg.by_user.get(user).into_iter().flatten() {
                    if let Some(entry) = reg.sockets.get(id) {
                        entry.kill.fire(1008, "signed out");
                    }
                }
            }
            // Plugin changes are for the plugin registry; no socket sees them.
            Event::Plugin { .. } => {}
            Event::Mentioned { mention, users } => {
                let frame = ServerFrame::Mentioned(mention).encode();
                for user in users {
                    let ids = reg.by_user.get(user).map(Vec::as_slice).unwrap_or_default();
                    let entries = || ids.iter().filter_map(|id| reg.sockets.get(id));
                    // A member with the group open on this node is reading it already.
                    if entries().any(|e| e.kind == SocketKind::Group(mention.group)) {
                        continue;
                    }
                    for entry in entries().filter(|e| e.kind == SocketKind::Inbox) {
                        push(entry, &frame);
                    }
                }
            }
            // Block and mute changes are for the cached facts; a socket sees their effect
            // when it next sends.
            Event::BlocksChanged { .. } | Event::MutesChanged { .. } => {}
            // Friend lists and roles are cached for the message filters' context.
            Event::FriendsChanged { .. } | Event::RoleChanged { .. } => {}
            Event::Resync => {
                for entry in reg.sockets.values() {
                    entry.kill.fire(
                        1013,
                        "messages may have been missed: reconnect and read history",
                    );
                }
            }
            Event::Removed { group, user } => {
                for id in reg.by_group.get(group).into_iter().flatten() {
                    if let Some(entry) = reg.sockets.get(id) {
                        if entry.user == *user {
                            entry.kill.fire(1008, "no longer a member of this group");
                        }
                    }
                }
            }
        }
    }
}

/// Queues a frame on a socket (sharing its bytes), or closes a socket too slow to take it;
/// true when it was queued.
fn push(entry: &Entry, frame: &Utf8Bytes) -> bool {
    match entry.outbox.push(frame) {
        Pushed::Queued => true,
        Pushed::Full => {
            entry
                .kill
                .fire(1013, "reading too slowly: reconnect and read history");
            false
        }
        // The session is already ending.
        Pushed::Closed => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bus::LocalBus;
    use crate::messages::{Conversation, Message};

    fn message(id: i64, text: &str) -> Message {
        Message {
            id,
            conversation: Conversation::direct(1, 2),
            sender: 1,
            recipient: Some(2),
            content: text.to_owned(),
            client_id: None,
            sent_at: 0,
            read: false,
            reply_to: None,
            edited_at: None,
        }
    }

    /// A queue that holds frames within its byte bound takes them; the frame that would pass
    /// the bound closes the socket with 1013 instead of being queued.
    #[tokio::test]
    async fn a_queue_past_its_byte_bound_closes_the_socket() {
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::default());
        let hub = Hub::start(1, &bus, SocketCaps::unlimited(), UserRate::new(100, 100));
        let one = ServerFrame::Direct(&message(1, &"x".repeat(100)))
            .encode()
            .len();
        let reg = hub
            .register(Admission {
                user: 2,
                kind: SocketKind::Inbox,
                address: None,
                queue: QueueLimits {
                    frames: 100,
                    bytes: 2 * one,
                },
            })
            .expect("admitted");
        for id in 1..=3 {
            bus.publish(Event::Direct {
                message: message(id, &"x".repeat(100)),
                origin: None,
            })
            .await
            .expect("publish");
        }
        tokio::time::timeout(Duration::from_secs(5), reg.kill.fired())
            .await
            .expect("the third frame passes the bound and closes the socket");
        assert_eq!(reg.kill.close().0, 1013);
        assert_eq!(reg.outbox.bytes(), 2 * one, "only what fits was queued");
        let mut queued = 0;
        while reg.outbox.try_recv().is_some() {
            queued += 1;
        }
        assert_eq!(queued, 2);
        assert_eq!(reg.outbox.bytes(), 0);
    }

    /// A user at their cap, or an address at its cap, is refused with 1008; a socket that
    /// leaves frees its place.
    #[tokio::test]
    async fn sockets_past_a_cap_are_refused_until_one_leaves() {
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::default());
        let caps = SocketCaps {
            per_user: 2,
            per_address: 3,
        };
        let hub = Hub::start(1, &bus, caps, UserRate::new(100, 100));
        let ip: IpAddr = [192, 0, 2, 1].into();
        let admit = |user: UserId| Admission {
            user,
            kind: SocketKind::Inbox,
            address: Some(ip),
            queue: QueueLimits {
                frames: 8,
                bytes: 1 << 16,
            },
        };
        let first = hub.register(admit(1)).expect("first");
        let _second = hub.register(admit(1)).expect("second");
        let refused = hub.register(admit(1)).err().expect("third of one user");
        assert_eq!(refused.code, 1008);
        assert!(refused.reason.contains("user"));
        let _other = hub.register(admit(2)).expect("another user, same address");
        let refused = hub
            .register(admit(3))
            .err()
            .expect("fourth from one address");
        assert!(refused.reason.contains("address"));
        hub.unregister(first.socket.socket);
        assert!(hub.register(admit(3)).is_ok(), "a place was freed");
        assert_eq!(hub.len(), 3);
    }
}
