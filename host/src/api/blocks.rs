//! `/user/block*` and `/group/*mute*` handlers.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::api::envelope::ok;
use crate::api::openapi::schemas::{Envelope, NoData};
use crate::api::params::Params;
use crate::blocks::{BlockService, BlockView, MuteFor, MuteView};
use crate::error::{Error, Result};
use crate::users::{rfc3339, Caller};

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(block, unblock, list, mute, unmute, mute_all, unmute_all, mutes))]
pub(super) struct Api;

/// `POST /user/block` (`user_id`|`target_id`)
#[utoipa::path(
    post,
    path = "/user/block",
    tag = "blocks",
    summary = "Block a user",
    description = "Neither may then send the other a private message or a friend request. Blocking someone already blocked changes nothing.",
    security(("bearer" = [])),
    params(("user_id" = i64, Query, minimum = 1, description = "The user to block (also `target_id`)")),
    responses((status = 200, description = "The user is on the caller's block list", body = Envelope<NoData>)),
)]
pub(super) async fn block(
    State(blocks): State<BlockService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    blocks
        .block(caller, params.id(&["user_id", "target_id"])?)
        .await?;
    Ok(ok(()))
}

/// `POST /user/unblock` (`user_id`|`target_id`)
#[utoipa::path(
    post,
    path = "/user/unblock",
    tag = "blocks",
    summary = "Lift a block",
    security(("bearer" = [])),
    params(("user_id" = i64, Query, minimum = 1, description = "The blocked user (also `target_id`)")),
    responses((status = 200, description = "The user is off the caller's block list", body = Envelope<NoData>)),
)]
pub(super) async fn unblock(
    State(blocks): State<BlockService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    blocks
        .unblock(caller, params.id(&["user_id", "target_id"])?)
        .await?;
    Ok(ok(()))
}

/// `GET /user/blocks`: the users the caller blocks, earliest first.
#[utoipa::path(
    get,
    path = "/user/blocks",
    tag = "blocks",
    summary = "The users the caller blocks",
    security(("bearer" = [])),
    responses((status = 200, description = "The whole block list, earliest first", body = Envelope<Vec<BlockView>>)),
)]
pub(super) async fn list(State(blocks): State<BlockService>, caller: Caller) -> Result<Response> {
    let list = blocks.blocks(caller).await?;
    Ok(ok(list.iter().map(BlockView::from).collect::<Vec<_>>()))
}

/// When a new mute ends.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Muted {
    /// RFC 3339.
    #[serde(rename = "MutedUntil")]
    muted_until: String,
}

/// `POST /group/mute` (`group_id`, `user_id`, and `seconds` or `until` in unix seconds):
/// owner or admin.
#[utoipa::path(
    post,
    path = "/group/mute",
    tag = "blocks",
    summary = "Mute a member for a while (owner or admin)",
    description = "Give `seconds` or `until`, not both; a mute lasts at most 30 days and replaces one the member had. \
        The owner mutes anyone else, an admin plain members only.",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("user_id" = i64, Query, minimum = 1, description = "The member (also `target_id`)"),
        ("seconds" = Option<i64>, Query, minimum = 1, maximum = 2592000, description = "How long, in seconds"),
        ("until" = Option<i64>, Query, description = "When it ends, unix seconds (after now, at most 30 days away)"),
    ),
    responses((status = 200, description = "When the mute ends", body = Envelope<Muted>)),
)]
pub(super) async fn mute(
    State(blocks): State<BlockService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let target = params.id(&["user_id", "target_id"])?;
    let length = match (params.int(&["seconds"])?, params.int(&["until"])?) {
        (Some(seconds), None) => MuteFor::Seconds(seconds),
        (None, Some(until)) => MuteFor::Until(until),
        (Some(_), Some(_)) => return Err(Error::invalid("give seconds or until, not both")),
        (None, None) => {
            return Err(Error::invalid(
                "seconds (how long) or until (a unix time in seconds) is required",
            ))
        }
    };
    let until = blocks.mute(caller, group, target, length).await?;
    Ok(ok(Muted {
        muted_until: rfc3339(until),
    }))
}

/// `POST /group/unmute` (`group_id`, `user_id`): owner or admin.
#[utoipa::path(
    post,
    path = "/group/unmute",
    tag = "blocks",
    summary = "Lift a member's mute before it ends (owner or admin)",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("user_id" = i64, Query, minimum = 1, description = "The muted member (also `target_id`)"),
    ),
    responses((status = 200, description = "The member may send again", body = Envelope<NoData>)),
)]
pub(super) async fn unmute(
    State(blocks): State<BlockService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let target = params.id(&["user_id", "target_id"])?;
    blocks.unmute(caller, group, target).await?;
    Ok(ok(()))
}

/// `POST /group/mute_all` (`group_id`): owner or admin.
#[utoipa::path(
    post,
    path = "/group/mute_all",
    tag = "blocks",
    summary = "Mute the whole group but its owner and admins (owner or admin)",
    security(("bearer" = [])),
    params(("group_id" = i64, Query, minimum = 1, description = "The group")),
    responses((status = 200, description = "Only the owner and admins send", body = Envelope<NoData>)),
)]
pub(super) async fn mute_all(
    State(blocks): State<BlockService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    blocks
        .mute_all(caller, params.id(&["group_id"])?, true)
        .await?;
    Ok(ok(()))
}

/// `POST /group/unmute_all` (`group_id`): owner or admin.
#[utoipa::path(
    post,
    path = "/group/unmute_all",
    tag = "blocks",
    summary = "Lift the whole group's mute (owner or admin)",
    security(("bearer" = [])),
    params(("group_id" = i64, Query, minimum = 1, description = "The group")),
    responses((status = 200, description = "Members send again, but those muted one by one", body = Envelope<NoData>)),
)]
pub(super) async fn unmute_all(
    State(blocks): State<BlockService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    blocks
        .mute_all(caller, params.id(&["group_id"])?, false)
        .await?;
    Ok(ok(()))
}

/// What is muted in a group.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct GroupMutesView {
    /// The whole group but its owner and admins.
    muted_all: bool,
    /// Members whose mute has not ended, earliest first.
    members: Vec<MuteView>,
}

/// `GET /group/mutes?group_id=`: owner or admin.
#[utoipa::path(
    get,
    path = "/group/mutes",
    tag = "blocks",
    summary = "What is muted in a group (owner or admin)",
    security(("bearer" = [])),
    params(("group_id" = i64, Query, minimum = 1, description = "The group")),
    responses((status = 200, description = "The group's switch and the running mutes", body = Envelope<GroupMutesView>)),
)]
pub(super) async fn mutes(
    State(blocks): State<BlockService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let (all, list) = blocks.mutes(caller, params.id(&["group_id"])?).await?;
    Ok(ok(GroupMutesView {
        muted_all: all,
        members: list.iter().map(MuteView::from).collect(),
    }))
}
