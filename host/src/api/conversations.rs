//! `/chat/conversations` and `/friend/presence` handlers.

use axum::extract::State;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::paging::{with_next, Paging};
use crate::api::params::Params;
use crate::conversations::view::{ConversationView, PresenceView};
use crate::conversations::{ConversationService, MAX_PAGE};
use crate::error::{Error, Result};
use crate::users::Caller;

/// `GET /chat/conversations` (`limit`: 1 to [`MAX_PAGE`], default [`MAX_PAGE`]; `after`:
/// the `X-Next-After` of the page before, which may be negative)
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
