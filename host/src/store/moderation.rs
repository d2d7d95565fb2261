//! What the operator's moderation needs stored: accounts found by name, id or email and
//! their status (a ban), and the audit log of every operator action.

use async_trait::async_trait;

use crate::error::Result;
use crate::store::Page;
use crate::users::{User, UserId};

/// Which accounts an operator's search finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserQuery {
    /// Every account.
    All,
    /// Accounts whose name starts with `prefix` (without regard to case), and the account
    /// whose id is `id`, if given.
    Name {
        /// The start of the name, lower-cased.
        prefix: String,
        /// An id to match as well (the query was a number).
        id: Option<UserId>,
    },
    /// The account whose email has this blind index.
    EmailIndex(String),
}

/// Accounts as the operator sees them.
#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// A page of the accounts `query` finds, by id (ids after `page.after`).
    async fn find_users(&self, query: &UserQuery, page: Page) -> Result<Vec<User>>;
    /// Sets an account's status (`active`, `banned`); false if there is no such account.
    async fn set_status(&self, user: UserId, status: &str, now: i64) -> Result<bool>;
}

/// One recorded operator action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Its id: entries are numbered in the order they were written.
    pub id: i64,
    /// When, unix milliseconds.
    pub at: i64,
    /// What was done, such as `user.ban` (see `audit`).
    pub action: String,
    /// What it was done to, such as `user:42`.
    pub target: String,
    /// The name the operator gave (`X-Operator`), or empty.
    pub actor: String,
    /// The client address the request came from.
    pub address: String,
    /// A JSON object with what else is worth keeping.
    pub details: String,
}

/// The audit log: appended to, read newest first, never changed.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry (its `id` is ignored and assigned).
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Up to `limit` entries with ids below `before`, newest first.
    async fn audit_before(&self, before: i64, limit: u32) -> Result<Vec<AuditEntry>>;
}
