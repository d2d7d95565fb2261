//! `/friend/*` handlers.

use axum::extract::State;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::paging::{with_next, Paging};
use crate::api::params::Params;
use crate::error::Result;
use crate::friends::{FriendService, FriendView};
use crate::users::Caller;

/// `POST /friend/add` (`target_id`)
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
pub(super) async fn delete(
    State(friends): State<FriendService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let target = params.id(&["target_id", "targetId", "user_id"])?;
    friends.delete(caller, target).await?;
    Ok(ok(()))
}
