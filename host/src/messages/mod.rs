//! Chat messages: conversations, the message-filter seam, sending and reading history.
//!
//! A message is filtered, then persisted (getting its server id and time), and only then
//! acknowledged and delivered; nothing here knows WebSockets, SQL or Redis.

use serde::{Deserialize, Serialize};

use crate::groups::GroupId;
use crate::users::UserId;

pub mod changes;
pub mod filter;
pub mod search;
pub mod service;
pub mod writer;

pub use filter::{FilterChain, MessageFilter, Verdict};
pub use service::ChatService;
pub use writer::{BatchLimits, Writer};

/// Which conversation a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Conversation {
    /// Two users; the smaller id first, so both sides name it the same way.
    Direct(UserId, UserId),
    /// A group.
    Group(GroupId),
}

impl Conversation {
    /// The private conversation of `a` and `b`, in either order.
    pub fn direct(a: UserId, b: UserId) -> Self {
        Conversation::Direct(a.min(b), a.max(b))
    }

    /// The stored key: `d:<low>:<high>` or `g:<group>`.
    pub fn key(&self) -> String {
        match self {
            Conversation::Direct(a, b) => format!("d:{a}:{b}"),
            Conversation::Group(g) => format!("g:{g}"),
        }
    }

    /// The inverse of [`Conversation::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        if let Some(rest) = key.strip_prefix("d:") {
            let (a, b) = rest.split_once(':')?;
            Some(Conversation::Direct(a.parse().ok()?, b.parse().ok()?))
        } else if let Some(group) = key.strip_prefix("g:") {
            Some(Conversation::Group(group.parse().ok()?))
        } else {
            None
        }
    }
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Its conversation.
    pub conversation: Conversation,
    /// Who sent it.
    pub sender: UserId,
    /// The receiver of a private message; `None` in a group.
    pub recipient: Option<UserId>,
    /// The text (after filters).
    pub content: String,
    /// The client's own id for de-duplication.
    pub client_id: Option<String>,
    /// Server time, unix milliseconds.
    pub sent_at: i64,
    /// The message of the same conversation this one quotes.
    pub reply_to: Option<i64>,
}

impl NewMessage {
    /// The message as stored under server id `id`, not yet read.
    pub fn stored_as(self, id: i64) -> Message {
        Message {
            id,
            conversation: self.conversation,
            sender: self.sender,
            recipient: self.recipient,
            content: self.content,
            client_id: self.client_id,
            sent_at: self.sent_at,
            read: false,
            reply_to: self.reply_to,
            edited_at: None,
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Server id: increasing, so it orders every conversation.
    pub id: i64,
    /// Its conversation.
    pub conversation: Conversation,
    /// Who sent it.
    pub sender: UserId,
    /// The receiver of a private message.
    pub recipient: Option<UserId>,
    /// The text.
    pub content: String,
    /// The client's own id, if it gave one.
    pub client_id: Option<String>,
    /// Server time, unix milliseconds.
    pub sent_at: i64,
    /// Whether the receiver has read it: its id is at most their read cursor in the
    /// conversation (private messages; always false in a group).
    pub read: bool,
    /// The message of the same conversation this one quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    /// When its text was last edited, unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
}

/// The result of storing a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stored message (the earlier one, for a duplicate).
    pub message: Message,
    /// True when the sender's `client_id` was already stored: nothing new was written.
    pub duplicate: bool,
}
