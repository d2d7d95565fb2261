//! `/friend/*` handlers.

use axum::extract::State;
use axum::response::Response;

use crate::api::envelope::ok;
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

/// `GET /friend/list`
pub(super) async fn list(State(friends): State<FriendService>, caller: Caller) -> Result<Response> {
    let list = friends.list(caller).await?;
    Ok(ok(list.iter().map(FriendView::from).collect::<Vec<_>>()))
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
