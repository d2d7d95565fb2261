//! Storage traits, one per stored aggregate, and the choice of backend.
//!
//! Services hold `Arc<dyn …>` of these traits and never see SQL. Every backend passes the
//! same conformance suite (`conformance.rs`). [`connect`] is the only place that looks at
//! the database URL.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::DatabaseConfig;
use crate::error::Result;
use crate::friends::Friend;
use crate::groups::{Ban, Group, GroupId, HistoryVisibility, Member, NewGroup, Role};
use crate::messages::search::{Hit, SearchQuery};
use crate::messages::{Appended, Conversation, Message, NewMessage};
use crate::uploads::Quota;
use crate::users::{NewUser, ProfileChange, User, UserId};

pub mod backup;
pub mod blocks;
pub mod changes;
pub mod conversations;
pub mod counts;
pub mod journal;
pub mod moderation;
pub mod mongo;
mod sql;

#[cfg(any(test, feature = "conformance"))]
pub mod block_conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod change_conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod conversation_conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod message_conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod moderation_conformance;

pub use blocks::BlockStore;
pub use journal::{LogLimits, LoggedMessages};
pub use mongo::MongoMessages;
pub use sql::{Dialect, SqlStore};

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user. With `invite`, the key is consumed in the same transaction and
    /// [`crate::Error::InvalidInvite`] is returned if it is unknown or used. A taken name
    /// gives [`crate::Error::Conflict`].
    async fn create_user(&self, user: NewUser, invite: Option<&str>) -> Result<User>;
    /// The user with this id.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    /// The user with this name (case-insensitive).
    async fn user_by_name(&self, name: &str) -> Result<Option<User>>;
    /// The id of the user whose email has this blind index.
    async fn user_by_email_index(&self, index: &str) -> Result<Option<UserId>>;
    /// Applies the given changes; a taken email index gives [`crate::Error::Conflict`].
    async fn update_profile(&self, id: UserId, change: ProfileChange) -> Result<User>;
    /// Increments the token version, revoking every token issued before.
    async fn bump_token_version(&self, id: UserId) -> Result<()>;
    /// Deletes the user with their friendships, group memberships, refresh tokens,
    /// verification codes, blocks (both ways) and mutes. Returns false if there was no such
    /// user.
    async fn delete_user(&self, id: UserId) -> Result<bool>;
}

/// Live refresh-token ids (rotation: each is usable once).
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Remembers a newly issued refresh token.
    async fn save_refresh(&self, jti: &str, user: UserId, expires_at: i64) -> Result<()>;
    /// Forgets the token and reports whether it was live (for this user).
    async fn consume_refresh(&self, jti: &str, user: UserId) -> Result<bool>;
    /// Forgets every refresh token of the user.
    async fn revoke_all_refresh(&self, user: UserId) -> Result<()>;
    /// Forgets expired tokens; returns how many.
    async fn purge_expired_refresh(&self, now: i64) -> Result<u64>;
}

/// Single-use invite keys.
#[async_trait]
pub trait InviteStore: Send + Sync {
    /// Stores a new unused key.
    async fn create_invite(&self, key: &str, now: i64) -> Result<()>;
    /// Whether the key exists and is unused.
    async fn invite_usable(&self, key: &str) -> Result<bool>;
}

/// A pending email verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCode {
    /// The account it belongs to.
    pub user: UserId,
    /// Blind index of the address the code was sent to.
    pub email_index: String,
    /// Keyed digest of the code.
    pub code_digest: String,
    /// Unix seconds after which the code is void.
    pub expires_at: i64,
    /// Wrong attempts so far.
    pub attempts: u32,
    /// When it was sent, unix seconds.
    pub sent_at: i64,
}

/// Email verification codes, one pending code per account.
#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Stores `code` unless the account had a code sent after `not_after` (then returns
    /// false and keeps the old one). Atomic, so two concurrent requests send one code.
    async fn put_code(&self, code: &PendingCode, not_after: i64) -> Result<bool>;
    /// The account's pending code.
    async fn code_for(&self, user: UserId) -> Result<Option<PendingCode>>;
    /// The latest time a code went to this address for another account.
    async fn last_sent_to(&self, email_index: &str, except: UserId) -> Result<Option<i64>>;
    /// Counts a wrong attempt; returns the new count.
    async fn record_wrong_attempt(&self, user: UserId) -> Result<u32>;
    /// Removes the account's code (void).
    async fn delete_code(&self, user: UserId) -> Result<()>;
    /// Uses the account's code if its digest is `code_digest`: true for exactly one
    /// caller, however many try at once.
    async fn take_code(&self, user: UserId, code_digest: &str) -> Result<bool>;
}

