//! `/user/block*` and `/group/*mute*` handlers.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::api::envelope::ok;
use crate::api::params::Params;
use crate::blocks::{BlockService, BlockView, MuteFor, MuteView};
use crate::error::{Error, Result};
use crate::users::{rfc3339, Caller};

/// `POST /user/block` (`user_id`|`target_id`)
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
pub(super) async fn list(State(blocks): State<BlockService>, caller: Caller) -> Result<Response> {
    let list = blocks.blocks(caller).await?;
    Ok(ok(list.iter().map(BlockView::from).collect::<Vec<_>>()))
}

/// When a new mute ends.
#[derive(Debug, Serialize)]
struct Muted {
    /// RFC 3339.
    #[serde(rename = "MutedUntil")]
    muted_until: String,
}

/// `POST /group/mute` (`group_id`, `user_id`, and `seconds` or `until` in unix seconds):
/// owner or admin.
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
#[derive(Debug, Serialize)]
struct GroupMutesView {
    /// The whole group but its owner and admins.
    muted_all: bool,
    /// Members whose mute has not ended, earliest first.
    members: Vec<MuteView>,
}

/// `GET /group/mutes?group_id=`: owner or admin.
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
