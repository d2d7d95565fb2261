//! What the operator does to messages: removes one, whoever sent it.

use super::{Audience, Change};
use crate::bus::Event;
use crate::error::{Error, Result};
use crate::messages::{ChatService, Conversation, Message};
use crate::users::UserId;

/// Who removed a group message, in the 50011 frame's `from`, when the operator did.
pub const OPERATOR: UserId = 0;

impl ChatService {
    /// Removes message `id` for everyone, as a recall does (it is deleted with its
    /// reactions and leaves history and search), at any age and whoever sent it. The live
    /// sockets of its conversation get 50011 on every node. In a group its `from` is
    /// [`OPERATOR`]; in a private conversation it is the sender, because there `from` and
    /// `to` are what names the conversation for the clients. Returns the message as it was.
    pub async fn remove_as_operator(&self, id: i64) -> Result<Message> {
        const MISSING: Error = Error::NotFound("no message with this id");
        // A message acknowledged a moment ago may still be on its way to the database.
        self.store.settle().await?;
        let message = self.changes()?.message(id).await?.ok_or(MISSING)?;
        if !self.changes()?.recall(id).await? {
            return Err(MISSING);
        }
        let by = match message.conversation {
            Conversation::Group(_) => OPERATOR,
            Conversation::Direct(..) => message.sender,
        };
        let event = Event::Change {
            conversation: message.conversation,
            audience: Audience::Everyone,
            change: Change::Recalled { id, by },
            origin: None,
        };
        // The message is gone; a socket that misses the news sees it gone in history.
        if let Err(err) = self.bus.publish(event).await {
            tracing::warn!(error = %err, id, "announcing a removed message failed");
        }
        Ok(message)
    }
}