/// A page of a list ordered by id: at most `limit` entries with ids after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The id the page starts after (0: from the start).
    pub after: i64,
    /// Most entries.
    pub limit: u32,
}

impl Page {
    /// The first `limit` entries.
    pub fn first(limit: u32) -> Self {
        Self { after: 0, limit }
    }
}

/// Friend lists.
#[async_trait]
pub trait FriendStore: Send + Sync {
    /// Adds `target` to `owner`'s list; [`crate::Error::FriendExists`] if already there.
    async fn add_friend(&self, owner: UserId, target: UserId, now: i64) -> Result<()>;
    /// A page of `owner`'s list with each friend's profile, oldest first: the entries
    /// whose id comes after `page.after`.
    async fn friends(&self, owner: UserId, page: Page) -> Result<Vec<Friend>>;
    /// Removes `target` from `owner`'s list; false if it was not there.
    async fn delete_friend(&self, owner: UserId, target: UserId) -> Result<bool>;
}

/// Groups and their members.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates a group with its owner as the first member.
    async fn create_group(&self, group: NewGroup) -> Result<Group>;
    /// The group with this id.
    async fn group(&self, id: GroupId) -> Result<Option<Group>>;
    /// A page of the groups owned by `user`, oldest first (ids after `page.after`).
    async fn groups_owned(&self, user: UserId, page: Page) -> Result<Vec<Group>>;
    /// A page of the groups `user` belongs to, owned ones included, oldest first (ids
    /// after `page.after`).
    async fn groups_joined(&self, user: UserId, page: Page) -> Result<Vec<Group>>;
    /// Members with their profiles, earliest-joined first.
    async fn members(&self, group: GroupId) -> Result<Vec<Member>>;
    /// A page of the members with their profiles, by user id (ids after `page.after`).
    async fn member_page(&self, group: GroupId, page: Page) -> Result<Vec<Member>>;
    /// `user`'s role in `group`, or `None` if not a member.
    async fn role_of(&self, group: GroupId, user: UserId) -> Result<Option<Role>>;
    /// Adds a plain member unless the group is full or the user is banned from it,
    /// atomically: concurrent joins never exceed the size, and a ban written before the
    /// join commits keeps the user out. `join_point` is the id of the group's newest message
    /// as they join (see [`GroupStore::join_point`]). Errors: [`crate::Error::GroupFull`],
    /// [`crate::Error::NoGroup`], [`crate::Error::AlreadyMember`], [`crate::Error::Banned`].
    async fn add_member(
        &self,
        group: GroupId,
        user: UserId,
        join_point: i64,
        now: i64,
    ) -> Result<()>;
    /// The id of the group's newest message when `user` joined (0 for the creator, and for
    /// memberships older than join points), or `None` if not a member.
    async fn join_point(&self, group: GroupId, user: UserId) -> Result<Option<i64>>;
    /// Sets what new members read of the earlier history; false if there is no such group.
    async fn set_history(
        &self,
        group: GroupId,
        history: HistoryVisibility,
        now: i64,
    ) -> Result<bool>;
    /// Removes a member who is not the owner; false if there was no such member.
    async fn remove_member(&self, group: GroupId, user: UserId, now: i64) -> Result<bool>;
    /// Removes a member who is not the owner and bans them from the group, atomically;
    /// false (and no ban) if there was no such member. `by` is who removed them.
    async fn ban_member(&self, group: GroupId, user: UserId, by: UserId, now: i64) -> Result<bool>;
    /// Whether `user` is banned from `group`.
    async fn is_banned(&self, group: GroupId, user: UserId) -> Result<bool>;
    /// The group's bans with the banned users' profiles, earliest first.
    async fn bans(&self, group: GroupId) -> Result<Vec<Ban>>;
    /// A page of the group's bans with the banned users' profiles, by user id (ids after
    /// `page.after`).
    async fn ban_page(&self, group: GroupId, page: Page) -> Result<Vec<Ban>>;
    /// Lifts a ban; false if there was none.
    async fn unban(&self, group: GroupId, user: UserId) -> Result<bool>;
    /// Sets a non-owner member's role; false if there was no such member.
    async fn set_role(&self, group: GroupId, user: UserId, role: Role, now: i64) -> Result<bool>;
    /// Makes `successor` the owner and removes `owner`, atomically; false (and no change)
    /// if `owner` no longer owns the group or `successor` is no longer a member.
    async fn hand_off(
        &self,
        group: GroupId,
        owner: UserId,
        successor: UserId,
        now: i64,
    ) -> Result<bool>;
    /// Dissolves the group, with its bans and mutes, if `owner` owns it and is its only member;
    /// false otherwise.
    async fn dissolve_if_alone(&self, group: GroupId, owner: UserId) -> Result<bool>;
    /// Dissolves the group, with its bans and mutes, whoever is in it.
    async fn dissolve(&self, group: GroupId) -> Result<()>;
}

