//! `/friend/*` handlers.

use axum::extract::State;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::openapi::schemas::{Envelope, NoData};
use crate::api::paging::{with_next, Paging};
use crate::api::params::Params;
use crate::error::Result;
use crate::friends::{FriendService, FriendView};
use crate::users::Caller;

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(add, list, delete))]
pub(super) struct Api;

/// `POST /friend/add` (`target_id`)
#[utoipa::path(
    post,
    path = "/friend/add",
    tag = "friends",
    summary = "Add a friend",
    security(("bearer" = [])),
    params(("target_id" = i64, Query, minimum = 1, description = "The user to add (also `targetId`, `user_id`)")),
    responses((status = 200, description = "The user is on the caller's list", body = Envelope<NoData>)),
)]
pub(super) async fn add(
    State(friends): State<FriendService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let target = params.id(&["target_id", "targetId", "user_id"])?;
    friends.add(caller, target).await?;
    Ok(ok(()))
}

/// `GET /friend/list` (`limit`, `after`: paged, see [`Paging`])
#[utoipa::path(
    get,
    path = "/friend/list",
    tag = "friends",
    summary = "The caller's friends, a page at a time",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Most entries in the page (1 to 1000, default 1000)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `X-Next-After` of the page before; 0 or absent: the first page"),
    ),
    responses((status = 200, description = "A page of the list, oldest friendship first", body = Envelope<Vec<FriendView>>,
        headers(("X-Next-After" = i64, description = "The `after` of the next page; only when more entries remain")))),
)]
pub(super) async fn list(
    State(friends): State<FriendService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let paging = Paging::from_params(&params)?;
    let list = friends.list(caller, paging.store_page()).await?;
    let (page, next) = paging.split(list, |f| f.id);
    let views: Vec<FriendView> = page.iter().map(FriendView::from).collect();
    Ok(with_next(ok(views), next))
}

/// `POST /friend/delete` (`target_id`)
#[utoipa::path(
    method(post, delete),
    path = "/friend/delete",
    tag = "friends",
    summary = "Remove a friend",
    security(("bearer" = [])),
    params(("target_id" = i64, Query, minimum = 1, description = "The friend to remove (also `targetId`, `user_id`)")),
    responses((status = 200, description = "The user is off the caller's list", body = Envelope<NoData>)),
)]
pub(super) async fn delete(
    State(friends): State<FriendService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let target = params.id(&["target_id", "targetId", "user_id"])?;
    friends.delete(caller, target).await?;
    Ok(ok(()))
}
