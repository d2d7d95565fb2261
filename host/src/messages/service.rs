//! The chat service: send (filter, persist, then publish), history and unread.
//!
//! A message is acknowledged only after the store has it, so an acknowledged message
//! survives anything that happens to sockets, nodes or plugins afterwards. Sending is two
//! steps, so a socket can read on while its earlier messages are being stored:
//! [`ChatService::submit_direct`] checks and filters the message and hands it to the
//! [`Writer`] (which fixes its place in the order), and the returned [`Pending`] resolves
//! once the writer's batch is durable.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::bus::{Bus, SocketRef};
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::groups::{GroupId, GroupService};
use crate::messages::filter::Draft;
use crate::messages::writer::{BatchLimits, Writer};
use crate::messages::{Conversation, FilterChain, Message, NewMessage};
use crate::plugins::hooks::SharedHooks;
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

/// A message handed to the writer; resolves to its acknowledgement once stored.
pub type Pending = Pin<Box<dyn Future<Output = std::result::Result<Sent, SendError>> + Send>>;

/// The chat service.
#[derive(Clone)]
pub struct ChatService {
    pub(super) store: Arc<dyn MessageStore>,
    writer: Writer,
    users: Arc<dyn UserStore>,
    pub(super) groups: GroupService,
    facts: Arc<Facts>,
    presence: Arc<dyn Presence>,
    pub(super) bus: Arc<dyn Bus>,
    /// Edits, recalls, hidings and reactions (none until [`ChatService::with_changes`]).
    changes: Option<Arc<dyn crate::store::changes::ChangeStore>>,
    /// How long after sending a sender may recall a message.
    pub(super) recall_window: std::time::Duration,
    /// The hooks snapshot, whose filter chain every message passes.
    hooks: SharedHooks,
    /// The blocks and mutes every message is checked against (none until
    /// [`ChatService::with_blocks`]).
    pub(super) blocks: Option<crate::blocks::BlockService>,
    /// Records the mentions of group messages (none until [`ChatService::with_mentions`]).
    mentions: Option<crate::conversations::Mentions>,
    max_chars: usize,
    /// How long a history or unread query may take.
    store_timeout: std::time::Duration,
}

impl std::fmt::Debug for ChatService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatService").finish_non_exhaustive()
    }
}

impl ChatService {
    /// Builds the service with a hooks snapshot of its own, empty until set (see
    /// [`ChatService::with_hooks`]), and starts the store's writer.
    pub fn new(
        store: Arc<dyn MessageStore>,
        users: Arc<dyn UserStore>,
        groups: GroupService,
        presence: Arc<dyn Presence>,
        bus: Arc<dyn Bus>,
        max_chars: usize,
        batch: BatchLimits,
    ) -> Self {
        let writer = Writer::start(store.clone(), bus.clone(), batch);
        let store_timeout = batch.store_timeout;
        let facts = groups.facts().clone();
        Self {
            store,
            writer,
            users,
            groups,
            facts,
            presence,
            bus,
            hooks: SharedHooks::default(),
            blocks: None,
            mentions: None,
            changes: None,
            recall_window: std::time::Duration::from_secs(120),
            max_chars,
            store_timeout,
        }
    }