/// What each user has uploaded, counted against the upload quotas.
#[async_trait]
pub trait UploadStore: Send + Sync {
    /// Counts `bytes` against `user`'s quotas unless that takes them past one, atomically:
    /// concurrent uploads never pass a quota together. `day` is today's number (days since
    /// 1970-01-01, UTC); the daily count starts again on a new day. Errors:
    /// [`crate::Error::QuotaExceeded`], naming the quota.
    async fn reserve_upload(&self, user: UserId, bytes: u64, day: i64, quota: Quota) -> Result<()>;
    /// Gives back what [`UploadStore::reserve_upload`] counted for a file that was not
    /// stored after all.
    async fn release_upload(&self, user: UserId, bytes: u64, day: i64) -> Result<()>;
    /// Remembers that the file stored as `stored_name` was uploaded by `user` under
    /// `file_name` (already cleaned, see `uploads::names`).
    async fn save_upload_name(
        &self,
        stored_name: &str,
        file_name: &str,
        user: UserId,
        now: i64,
    ) -> Result<()>;
    /// The name the file stored as `stored_name` was uploaded under, if one was saved.
    async fn upload_name(&self, stored_name: &str) -> Result<Option<String>>;
}

/// Message history.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a message and gives it the next server id. If the sender already stored a
    /// message with the same `client_id`, nothing is written and that message comes back
    /// with `duplicate` set.
    async fn append(&self, message: NewMessage) -> Result<Appended>;
    /// Stores a batch at once, in order, as [`MessageStore::append`] would one by one:
    /// ids increase in batch order, and a `client_id` already stored (or earlier in the
    /// same batch) comes back as a duplicate. All or nothing: on error nothing of the batch
    /// is stored, so every message in it can be refused and resent safely. The default
    /// appends one by one and is not atomic; the backends here override it with one
    /// transaction (SQL) or one ordered insert (MongoDB) per batch.
    async fn append_batch(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        let mut appended = Vec::with_capacity(batch.len());
        for message in batch {
            appended.push(self.append(message).await?);
        }
        Ok(appended)
    }
    /// Up to `limit` messages of the conversation sent after `after_ms` (unix
    /// milliseconds) with an id above `above_id` (a group member's join point; 0 for all),
    /// oldest first.
    async fn after(
        &self,
        conversation: &Conversation,
        after_ms: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// The `limit` newest messages with an id below `before_id` and above `above_id`,
    /// returned oldest first.
    async fn before(
        &self,
        conversation: &Conversation,
        before_id: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// Up to `limit` messages of the conversation from the oldest one unread by `reader`
    /// on, oldest first (empty when nothing is unread). Unread means sent to `reader`
    /// with an id above their read cursor (see [`MessageStore::mark_read`]); their own
    /// messages and group messages are never unread.
    async fn unread(
        &self,
        conversation: &Conversation,
        reader: UserId,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// Moves `reader`'s read cursor in the conversation forward to `up_to`: every message
    /// to them with an id up to it is read from then on, and [`Message::read`] says so.
    /// The cursor never moves back, so an `up_to` at or below it changes nothing. Returns
    /// whether the cursor moved. One cursor per reader rather than a flag per message,
    /// because what a reader has read is always a prefix of the conversation by id.
    async fn mark_read(
        &self,
        conversation: &Conversation,
        reader: UserId,
        up_to: i64,
    ) -> Result<bool>;
    /// Deletes messages sent before `cutoff_ms`; returns how many.
    async fn purge_before(&self, cutoff_ms: i64) -> Result<u64>;
    /// Waits until every message acknowledged before this call can be read from the
    /// database itself (the message log writes SQLite behind its acknowledgements). Stores
    /// other than this one (search, changes, conversation lists) read the same tables, so
    /// they call this first to read what their caller has been told is stored.
    async fn settle(&self) -> Result<()> {
        Ok(())
    }
}

/// Search of message text (see `messages::search` for what matches).
#[async_trait]
pub trait SearchStore: Send + Sync {
    /// Up to `query.limit` messages in `query.scope` that hold every term of the query,
    /// newest first, without those `query.viewer` deleted for themselves. Reads the
    /// database as it is: callers settle the message history first.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>>;
}

/// All stores of one deployment.
#[derive(Clone)]
pub struct Stores {
    /// Accounts.
    pub users: Arc<dyn UserStore>,
    /// Refresh tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Invite keys.
    pub invites: Arc<dyn InviteStore>,
    /// Verification codes.
    pub codes: Arc<dyn CodeStore>,
    /// Friend lists.
    pub friends: Arc<dyn FriendStore>,
    /// Groups.
    pub groups: Arc<dyn GroupStore>,
    /// Upload quotas.
    pub uploads: Arc<dyn UploadStore>,
    /// Blocks between users and mutes in groups.
    pub blocks: Arc<dyn BlockStore>,
    /// Message history.
    pub messages: Arc<dyn MessageStore>,
    /// Edits, recalls, hidings and reactions of stored messages.
    pub changes: Arc<dyn changes::ChangeStore>,
    /// How long users' lists are.
    pub counts: Arc<dyn counts::ListCounts>,
    /// Conversation lists and group mentions, beside the message history.
    pub conversations: Arc<dyn conversations::ConversationStore>,
    /// Search of message text, over the same history as `messages`.
    pub search: Arc<dyn SearchStore>,
    /// Plugins shared by the nodes of a cluster (used when the database can be shared).
    pub plugins: Arc<dyn crate::plugins::PluginStore>,
    /// Accounts as the operator finds them, and their status.
    pub moderation: Arc<dyn moderation::ModerationStore>,
    /// The operator's audit log.
    pub audit: Arc<dyn moderation::AuditStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// Every store backed by one SQL database.
    pub fn from_sql(store: SqlStore) -> Self {
        let store = Arc::new(store);
        Self {
            users: store.clone(),
            tokens: store.clone(),
            invites: store.clone(),
            codes: store.clone(),
            friends: store.clone(),
            groups: store.clone(),
            uploads: store.clone(),
            blocks: store.clone(),
            plugins: store.clone(),
            moderation: store.clone(),
            audit: store.clone(),
            changes: store.clone(),
            counts: store.clone(),
            conversations: store.clone(),
            search: Arc::new(sql::SqlSearch::new(store.as_ref().clone())),
            messages: store,
        }
    }
}

/// Connects to the configured database (SQLite in `data_dir` by default) and applies the
/// migrations.
pub async fn connect(config: &DatabaseConfig, data_dir: &Path) -> anyhow::Result<Stores> {
    let store = SqlStore::connect(config, data_dir).await?;
    store.migrate().await?;
    Ok(Stores::from_sql(store))
}

/// The folder of the message log in the data folder.
pub fn message_log_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("message-log")
}

/// Connects as [`connect`] does for the process that serves clients: on SQLite, message
/// history goes through the message log (`database.message_log`), which only one process
/// may hold. With the log turned off, what an earlier run left in it is written to SQLite
/// first.
pub async fn connect_serving(config: &DatabaseConfig, data_dir: &Path) -> anyhow::Result<Stores> {
    let store = SqlStore::connect(config, data_dir).await?;
    store.migrate().await?;
    let mut stores = Stores::from_sql(store.clone());
    if store.dialect() == Dialect::Sqlite {
        store.index_search_in_background();
        let dir = message_log_dir(data_dir);
        if config.message_log {
            let log = LoggedMessages::open(Arc::new(store), &dir, LogLimits::default()).await?;
            stores.messages = Arc::new(log);
        } else {
            journal::replay_if_present(&store, &dir).await?;
        }
    }
    Ok(stores)
}
