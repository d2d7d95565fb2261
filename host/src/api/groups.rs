//! `/group/*` handlers.

use axum::extract::State;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::paging::{with_next, Paging};
use crate::api::params::Params;
use crate::error::{Error, Result};
use crate::groups::{BanView, Group, GroupService, GroupView, HistoryVisibility, MemberView, Role};
use crate::users::Caller;

/// `POST /group/create` (`group_name`|`name`, `desc`|`description`, `size`)
pub(super) async fn create(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let name = params.required(&["group_name", "name"])?;
    let desc = params.text(&["desc", "description"])?.unwrap_or_default();
    let size = params.int(&["size"])?;
    let group = groups.create(caller, &name, &desc, size).await?;
    Ok(ok(GroupView::from(&group)))
}

/// `POST /group/join` (`group_id`)
pub(super) async fn join(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    groups.join(caller, params.id(&["group_id"])?).await?;
    Ok(ok(()))
}

/// `GET /group/mine` (`limit`, `after`: paged, see [`Paging`])
pub(super) async fn mine(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let paging = Paging::from_params(&params)?;
    let list = groups.mine(caller, paging.store_page()).await?;
    Ok(group_page(paging, list))
}

/// `GET /group/joined` (`limit`, `after`: paged, see [`Paging`])
pub(super) async fn joined(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let paging = Paging::from_params(&params)?;
    let list = groups.joined(caller, paging.store_page()).await?;
    Ok(group_page(paging, list))
}

/// A page of groups in the envelope, with the next page's cursor.
fn group_page(paging: Paging, list: Vec<Group>) -> Response {
    let (page, next) = paging.split(list, |g| g.id);
    let views: Vec<GroupView> = page.iter().map(GroupView::from).collect();
    with_next(ok(views), next)
}

/// `DELETE /group/delete` (`group_id`): leave.
pub(super) async fn leave(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    groups.leave(caller, params.id(&["group_id"])?).await?;
    Ok(ok(()))
}

/// `GET /group/members?group_id=`: the whole list, earliest-joined first; with `limit` or
/// `after`, pages by user id (see [`Paging::requested`]).
pub(super) async fn members(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let paging = Paging::requested(&params)?;
    let list = groups
        .members(caller, group, paging.map(Paging::store_page))
        .await?;
    let (page, next) = match paging {
        Some(paging) => paging.split(list, |m| m.user),
        None => (list, None),
    };
    let views: Vec<MemberView> = page.iter().map(MemberView::from).collect();
    Ok(with_next(ok(views), next))
}

/// `POST /group/role` (`group_id`, `user_id`, `role`: 2 admin or 0 member): owner only.
pub(super) async fn set_role(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let target = params.id(&["user_id", "target_id"])?;
    let role = params
        .int(&["role"])?
        .ok_or_else(|| Error::invalid("role is required: 2 (admin) or 0 (member)"))?;
    let role = Role::from_number(role)
        .ok_or_else(|| Error::invalid("role must be 2 (admin) or 0 (member)"))?;
    groups.set_role(caller, group, target, role).await?;
    Ok(ok(()))
}

/// `POST /group/remove` (`group_id`, `user_id`): owner or admin; the user is banned.
pub(super) async fn remove(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let target = params.id(&["user_id", "target_id"])?;
    groups.remove(caller, group, target).await?;
    Ok(ok(()))
}

/// `GET /group/bans?group_id=`: owner or admin. The whole list, earliest first; with
/// `limit` or `after`, pages by user id (see [`Paging::requested`]).
pub(super) async fn bans(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let paging = Paging::requested(&params)?;
    let list = groups
        .bans(caller, group, paging.map(Paging::store_page))
        .await?;
    let (page, next) = match paging {
        Some(paging) => paging.split(list, |b| b.user),
        None => (list, None),
    };
    let views: Vec<BanView> = page.iter().map(BanView::from).collect();
    Ok(with_next(ok(views), next))
}

/// `POST /group/unban` (`group_id`, `user_id`): owner or admin.
pub(super) async fn unban(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let target = params.id(&["user_id", "target_id"])?;
    groups.unban(caller, group, target).await?;
    Ok(ok(()))
}

/// `POST /group/history_visibility` (`group_id`, `history_visibility`: `all` or `joined`):
/// owner or admin.
pub(super) async fn set_history(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let name = params.required(&["history_visibility", "visibility"])?;
    let history = HistoryVisibility::parse(name.trim())
        .ok_or_else(|| Error::invalid("history_visibility must be \"all\" or \"joined\""))?;
    groups.set_history(caller, group, history).await?;
    Ok(ok(()))
}