    /// The service reading its filters from `hooks`, the snapshot the plugins swap.
    pub fn with_hooks(mut self, hooks: SharedHooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// The service changing stored messages (edits, recalls, hidings, reactions) in
    /// `changes`, the store beside its history.
    pub fn with_changes(mut self, changes: Arc<dyn crate::store::changes::ChangeStore>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// The store of message changes.
    pub(super) fn changes(&self) -> Result<&Arc<dyn crate::store::changes::ChangeStore>> {
        self.changes
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this chat service has no change store").into())
    }

    /// The service letting senders recall their messages for `window` after sending.
    pub fn with_recall_window(mut self, window: std::time::Duration) -> Self {
        self.recall_window = window;
        self
    }

    /// The service refusing messages between users who block each other, and from muted
    /// group members.
    pub fn with_blocks(mut self, blocks: crate::blocks::BlockService) -> Self {
        self.blocks = Some(blocks);
        self
    }

    /// The service recording and announcing the mentions of group messages.
    pub fn with_mentions(mut self, mentions: crate::conversations::Mentions) -> Self {
        self.mentions = Some(mentions);
        self
    }

    /// `pending` (a group send), which also records its mentions of `users` once the
    /// message is stored; as it was when mentions are not recorded.
    pub fn mentioning(&self, pending: Pending, users: Vec<UserId>) -> Pending {
        match &self.mentions {
            Some(mentions) => mentions.after_stored(pending, users),
            None => pending,
        }
    }

    /// Replaces the filter chain of the hooks; messages already being filtered finish
    /// with the old one.
    pub fn set_filters(&self, chain: FilterChain) {
        self.hooks.set_filters(chain);
    }

    /// The presence backend (for the online list of sockets).
    pub fn presence(&self) -> &Arc<dyn Presence> {
        &self.presence
    }

    /// The bus (for the socket hub).
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// The latency and size of the message writer's commits (for `/metrics`).
    pub fn store_stats(&self) -> &Arc<crate::metrics::StoreStats> {
        self.writer.stats()
    }

    /// Whether the user exists: from memory when known, else from the store.
    pub async fn user_exists(&self, user: UserId) -> Result<bool> {
        if self.facts.users.contains(&user) {
            return Ok(true);
        }
        let epoch = self.facts.users.epoch();
        let exists = self.users.user_by_id(user).await?.is_some();
        if exists {
            self.facts.users.remember(user, epoch);
        }
        Ok(exists)
    }

    /// Whether `user` is a member of `group`.
    pub async fn is_member(&self, group: GroupId, user: UserId) -> Result<bool> {
        self.groups.is_member(group, user).await
    }

    /// Sends a private message from `sender` to `to` and waits until it is stored.
    pub async fn send_direct(
        &self,
        sender: UserId,
        to: UserId,
        content: &str,
        client_id: Option<String>,
        reply_to: Option<i64>,
        origin: Option<SocketRef>,
    ) -> std::result::Result<Sent, SendError> {
        self.submit_direct(sender, to, content, client_id, reply_to, origin)
            .await?
            .await
    }

    /// Checks and filters a private message and hands it to the writer. Messages
    /// submitted one after another are stored in that order; the [`Pending`] resolves to
    /// the acknowledgement once the message is durable.
    pub async fn submit_direct(
        &self,
        sender: UserId,
        to: UserId,
        content: &str,
        client_id: Option<String>,
        reply_to: Option<i64>,
        origin: Option<SocketRef>,
    ) -> std::result::Result<Pending, SendError> {
        self.check_length(content)?;
        if to == sender {
            return Err(Error::invalid("you cannot send a message to yourself").into());
        }
        if !self.user_exists(to).await? {
            return Err(Error::UserNotFound.into());
        }
        if let Some(blocks) = &self.blocks {
            blocks.check_pair(sender, to).await?;
        }
        let conversation = Conversation::direct(sender, to);
        let commit = self
            .submit(sender, conversation, content, client_id, reply_to, origin)
            .await?;
        let presence = self.presence.clone();
        Ok(Box::pin(async move {
            let message = commit.stored().await?.message;
            // The message is stored: a failing online check must not turn its ack into
            // an error, so it then counts as offline.
            let recipient_online = presence.is_online(to).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "checking whether a recipient is online failed");
                false
            });
            Ok(Sent {
                message,
                recipient_online,
            })
        }))
    }

    /// Sends a message to a group the sender belongs to and waits until it is stored.
    pub async fn send_group(
        &self,
        sender: UserId,
        group: GroupId,
        content: &str,
        client_id: Option<String>,
        reply_to: Option<i64>,
        origin: Option<SocketRef>,
    ) -> std::result::Result<Sent, SendError> {
        self.submit_group(sender, group, content, client_id, reply_to, origin)
            .await?
            .await
    }

    /// [`ChatService::submit_direct`] for a group the sender belongs to.
    pub async fn submit_group(
        &self,
        sender: UserId,
        group: GroupId,
        content: &str,
        client_id: Option<String>,
        reply_to: Option<i64>,
        origin: Option<SocketRef>,
    ) -> std::result::Result<Pending, SendError> {
        self.check_length(content)?;
        if !self.groups.is_member(group, sender).await? {
            return Err(Error::NoGroup("not a member of this group").into());
        }
        if let Some(blocks) = &self.blocks {
            blocks.check_group(sender, group).await?;
        }
        let conversation = Conversation::Group(group);
        let commit = self
            .submit(sender, conversation, content, client_id, reply_to, origin)
            .await?;
        Ok(Box::pin(async move {
            Ok(Sent {
                message: commit.stored().await?.message,
                recipient_online: false,
            })
        }))
    }

    /// Filters, then hands the message to the writer, which stores and publishes it
    /// (unless it is a resend of a stored message).
    async fn submit(
        &self,
        sender: UserId,
        conversation: Conversation,
        content: &str,
        client_id: Option<String>,
        reply_to: Option<i64>,
        origin: Option<SocketRef>,
    ) -> std::result::Result<crate::messages::writer::Commit, SendError> {
        if let Some(quoted) = reply_to {
            // A reply quotes a message its sender can see, in the same conversation.
            let scope = crate::messages::changes::Scope::Conversation(conversation);
            self.visible(sender, scope, quoted)
                .await
                .map_err(|err| match err {
                    Error::NotFound(_) => {
                        Error::invalid("reply_to: no such message in this conversation")
                    }
                    other => other,
                })?;
        }
        let sent_at = now_millis();
        let content = self
            .filter(
                sender,
                conversation,
                content,
                sent_at,
                crate::messages::filter::DraftKind::Send,
            )
            .await?;
        let recipient = match conversation {
            Conversation::Direct(a, b) => Some(if a == sender { b } else { a }),
            Conversation::Group(_) => None,
        };
        let message = NewMessage {
            conversation,
            sender,
            recipient,
            content,
            client_id,
            sent_at,
            reply_to,
        };
        Ok(self.writer.submit(message, origin).await?)
    }

    /// Up to a page of messages sent after `after_secs` (unix seconds) that `viewer` may
    /// read, oldest first.
    pub async fn history_after(
        &self,
        conversation: Conversation,
        viewer: UserId,
        after_secs: i64,
    ) -> Result<Vec<Message>> {
        self.bounded(async {
            let floor = self.history_floor(conversation, viewer).await?;
            let after_ms = after_secs.saturating_mul(1000).saturating_add(999);
            self.store
                .after(&conversation, after_ms, floor, HISTORY_PAGE)
                .await
        })
        .await
    }

    /// Up to a page of messages older than message `before_id` that `viewer` may read,
    /// oldest first.
    pub async fn history_before(
        &self,
        conversation: Conversation,
        viewer: UserId,
        before_id: i64,
    ) -> Result<Vec<Message>> {
        self.bounded(async {
            let floor = self.history_floor(conversation, viewer).await?;
            self.store
                .before(&conversation, before_id, floor, HISTORY_PAGE)
                .await
        })
        .await
    }

    /// `query`, or [`Error::TimedOut`] if the store has not answered within the store
    /// timeout (a stalled database link must not hold a socket's answers forever).
    async fn bounded<T>(&self, query: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.store_timeout, query).await {
            Ok(answer) => answer,
            Err(_) => {
                tracing::error!(timeout = ?self.store_timeout, "a history or unread query timed out");
                Err(Error::TimedOut(
                    "the database did not answer in time: try again",
                ))
            }
        }
    }

    /// The message id above which `viewer` reads `conversation`: 0 in a private one (the
    /// viewer is one of its two), and in a group what its history visibility and the
    /// viewer's join point allow ([`Error::NoGroup`] for a non-member).
    async fn history_floor(&self, conversation: Conversation, viewer: UserId) -> Result<i64> {
        match conversation {
            Conversation::Direct(..) => Ok(0),
            Conversation::Group(group) => self.groups.history_floor(group, viewer).await,
        }
    }

    /// Up to `page` messages from the oldest unread by `reader` on, which are then marked
    /// read, and whether more remain after them. The conversation's sockets other than
    /// `origin` are told of the new read position.
    pub async fn take_unread(
        &self,
        conversation: Conversation,
        reader: UserId,
        page: u32,
        origin: Option<SocketRef>,
    ) -> Result<(Vec<Message>, bool)> {
        self.bounded(async {
            let floor = self.history_floor(conversation, reader).await?;
            // One more than the page says whether more remain, without counting them.
            let mut unread = self
                .store
                .unread(&conversation, reader, page.saturating_add(1))
                .await?;
            let more = unread.len() > page as usize;
            unread.truncate(page as usize);
            if let Some(last) = unread.last() {
                if self.store.mark_read(&conversation, reader, last.id).await? {
                    // The sender sees the receipt, the reader's other devices the change.
                    self.announce_read(conversation, reader, last.id, origin)
                        .await;
                }
            }
            // Marked read up to the page's end whatever is hidden, so the next page moves on.
            unread.retain(|m| m.id > floor);
            Ok((unread, more))
        })
        .await
    }

    pub(super) fn check_length(&self, content: &str) -> Result<()> {
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

    /// Runs `content` through the filter chain: the text to store, or why not. `kind` says
    /// whether it is a new message or an edit; the filters see it with the sender's
    /// relations to where it goes, worked out only when a filter of the chain reads them.
    pub(super) async fn filter(
        &self,
        sender: UserId,
        conversation: Conversation,
        content: &str,
        sent_at: i64,
        kind: crate::messages::filter::DraftKind,
    ) -> std::result::Result<String, SendError> {
        use crate::messages::filter::Relations;
        // Taken once: the message runs through one version of the chain from start to end.
        let hooks = self.hooks.load();
        let filters = hooks.filters();
        // Friend lists and roles are kept in memory (`Facts`): a look-up reads the store
        // only the first time a node needs that list or role, and after it changed.
        let relations = if filters.reads_context() {
            Some(match conversation {
                Conversation::Direct(low, high) => Relations {
                    friends: self.facts.friends.mutual(low, high).await?,
                    sender_role: None,
                },
                Conversation::Group(group) => Relations {
                    friends: false,
                    sender_role: self.groups.member_role(group, sender).await?,
                },
            })
        } else {
            None
        };
        let draft = Draft {
            sender,
            conversation,
            content: content.to_owned(),
            sent_at,
            kind,
            relations,
        };
        let content = filters
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
