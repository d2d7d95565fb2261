//! The chat service: send (filter, persist, then publish), history and unread.
//!
//! A message is acknowledged only after the store has it, so an acknowledged message
//! survives anything that happens to sockets, nodes or plugins afterwards.

use std::sync::{Arc, RwLock};

use crate::bus::{Bus, Event, SocketRef};
use crate::error::{Error, Result};
use crate::groups::{GroupId, GroupService};
use crate::messages::filter::Draft;
use crate::messages::{Conversation, FilterChain, Message, NewMessage};
use crate::presence::Presence;
use crate::store::{MessageStore, UserStore};
use crate::users::{now_millis, UserId};

/// How many messages one history request returns at most.
pub const HISTORY_PAGE: u32 = 10;

/// Why a send did not happen.
#[derive(Debug)]
pub enum SendError {
    /// A filter refused the message; the sender gets this code and reason.
    Rejected {
        /// Wire code.
        code: u32,
        /// Reason.
        reason: String,
    },
    /// Anything else.
    Failed(Error),
}

impl From<Error> for SendError {
    fn from(err: Error) -> Self {
        SendError::Failed(err)
    }
}

/// A stored message and what the sender is told.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The stored message.
    pub message: Message,
    /// Whether the private recipient is online (50004) or not (50005).
    pub recipient_online: bool,
}

/// The chat service.
#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn MessageStore>,
    users: Arc<dyn UserStore>,
    groups: GroupService,
    presence: Arc<dyn Presence>,
    bus: Arc<dyn Bus>,
    filters: Arc<RwLock<Arc<FilterChain>>>,
    max_chars: usize,
}

impl std::fmt::Debug for ChatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatService").finish_non_exhaustive()
    }
}

impl ChatService {
    /// Builds the service with an empty filter chain.
    pub fn new(
        store: Arc<dyn MessageStore>,
        users: Arc<dyn UserStore>,
        groups: GroupService,
        presence: Arc<dyn Presence>,
        bus: Arc<dyn Bus>,
        max_chars: usize,
    ) -> Self {
        Self {
            store,
            users,
            groups,
            presence,
            bus,
            filters: Arc::new(RwLock::new(Arc::new(FilterChain::default()))),
            max_chars,
        }
    }

    /// Replaces the filter chain; messages already being filtered finish with the old one.
    pub fn set_filters(&self, chain: FilterChain) {
        let mut slot = self
            .filters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Arc::new(chain);
    }

