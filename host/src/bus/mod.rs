//! Delivery between server nodes: every node publishes what its sockets must pass on and
//! hears what every node published, its own included.
//!
//! The embedded default is in-process ([`LocalBus`]); several nodes share a Redis bus
//! (`bus::redis`). Nodes then deliver to their own sockets only.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::Result;
use crate::groups::GroupId;
use crate::messages::Message;
use crate::metrics::BusStats;
use crate::users::UserId;

pub mod redis;

pub use self::redis::RedisBus;

/// How many events a node may fall behind before it is told it lagged.
pub const BUS_CAPACITY: usize = 65_536;

/// What travels between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A stored private message: for the recipient's sockets and the sender's other ones.
    Direct {
        /// The message.
        message: Message,
        /// The socket it came from, which gets an ack instead.
        origin: Option<SocketRef>,
    },
    /// A stored group message: for every member's group sockets but the origin.
    Group {
        /// The message.
        message: Message,
        /// The socket it came from.
        origin: Option<SocketRef>,
    },
    /// Something happened to a conversation that its live sockets are told of: a message
    /// edited, recalled, hidden or reacted to, a read position, a delivery, typing.
    Change {
        /// The conversation.
        conversation: crate::messages::Conversation,
        /// Which of its sockets hear it.
        audience: crate::messages::changes::Audience,
        /// What happened.
        change: crate::messages::changes::Change,
        /// The socket the change came from, which gets an answer instead.
        origin: Option<SocketRef>,
    },
    /// A stored group message mentions `users`: a notice for their inboxes, unless they
    /// are looking at the group (see `conversations::mentions`).
    Mentioned {
        /// The group, the message and its sender.
        mention: crate::conversations::Mention,
        /// The members mentioned, at most `conversations::MAX_MENTIONS`.
        users: Vec<UserId>,
    },
    /// `user` signed out everywhere or deleted the account: close all their sockets.
    Revoked {
        /// The user.
        user: UserId,
    },
    /// `user` is no longer a member of `group`: close their sockets for it at once.
    Removed {
        /// The group.
        group: GroupId,
        /// The user.
        user: UserId,
    },
    /// `user`'s block list changed: every node forgets the copy it keeps (see `blocks`).
    BlocksChanged {
        /// The user who blocked or unblocked someone.
        user: UserId,
    },
    /// `group`'s mutes changed: every node forgets the copy it keeps (see `blocks`).
    MutesChanged {
        /// The group.
        group: GroupId,
    },
    /// `user`'s friend list changed: every node forgets the copy it keeps (see
    /// `friendships`).
    FriendsChanged {
        /// The owner of the list.
        user: UserId,
    },
    /// `user`'s role in `group` changed: every node forgets the role it keeps.
    RoleChanged {
        /// The group.
        group: GroupId,
        /// The member.
        user: UserId,
    },
    /// A plugin changed in the shared database: every node's plugin registry loads the
    /// newest revision. For the registry only, never for sockets.
    Plugin {
        /// The plugin's name.
        name: String,
        /// Its new revision.
        revision: i64,
    },
    /// This node may have missed events (its bus connection came back after the bus lost
    /// data): its sockets close with 1013 so their clients read history, and cached facts
    /// are dropped. Raised by a node for itself, never sent to others.
    Resync,
}

/// A socket somewhere in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SocketRef {
    /// The node's random id.
    pub node: u64,
    /// The socket's id on that node.
    pub socket: u64,
}

/// Publishes events to every node and hears them.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Sends an event to every node, this one included.
    async fn publish(&self, event: Event) -> Result<()>;
    /// A receiver of every event published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Event>;
    /// What this node published and how late it heard others, when the bus counts.
    fn stats(&self) -> Option<Arc<BusStats>> {
        None
    }
}

/// The in-process bus of a single node.
#[derive(Debug, Clone)]
pub struct LocalBus {
    tx: broadcast::Sender<Event>,
    stats: Arc<BusStats>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BUS_CAPACITY).0,
            stats: Arc::default(),
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, event: Event) -> Result<()> {
        self.stats.published();
        // No receiver just means no socket is open yet.
        let _ = self.tx.send(event);
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    fn stats(&self) -> Option<Arc<BusStats>> {
        Some(self.stats.clone())
    }
}

#[cfg(any(test, feature = "conformance"))]
pub mod conformance {
    //! The bus conformance suite; every backend passes it.

    use std::time::Duration;

    use super::{Bus, Event, SocketRef};
    use crate::messages::{Conversation, Message};

    fn message(id: i64) -> Message {
        Message {
            id,
            conversation: Conversation::direct(1, 2),
            sender: 1,
            recipient: Some(2),
            content: format!("m{id} 你好"),
            client_id: Some(format!("c{id}")),
            sent_at: 1_700_000_000_000 + id,
            read: false,
            reply_to: None,
            edited_at: None,
        }
    }

    /// Runs every check. `a` and `b` are two nodes of one bus (for a single-node bus,
    /// the same bus twice).
    pub async fn run(a: &dyn Bus, b: &dyn Bus) {
        let mut on_a = a.subscribe();
        let mut on_b = b.subscribe();
        let events = vec![
            Event::Direct {
                message: message(1),
                origin: Some(SocketRef { node: 7, socket: 9 }),
            },
            Event::Group {
                message: Message {
                    conversation: Conversation::Group(5),
                    recipient: None,
                    ..message(2)
                },
                origin: None,
            },
            Event::Removed { group: 5, user: 3 },
            Event::Revoked { user: 4 },
            Event::Mentioned {
                mention: crate::conversations::Mention {
                    group: 5,
                    message: 2,
                    sender: 1,
                },
                users: vec![3, 4],
            },
            Event::BlocksChanged { user: 6 },
            Event::MutesChanged { group: 5 },
            Event::FriendsChanged { user: 6 },
            Event::RoleChanged { group: 5, user: 3 },
            Event::Plugin {
                name: "word-filter".to_owned(),
                revision: 7,
            },
        ];
        for event in &events {
            a.publish(event.clone()).await.expect("publish");
        }
        // A burst keeps its order.
        for id in 10..110 {
            b.publish(Event::Direct {
                message: message(id),
                origin: None,
            })
            .await
            .expect("publish burst");
        }
        // Each node hears every event; what one node published arrives in the order it
        // was published (a node hears its own at once, others' a moment later, so the two
        // streams may interleave).
        let burst: Vec<i64> = (10..110).collect();
        for rx in [&mut on_a, &mut on_b] {
            let mut from_a = Vec::new();
            let mut from_b = Vec::new();
            while from_a.len() < events.len() || from_b.len() < burst.len() {
                let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .expect("in time")
                    .expect("received");
                match &got {
                    Event::Direct { message, .. } if message.id >= 10 => from_b.push(message.id),
                    _ => from_a.push(got),
                }
            }
            assert_eq!(from_a, events);
            assert_eq!(from_b, burst);
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_local_bus_passes_the_suite() {
        let bus = super::LocalBus::default();
        super::conformance::run(&bus, &bus).await;
    }
}
