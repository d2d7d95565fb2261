//! What a conversation list reads of the message history: each conversation's newest
//! message, how much of it the reader has not read, and the mentions of group members.
//!
//! Nothing here is written when a message is sent: the newest message of a conversation
//! is found at read time through the `(conv, id)` index, once per conversation of the
//! reader, and unread counts start from the reader's read cursor. Mentions are the one
//! exception, a row per mentioned member, because nothing else records them. Callers wait
//! for [`crate::store::MessageStore::settle`] first, so an acknowledged message is seen.

use async_trait::async_trait;

use crate::error::Result;
use crate::groups::GroupId;
use crate::messages::Conversation;
use crate::users::UserId;

/// The part of a conversation one reader may read: the messages with an id above `floor`
/// (0 in a private conversation; a group member's history floor in a group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readable {
    /// The conversation.
    pub conversation: Conversation,
    /// The id above which the reader reads it.
    pub floor: i64,
}

/// A conversation's newest message, as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastMessage {
    /// Server id.
    pub id: i64,
    /// Who sent it.
    pub sender: UserId,
    /// Its text as it is now.
    pub content: String,
    /// Server time, unix milliseconds.
    pub sent_at: i64,
}

/// One conversation as one reader's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The newest message the reader may read, if there is one.
    pub last: Option<LastMessage>,
    /// Messages from others above the reader's read cursor and floor, counted up to a cap.
    pub unread: u32,
    /// The reader's mentions in a group above their read cursor and floor, counted up to a
    /// cap (always 0 in a private conversation).
    pub mentions: u32,
}

/// Conversation lists and group mentions, kept beside the message history.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The id of the newest message of each conversation above its floor, in the order
    /// given; 0 for a conversation with none.
    async fn newest(&self, conversations: &[Readable]) -> Result<Vec<i64>>;
    /// For each conversation, with the newest id [`ConversationStore::newest`] found for
    /// it, what `reader`'s list shows: that message (`None` when the id is 0 or the message
    /// is gone), and the unread messages and mentions, each counted up to `cap`. Unread
    /// are the messages from others with an id above both the reader's read cursor of the
    /// conversation and its floor; mentions likewise, of messages still stored.
    async fn summaries(
        &self,
        reader: UserId,
        conversations: &[(Readable, i64)],
        cap: u32,
    ) -> Result<Vec<Summary>>;
    /// Records that message `message` of `group` mentions each of `users`, and returns
    /// those not recorded before, in the order given: a resent message records nothing
    /// new.
    async fn add_mentions(
        &self,
        group: GroupId,
        message: i64,
        users: &[UserId],
    ) -> Result<Vec<UserId>>;
}
