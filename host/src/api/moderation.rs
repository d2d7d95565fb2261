//! The operator's moderation routes, behind the admin token: finding users, banning,
//! unbanning and deleting them, dissolving groups, removing messages, and reading the
//! audit log that records every operator action.
//!
//! Ids in paths are positive whole numbers (400 otherwise); an id nothing has is 404 with
//! code 30021, as for plugins. Every change may carry a `reason`, kept in the audit log.

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::Response;
use serde_json::{json, Value};

use crate::api::admin::Admin;
use crate::api::envelope::ok;
use crate::api::openapi::schemas::Envelope;
use crate::api::operator::{Operator, OperatorHeader};
use crate::api::paging::with_next;
use crate::api::params::Params;
use crate::api::AppState;
use crate::audit::{Action, AuditLog, AuditView};
use crate::error::{Error, Result};
use crate::messages::Conversation;
use crate::store::Page;
use crate::users::moderation::AccountView;
use crate::users::UserService;

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    find_users,
    show_user,
    ban,
    unban,
    delete_user,
    dissolve_group,
    remove_message,
    audit
))]
pub(super) struct Api;

/// A dissolved group, as it was.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct DissolvedGroup {
    /// Its id.
    id: i64,
    /// Its name.
    name: String,
    /// Its owner's id.
    owner: i64,
    /// How many members it had.
    members: u64,
}

/// A removed message: who sent it and where, not its text.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct RemovedMessage {
    /// Its id.
    id: i64,
    /// Who sent it.
    sender: i64,
    /// The receiver of a private message; null for a group's.
    recipient: Option<i64>,
    /// The group of a group message; null for a private one.
    group_id: Option<i64>,
    /// When it was sent, unix milliseconds.
    sent_at: i64,
}

/// Users listed when the request names no `limit`.
const DEFAULT_USERS: i64 = 100;
/// The most users one request may list.
const MAX_USERS: i64 = 1000;
/// Audit entries listed when the request names no `limit`.
const DEFAULT_AUDIT: i64 = 100;
/// The most audit entries one request may list.
const MAX_AUDIT: i64 = 500;
/// Longest `reason`, in characters.
const MAX_REASON_CHARS: usize = 500;

/// The response header with the cursor of the next (older) page of the audit log.
const NEXT_BEFORE: &str = "x-next-before";

/// An id from the path: a positive whole number.
fn path_id(what: &str, text: &str) -> Result<i64> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(Error::invalid(format!(
            "the {what} id in the path must be a positive whole number, not {text:?}"
        ))),
    }
}

/// `limit` between 1 and `max` (`default` when absent).
fn limit(params: &Params, default: i64, max: i64) -> Result<u32> {
    let limit = params.int(&["limit"])?.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(Error::invalid(format!(
            "limit must be between 1 and {max}, not {limit}"
        )));
    }
    Ok(u32::try_from(limit).expect("limit was checked to be small and positive"))
}

/// The optional `reason` of a change, for the audit log.
fn reason(params: &Params) -> Result<Value> {
    let reason = params.text(&["reason"])?.unwrap_or_default();
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::invalid(format!(
            "reason must be at most {MAX_REASON_CHARS} characters long"
        )));
    }
    Ok(if reason.is_empty() {
        Value::Null
    } else {
        Value::from(reason)
    })
}

/// `GET /admin/users?q=&limit=&after=`: accounts by name prefix, id or exact email, by id;
/// `X-Next-After` carries the cursor when more remain.
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "operators",
    summary = "Find accounts",
    security(("admin" = [])),
    params(
        ("q" = Option<String>, Query, description = "A name prefix (any case) or an id; with an `@`, an exact email address; empty or absent: every account"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Accounts per page (default 100)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `X-Next-After` of the page before (default 0: the start)"),
    ),
    responses((
        status = 200,
        description = "The accounts found, by id",
        body = Envelope<Vec<AccountView>>,
        headers(("x-next-after" = i64, description = "Present when more accounts remain: the `after` of the next page")),
    )),
)]
pub(super) async fn find_users(
    State(users): State<UserService>,
    _admin: Admin,
    params: Params,
) -> Result<Response> {
    let limit = limit(&params, DEFAULT_USERS, MAX_USERS)?;
    let after = match params.int(&["after"])? {
        None => 0,
        Some(n) if n >= 0 => n,
        Some(n) => return Err(Error::invalid(format!("after must be 0 or more, not {n}"))),
    };
    let query = params.text(&["q"])?.unwrap_or_default();
    let page = Page {
        after,
        limit: limit + 1,
    };
    let mut found = users.find_accounts(&query, page).await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next = if more {
        found.last().map(|u| u.id)
    } else {
        None
    };
    Ok(with_next(ok(found), next))
}

