//! Delivery between server nodes: every node publishes what its sockets must pass on and
//! hears what every node published, its own included.
//!
//! The embedded default is in-process ([`LocalBus`]); several nodes share a Redis bus
//! (`bus::redis`). Nodes then deliver to their own sockets only.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::Result;
use crate::groups::GroupId;
use crate::messages::Message;
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
}

/// The in-process bus of a single node.
#[derive(Debug, Clone)]
pub struct LocalBus {
    tx: broadcast::Sender<Event>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BUS_CAPACITY).0,
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, event: Event) -> Result<()> {
        // No receiver just means no socket is open yet.
        let _ = self.tx.send(event);
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