    /// The chain a new message runs through: one version from start to end.
    fn chain(&self) -> Arc<FilterChain> {
        self.filters
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The presence backend (for the online list of sockets).
    pub fn presence(&self) -> &Arc<dyn Presence> {
        &self.presence
    }

    /// The bus (for the socket hub).
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// Whether the user exists.
    pub async fn user_exists(&self, user: UserId) -> Result<bool> {
        Ok(self.users.user_by_id(user).await?.is_some())
    }

    /// Whether `user` is a member of `group`.
    pub async fn is_member(&self, group: GroupId, user: UserId) -> Result<bool> {
        self.groups.is_member(group, user).await
    }

    /// Sends a private message from `sender` to `to`.
    pub async fn send_direct(
        &self,
        sender: UserId,
        to: UserId,
        content: &str,
        client_id: Option<String>,
        origin: Option<SocketRef>,
    ) -> std::result::Result<Sent, SendError> {
        self.check_length(content)?;
        if to == sender {
            return Err(Error::invalid("you cannot send a message to yourself").into());
        }
        if !self.user_exists(to).await? {
            return Err(Error::UserNotFound.into());
        }
        let conversation = Conversation::direct(sender, to);
        let message = self
            .accept(
                sender,
                conversation,
                Some(to),
                content,
                client_id,
                |message| Event::Direct { message, origin },
            )
            .await?;
        // The message is stored: a failing online check must not turn its ack into an
        // error, so it then counts as offline.
        let recipient_online = self.presence.is_online(to).await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "checking whether a recipient is online failed");
            false
        });
        Ok(Sent {
            message,
            recipient_online,
        })
    }

    /// Sends a message to a group the sender belongs to.
    pub async fn send_group(
        &self,
        sender: UserId,
        group: GroupId,
        content: &str,
        client_id: Option<String>,
        origin: Option<SocketRef>,
    ) -> std::result::Result<Sent, SendError> {
        self.check_length(content)?;
        if !self.groups.is_member(group, sender).await? {
            return Err(Error::NoGroup("not a member of this group").into());
        }
        let conversation = Conversation::Group(group);
        let message = self
            .accept(sender, conversation, None, content, client_id, |message| {
                Event::Group { message, origin }
            })
            .await?;
        Ok(Sent {
            message,
            recipient_online: false,
        })
    }

    /// Filters, stores, then publishes (unless it was a resend of a stored message).
    async fn accept(
        &self,
        sender: UserId,
        conversation: Conversation,
        recipient: Option<UserId>,
        content: &str,
        client_id: Option<String>,
        event: impl FnOnce(Message) -> Event,
    ) -> std::result::Result<Message, SendError> {
        let sent_at = now_millis();
        let content = self.filter(sender, conversation, content, sent_at).await?;
        let appended = self
            .store
            .append(NewMessage {
                conversation,
                sender,
                recipient,
                content,
                client_id,
                sent_at,
                read: false,
            })
            .await?;
        if !appended.duplicate {
            self.publish(event(appended.message.clone())).await;
        }
        Ok(appended.message)
    }

    /// Up to a page of messages sent after `after_secs` (unix seconds), oldest first.
    pub async fn history_after(
        &self,
        conversation: Conversation,
        after_secs: i64,
    ) -> Result<Vec<Message>> {
        let after_ms = after_secs.saturating_mul(1000).saturating_add(999);
        self.store
            .after(&conversation, after_ms, HISTORY_PAGE)
            .await
    }

    /// Up to a page of messages older than message `before_id`, oldest first.
    pub async fn history_before(
        &self,
        conversation: Conversation,
        before_id: i64,
    ) -> Result<Vec<Message>> {
        self.store
            .before(&conversation, before_id, HISTORY_PAGE)
            .await
    }

    /// Every message from the oldest unread by `reader` on; they are then marked read.
    pub async fn take_unread(
        &self,
        conversation: Conversation,
        reader: UserId,
    ) -> Result<Vec<Message>> {
        let unread = self.store.unread(&conversation, reader).await?;
        if let Some(last) = unread.last() {
            self.store.mark_read(&conversation, reader, last.id).await?;
        }
        Ok(unread)
    }

    async fn publish(&self, event: Event) {
        // The message is stored and acknowledged whatever happens here: a failed publish
        // only costs live delivery, and the recipients find it in history.
        if let Err(err) = self.bus.publish(event).await {
            tracing::warn!(error = %err, "publishing to the bus failed; recipients will find the message in history");
        }
    }

    fn check_length(&self, content: &str) -> Result<()> {
        if content.is_empty() {
            return Err(Error::invalid("content is empty"));
        }
        if content.chars().count() > self.max_chars {
            return Err(Error::invalid(format!(
                "content is longer than {} characters",
                self.max_chars
            )));
        }
        Ok(())
    }

    async fn filter(
        &self,
        sender: UserId,
        conversation: Conversation,
        content: &str,
        sent_at: i64,
    ) -> std::result::Result<String, SendError> {
        let chain = self.chain();
        let draft = Draft {
            sender,
            conversation,
            content: content.to_owned(),
            sent_at,
        };
        let content = chain
            .run(draft)
            .await
            .map_err(|(code, reason)| SendError::Rejected { code, reason })?;
        if content.is_empty() || content.chars().count() > self.max_chars {
            return Err(SendError::Rejected {
                code: crate::error::Code::PluginRejected.number(),
                reason: "a filter produced an empty or too long message".to_owned(),
            });
        }
        Ok(content)
    }
}
