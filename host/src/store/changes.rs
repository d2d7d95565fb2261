//! What happens to messages after they are sent: edits, recalls, messages hidden by one
//! user ("delete for me"), reactions, and who has read how far.
//!
//! Edits and recalls change the message itself (a recalled message is deleted, with its
//! reactions, so neither history nor search can return it); hiding and reactions are rows
//! beside it. Callers wait for [`crate::store::MessageStore::settle`] first, so a message
//! just acknowledged is there to change.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::error::Result;
use crate::messages::{Conversation, Message};
use crate::users::UserId;

/// One user's reaction to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// The message.
    pub message: i64,
    /// Who reacted.
    pub user: UserId,
    /// With what.
    pub emoji: String,
}

/// Changes to stored messages.
#[async_trait]
pub trait ChangeStore: Send + Sync {
    /// The message with this id, if it is stored (its `read` flag is not set).
    async fn message(&self, id: i64) -> Result<Option<Message>>;
    /// Replaces a message's text and notes when; false when the message is gone.
    async fn edit(&self, id: i64, content: &str, at_ms: i64) -> Result<bool>;
    /// Deletes a message for everyone, with its reactions and hidings; false when it was
    /// gone already.
    async fn recall(&self, id: i64) -> Result<bool>;
    /// Hides a message from one user only; false when it was hidden already.
    async fn hide(&self, user: UserId, id: i64) -> Result<bool>;
    /// Which of these messages `user` has hidden.
    async fn hidden(&self, user: UserId, ids: &[i64]) -> Result<HashSet<i64>>;
    /// Adds (`on`) or takes back a reaction; false when that changed nothing.
    async fn react(&self, reaction: &Reaction, on: bool, at_ms: i64) -> Result<bool>;
    /// Every reaction to these messages, in the order they were made.
    async fn reactions(&self, ids: &[i64]) -> Result<Vec<Reaction>>;
    /// The read cursors of a conversation: each reader and the newest id they have read.
    async fn cursors(&self, conversation: &Conversation) -> Result<Vec<(UserId, i64)>>;
}
