//! `/chat/conversations` and `/friend/presence` handlers.

use axum::extract::State;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::openapi::schemas::Envelope;
use crate::api::paging::{with_next, Paging};
use crate::api::params::Params;
use crate::conversations::view::{ConversationView, PresenceView};
use crate::conversations::{ConversationService, MAX_PAGE};
use crate::error::{Error, Result};
use crate::users::Caller;

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, presence))]
pub(super) struct Api;

/// `GET /chat/conversations` (`limit`: 1 to [`MAX_PAGE`], default [`MAX_PAGE`]; `after`:
/// the `X-Next-After` of the page before, which may be negative)
#[utoipa::path(
    get,
    path = "/chat/conversations",
    tag = "chat",
    summary = "The caller's conversations, newest message first, a page at a time",
    description = "Every friend (the private conversation) and every group of the caller, by newest message; \
        conversations without messages follow. A conversation that moves to the top while paging is on the first page, not twice on later ones.",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Most conversations in the page (1 to 100, default 100)"),
        ("after" = Option<i64>, Query, description = "The `X-Next-After` of the page before, which may be negative; absent: the first page"),
    ),
    responses((status = 200, description = "A page of the list", body = Envelope<Vec<ConversationView>>,
        headers(("X-Next-After" = i64, description = "The `after` of the next page; only when more entries remain")))),
)]
pub(super) async fn list(
    State(conversations): State<ConversationService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let limit = match params.int(&["limit"])? {
        None => MAX_PAGE,
        Some(n) if (1..=i64::from(MAX_PAGE)).contains(&n) => n as u32,
        Some(n) => {
            return Err(Error::invalid(format!(
                "limit must be between 1 and {MAX_PAGE}, not {n}"
            )))
        }
    };
    let after = params.int(&["after"])?;
    let (entries, next) = conversations.list(caller, after, limit).await?;
    let views: Vec<ConversationView> = entries.iter().map(ConversationView::from).collect();
    Ok(with_next(ok(views), next))
}

/// `GET /friend/presence` (`limit`, `after`: paged as `/friend/list`, see [`Paging`])
#[utoipa::path(
    get,
    path = "/friend/presence",
    tag = "friends",
    summary = "The caller's friends with whether each is online, a page at a time",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Most friends in the page (1 to 1000, default 1000)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `X-Next-After` of the page before; 0 or absent: the first page"),
    ),
    responses((status = 200, description = "A page of the friend list, in the order of `/friend/list`", body = Envelope<Vec<PresenceView>>,
        headers(("X-Next-After" = i64, description = "The `after` of the next page; only when more entries remain")))),
)]
pub(super) async fn presence(
    State(conversations): State<ConversationService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let paging = Paging::from_params(&params)?;
    let list = conversations.presence(caller, paging.store_page()).await?;
    let (page, next) = paging.split(list, |(friend, _)| friend.id);
    let views: Vec<PresenceView> = page
        .iter()
        .map(|(friend, online)| PresenceView::new(friend, *online))
        .collect();
    Ok(with_next(ok(views), next))
}