/// `GET /admin/users/{id}`: one account.
#[utoipa::path(
    get,
    path = "/admin/users/{id}",
    tag = "operators",
    summary = "One account",
    security(("admin" = [])),
    params(("id" = i64, Path, minimum = 1, description = "The user's id")),
    responses((status = 200, description = "The account", body = Envelope<AccountView>)),
)]
pub(super) async fn show_user(
    State(users): State<UserService>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Response> {
    Ok(ok(users.account(path_id("user", &id)?).await?))
}

/// `POST /admin/users/{id}/ban` (`reason`): refuses the user's logins and tokens and closes
/// their sockets on every node.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/ban",
    tag = "operators",
    summary = "Ban a user",
    description = "Refuses the user's logins and tokens, revokes every token and closes their \
        sockets on every node.",
    security(("admin" = [])),
    params(("id" = i64, Path, minimum = 1, description = "The user's id"), ("reason" = Option<String>, Query, max_length = 500, description = "Why, for the audit log"), OperatorHeader),
    responses((status = 200, description = "The account, banned", body = Envelope<AccountView>)),
)]
pub(super) async fn ban(
    State(users): State<UserService>,
    operator: Operator,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response> {
    let id = path_id("user", &id)?;
    let reason = reason(&params)?;
    let account = users.ban(id).await?;
    let details = json!({ "name": account.name, "reason": reason });
    operator
        .record(Action::UserBan, &format!("user:{id}"), details)
        .await;
    Ok(ok(account))
}

/// `POST /admin/users/{id}/unban` (`reason`).
#[utoipa::path(
    post,
    path = "/admin/users/{id}/unban",
    tag = "operators",
    summary = "Lift a user's ban",
    description = "Logins work again; the tokens revoked by the ban stay revoked.",
    security(("admin" = [])),
    params(("id" = i64, Path, minimum = 1, description = "The user's id"), ("reason" = Option<String>, Query, max_length = 500, description = "Why, for the audit log"), OperatorHeader),
    responses((status = 200, description = "The account, active", body = Envelope<AccountView>)),
)]
pub(super) async fn unban(
    State(users): State<UserService>,
    operator: Operator,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response> {
    let id = path_id("user", &id)?;
    let reason = reason(&params)?;
    let account = users.unban(id).await?;
    let details = json!({ "name": account.name, "reason": reason });
    operator
        .record(Action::UserUnban, &format!("user:{id}"), details)
        .await;
    Ok(ok(account))
}

/// `DELETE /admin/users/{id}` (`reason`): deletes the account; answers it as it was.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}",
    tag = "operators",
    summary = "Delete an account",
    security(("admin" = [])),
    params(("id" = i64, Path, minimum = 1, description = "The user's id"), ("reason" = Option<String>, Query, max_length = 500, description = "Why, for the audit log"), OperatorHeader),
    responses((status = 200, description = "The account as it was", body = Envelope<AccountView>)),
)]
pub(super) async fn delete_user(
    State(users): State<UserService>,
    operator: Operator,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response> {
    let id = path_id("user", &id)?;
    let reason = reason(&params)?;
    let account = users.delete_by_operator(id).await?;
    let details = json!({ "name": account.name, "reason": reason });
    operator
        .record(Action::UserDelete, &format!("user:{id}"), details)
        .await;
    Ok(ok(account))
}

/// `DELETE /admin/groups/{id}` (`reason`): dissolves the group, closing its members'
/// group sockets on every node.
#[utoipa::path(
    delete,
    path = "/admin/groups/{id}",
    tag = "operators",
    summary = "Dissolve a group",
    description = "Removes the group with its members, bans and mutes and closes its members' \
        group sockets on every node. Its messages stay in the history, readable by no one \
        through the group.",
    security(("admin" = [])),
    params(("id" = i64, Path, minimum = 1, description = "The group's id"), ("reason" = Option<String>, Query, max_length = 500, description = "Why, for the audit log"), OperatorHeader),
    responses((status = 200, description = "The group as it was", body = Envelope<DissolvedGroup>)),
)]
pub(super) async fn dissolve_group(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response> {
    let id = path_id("group", &id)?;
    let reason = reason(&params)?;
    let (group, members) = state.groups.dissolve_by_operator(id).await?;
    let view = json!({
        "id": group.id,
        "name": group.name,
        "owner": group.owner,
        "members": members,
    });
    let mut details = view.clone();
    details["reason"] = reason;
    operator
        .record(Action::GroupDissolve, &format!("group:{id}"), details)
        .await;
    Ok(ok(view))
}

/// `DELETE /admin/messages/{id}` (`reason`): removes the message for everyone; its
/// conversation's live sockets get 50011. The audit log keeps who sent it and where, not
/// its text.
#[utoipa::path(
    delete,
    path = "/admin/messages/{id}",
    tag = "operators",
    summary = "Remove a message for everyone",
    description = "The conversation's live sockets are told (code 50011). The audit log keeps \
        who sent it and where, not its text.",
    security(("admin" = [])),
    params(("id" = i64, Path, minimum = 1, description = "The message's id"), ("reason" = Option<String>, Query, max_length = 500, description = "Why, for the audit log"), OperatorHeader),
    responses((status = 200, description = "The message removed, without its text", body = Envelope<RemovedMessage>)),
)]
pub(super) async fn remove_message(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response> {
    let id = path_id("message", &id)?;
    let reason = reason(&params)?;
    let message = state.chat.remove_as_operator(id).await?;
    let (group_id, recipient) = match message.conversation {
        Conversation::Group(group) => (Some(group), None),
        Conversation::Direct(..) => (None, message.recipient),
    };
    let view = json!({
        "id": message.id,
        "sender": message.sender,
        "recipient": recipient,
        "group_id": group_id,
        "sent_at": message.sent_at,
    });
    let mut details = view.clone();
    details["reason"] = reason;
    operator
        .record(Action::MessageRemove, &format!("message:{id}"), details)
        .await;
    Ok(ok(view))
}

/// `GET /admin/audit?limit=&before=`: the audit log, newest first; `X-Next-Before` carries
/// the cursor of the older entries when more remain.
#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "operators",
    summary = "The audit log of operator actions",
    security(("admin" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Entries per page (default 100)"),
        ("before" = Option<i64>, Query, minimum = 1, description = "The `X-Next-Before` of the page before; absent: the newest"),
    ),
    responses((
        status = 200,
        description = "The entries, newest first",
        body = Envelope<Vec<AuditView>>,
        headers(("x-next-before" = i64, description = "Present when older entries remain: the `before` of the next page")),
    )),
)]
pub(super) async fn audit(
    State(log): State<AuditLog>,
    _admin: Admin,
    params: Params,
) -> Result<Response> {
    let limit = limit(&params, DEFAULT_AUDIT, MAX_AUDIT)?;
    let before = match params.int(&["before"])? {
        None => None,
        Some(n) if n > 0 => Some(n),
        Some(n) => {
            return Err(Error::invalid(format!(
                "before must be a positive id, not {n}"
            )))
        }
    };
    let mut entries = log.page(before, limit + 1).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next = if more {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    let mut response = ok(entries);
    if let Some(next) = next {
        response
            .headers_mut()
            .insert(NEXT_BEFORE, HeaderValue::from(next));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_are_positive_whole_numbers() {
        assert_eq!(path_id("user", "42").expect("an id"), 42);
        for bad in ["0", "-3", "abc", "", "1.5", "99999999999999999999"] {
            let error = path_id("user", bad).expect_err(bad);
            assert_eq!(error.http_status(), 400, "{bad}");
        }
    }
}
