//! The audit log of operator actions: what was done, to what, by whom and when.
//!
//! The admin token names nobody, so "by whom" is what the request can tell: the name the
//! operator gives (the `X-Operator` header, `confab admin --as NAME`), which is their own
//! word, and the client address, which is not. Entries are written after the action
//! succeeds; an action that fails changes nothing and is not recorded. A failure to write
//! the entry is logged and does not undo the action, which has already happened.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::error::Result;
use crate::store::moderation::{AuditEntry, AuditStore};
use crate::users::now_millis;

/// Longest `details` kept, in characters of JSON text; longer ones are cut (see
/// [`clip_details`]).
pub const MAX_DETAILS_CHARS: usize = 3000;

/// What an operator did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST /admin/users/{id}/ban`.
    UserBan,
    /// `POST /admin/users/{id}/unban`.
    UserUnban,
    /// `DELETE /admin/users/{id}`.
    UserDelete,
    /// `DELETE /admin/groups/{id}`.
    GroupDissolve,
    /// `DELETE /admin/messages/{id}`.
    MessageRemove,
    /// `POST /admin/plugins`, `PUT /admin/plugins/{name}`.
    PluginInstall,
    /// `DELETE /admin/plugins/{name}`.
    PluginRemove,
    /// `POST /admin/plugins/{name}/enable`.
    PluginEnable,
    /// `POST /admin/plugins/{name}/disable`.
    PluginDisable,
    /// `POST /admin/plugins/{name}/reload`.
    PluginReload,
    /// `PUT /admin/plugins/{name}/config`.
    PluginConfig,
    /// `POST /admin/invites`.
    InvitesIssue,
    /// `POST /admin/backup`.
    Backup,
}

impl Action {
    /// The name in the log (`user.ban`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::UserBan => "user.ban",
            Action::UserUnban => "user.unban",
            Action::UserDelete => "user.delete",
            Action::GroupDissolve => "group.dissolve",
            Action::MessageRemove => "message.remove",
            Action::PluginInstall => "plugin.install",
            Action::PluginRemove => "plugin.remove",
            Action::PluginEnable => "plugin.enable",
            Action::PluginDisable => "plugin.disable",
            Action::PluginReload => "plugin.reload",
            Action::PluginConfig => "plugin.config",
            Action::InvitesIssue => "invites.issue",
            Action::Backup => "backup",
        }
    }
}

/// Who acted, as far as the request tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The name the operator gave, or empty.
    pub name: String,
    /// The client address of the request.
    pub address: String,
}

/// An entry as the operator API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditView {
    /// Its id, the cursor of the next page.
    pub id: i64,
    /// When, unix milliseconds.
    pub at: i64,
    /// What was done (`user.ban`...).
    pub action: String,
    /// What it was done to (`user:42`, `group:7`, `message:991`, `plugin:word-filter`,
    /// `invites`).
    pub target: String,
    /// The name the operator gave, or "".
    pub actor: String,
    /// The client address of the request.
    pub address: String,
    /// What else was kept: a JSON object.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<AuditEntry> for AuditView {
    fn from(entry: AuditEntry) -> Self {
        AuditView {
            id: entry.id,
            at: entry.at,
            action: entry.action,
            target: entry.target,
            actor: entry.actor,
            address: entry.address,
            // Written by `record` as JSON; anything else is shown as the text it is.
            details: serde_json::from_str(&entry.details).unwrap_or(Value::String(entry.details)),
        }
    }
}

/// The audit log.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn AuditStore>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// The log kept in `store`.
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Self { store }
    }

    /// Records that `actor` did `action` to `target`. Never fails: the action is done, so
    /// a log that cannot be written is reported in the server's log instead.
    pub async fn record(&self, actor: &Actor, action: Action, target: &str, details: Value) {
        tracing::info!(
            action = action.as_str(),
            target,
            actor = actor.name.as_str(),
            address = actor.address.as_str(),
            "operator action"
        );
        let entry = AuditEntry {
            id: 0,
            at: now_millis(),
            action: action.as_str().to_owned(),
            target: target.to_owned(),
            actor: actor.name.clone(),
            address: actor.address.clone(),
            details: clip_details(&details),
        };
        if let Err(err) = self.store.append_audit(&entry).await {
            tracing::error!(
                error = %err,
                action = action.as_str(),
                target,
                "the audit log could not be written; the action was done"
            );
        }
    }

    /// Up to `limit` entries older than entry `before` (all when `None`), newest first.
    pub async fn page(&self, before: Option<i64>, limit: u32) -> Result<Vec<AuditView>> {
        let entries = self
            .store
            .audit_before(before.unwrap_or(i64::MAX), limit)
            .await?;
        Ok(entries.into_iter().map(AuditView::from).collect())
    }
}

/// `details` as JSON text of at most [`MAX_DETAILS_CHARS`] characters: longer text (a large
/// plugin configuration) is kept as `{"truncated": "<its start>"}`.
pub fn clip_details(details: &Value) -> String {
    let text = details.to_string();
    if text.chars().count() <= MAX_DETAILS_CHARS {
        return text;
    }
    // Quoting the text again escapes its quotes and backslashes, which may lengthen it:
    // keep less until it fits.
    let mut keep = MAX_DETAILS_CHARS - 100;
    loop {
        let start: String = text.chars().take(keep).collect();
        let clipped = serde_json::json!({ "truncated": start }).to_string();
        if keep == 0 || clipped.chars().count() <= MAX_DETAILS_CHARS {
            return clipped;
        }
        keep /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_details_are_cut_to_fit() {
        let small = json!({"reason": "spam"});
        assert_eq!(clip_details(&small), r#"{"reason":"spam"}"#);
        let big = json!({ "config": "☃".repeat(10_000) });
        let clipped = clip_details(&big);
        assert!(
            clipped.chars().count() <= MAX_DETAILS_CHARS,
            "{}",
            clipped.len()
        );
        let back: Value = serde_json::from_str(&clipped).expect("still JSON");
        assert!(back["truncated"]
            .as_str()
            .expect("the start")
            .starts_with(r#"{"config":"☃☃"#));
        let quotes = json!({ "config": "\"".repeat(10_000) });
        assert!(clip_details(&quotes).chars().count() <= MAX_DETAILS_CHARS);
    }

    #[test]
    fn stored_text_that_is_not_json_is_shown_as_text() {
        let view = AuditView::from(AuditEntry {
            id: 1,
            at: 2,
            action: "user.ban".to_owned(),
            target: "user:3".to_owned(),
            actor: String::new(),
            address: "::1".to_owned(),
            details: "not json".to_owned(),
        });
        assert_eq!(view.details, json!("not json"));
    }
}
