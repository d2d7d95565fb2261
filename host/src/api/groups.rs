//! `/group/*` handlers.

use axum::extract::State;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::openapi::schemas::{Envelope, NoData};
use crate::api::paging::{with_next, Paging};
use crate::api::params::Params;
use crate::error::{Error, Result};
use crate::groups::{BanView, Group, GroupService, GroupView, HistoryVisibility, MemberView, Role};
use crate::users::Caller;

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create,
    join,
    mine,
    joined,
    leave,
    members,
    set_role,
    remove,
    bans,
    unban,
    set_history
))]
pub(super) struct Api;

/// `POST /group/create` (`group_name`|`name`, `desc`|`description`, `size`)
#[utoipa::path(
    post,
    path = "/group/create",
    tag = "groups",
    summary = "Create a group, owned by the caller",
    security(("bearer" = [])),
    params(
        ("group_name" = String, Query, description = "The name, at most 64 characters (also `name`)"),
        ("desc" = Option<String>, Query, description = "A description, at most 100 characters (also `description`)"),
        ("size" = Option<i64>, Query, minimum = 1, description = "Most members allowed (default `groups.default_size`, 200; at most `groups.max_size`)"),
    ),
    responses((status = 200, description = "The new group", body = Envelope<GroupView>)),
)]
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
#[utoipa::path(
    post,
    path = "/group/join",
    tag = "groups",
    summary = "Join a group",
    security(("bearer" = [])),
    params(("group_id" = i64, Query, minimum = 1, description = "The group")),
    responses((status = 200, description = "The caller is a member", body = Envelope<NoData>)),
)]
pub(super) async fn join(
    State(groups): State<GroupService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    groups.join(caller, params.id(&["group_id"])?).await?;
    Ok(ok(()))
}

/// `GET /group/mine` (`limit`, `after`: paged, see [`Paging`])
#[utoipa::path(
    get,
    path = "/group/mine",
    tag = "groups",
    summary = "The groups the caller owns, a page at a time",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Most groups in the page (1 to 1000, default 1000)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `X-Next-After` of the page before (a group id); 0 or absent: the first page"),
    ),
    responses((status = 200, description = "A page of the groups, by id", body = Envelope<Vec<GroupView>>,
        headers(("X-Next-After" = i64, description = "The `after` of the next page; only when more entries remain")))),
)]
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
#[utoipa::path(
    get,
    path = "/group/joined",
    tag = "groups",
    summary = "The groups the caller belongs to (owned ones included), a page at a time",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Most groups in the page (1 to 1000, default 1000)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `X-Next-After` of the page before (a group id); 0 or absent: the first page"),
    ),
    responses((status = 200, description = "A page of the groups, by id", body = Envelope<Vec<GroupView>>,
        headers(("X-Next-After" = i64, description = "The `after` of the next page; only when more entries remain")))),
)]
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
#[utoipa::path(
    method(delete, post),
    path = "/group/delete",
    tag = "groups",
    summary = "Leave a group",
    description = "An owner's group goes to the successor the group policy names, or is dissolved when the owner was alone.",
    security(("bearer" = [])),
    params(("group_id" = i64, Query, minimum = 1, description = "The group")),
    responses((status = 200, description = "The caller is no longer a member", body = Envelope<NoData>)),
)]
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
#[utoipa::path(
    get,
    path = "/group/members",
    tag = "groups",
    summary = "The members of a group the caller belongs to",
    description = "Without `limit` and `after`, the whole list, earliest-joined first; with either, a page by user id.",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Most entries in the page (1 to 1000, default 1000); giving `limit` or `after` pages the list by user id"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `X-Next-After` of the page before (0: the first page); giving `limit` or `after` pages the list by user id"),
    ),
    responses((status = 200, description = "The members", body = Envelope<Vec<MemberView>>,
        headers(("X-Next-After" = i64, description = "When paging: the `after` of the next page; only when more entries remain")))),
)]
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
#[utoipa::path(
    post,
    path = "/group/role",
    tag = "groups",
    summary = "Make a member an admin, or a plain member again (owner only)",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("user_id" = i64, Query, minimum = 1, description = "The member (also `target_id`)"),
        ("role" = i64, Query, description = "2: admin, 0: member"),
    ),
    responses((status = 200, description = "The member has the role", body = Envelope<NoData>)),
)]
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
#[utoipa::path(
    post,
    path = "/group/remove",
    tag = "groups",
    summary = "Remove a member, who is banned until the ban is lifted (owner or admin)",
    description = "The owner removes anyone else; an admin removes plain members only.",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("user_id" = i64, Query, minimum = 1, description = "The member (also `target_id`)"),
    ),
    responses((status = 200, description = "The user is out of the group and banned from it", body = Envelope<NoData>)),
)]
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
#[utoipa::path(
    get,
    path = "/group/bans",
    tag = "groups",
    summary = "The users banned from a group (owner or admin)",
    description = "Without `limit` and `after`, the whole list, earliest first; with either, a page by user id.",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Most entries in the page (1 to 1000, default 1000); giving `limit` or `after` pages the list by user id"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `X-Next-After` of the page before (0: the first page); giving `limit` or `after` pages the list by user id"),
    ),
    responses((status = 200, description = "The bans", body = Envelope<Vec<BanView>>,
        headers(("X-Next-After" = i64, description = "When paging: the `after` of the next page; only when more entries remain")))),
)]
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
#[utoipa::path(
    post,
    path = "/group/unban",
    tag = "groups",
    summary = "Lift a ban, so the user may join again (owner or admin)",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("user_id" = i64, Query, minimum = 1, description = "The banned user (also `target_id`)"),
    ),
    responses((status = 200, description = "The ban is lifted", body = Envelope<NoData>)),
)]
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
#[utoipa::path(
    post,
    path = "/group/history_visibility",
    tag = "groups",
    summary = "Set what new members read of the earlier history (owner or admin)",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("history_visibility" = HistoryVisibility, Query, description = "`all`: everything the group has kept; `joined`: only what is sent after they join (also `visibility`)"),
    ),
    responses((status = 200, description = "The visibility is set", body = Envelope<NoData>)),
)]
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
