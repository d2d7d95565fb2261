//! `GET /chat/readers`: who has read a group message ("read by N").

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::api::envelope::ok;
use crate::api::openapi::schemas::Envelope;
use crate::api::params::Params;
use crate::error::Result;
use crate::messages::{ChatService, Conversation};
use crate::users::Caller;

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(readers))]
pub(super) struct Api;

/// The readers of one message.
#[derive(Serialize, utoipa::ToSchema)]
struct Readers {
    /// The message.
    id: i64,
    /// How many members other than its sender have read it.
    count: usize,
    /// Who, as decimal ids.
    readers: Vec<String>,
}

/// `GET /chat/readers` (`group_id`, `id`): the members who have read the group up to
/// message `id` or further, its sender aside. The caller must be able to see the message.
#[utoipa::path(
    get,
    path = "/chat/readers",
    tag = "chat",
    summary = "Who has read a group message",
    description = "The members who have read the group up to the message or further, its sender aside. The caller must be able to see the message.",
    security(("bearer" = [])),
    params(
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("id" = i64, Query, minimum = 1, description = "The message's server id"),
    ),
    responses((status = 200, description = "The readers", body = Envelope<Readers>)),
)]
pub(super) async fn readers(
    State(chat): State<ChatService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let group = params.id(&["group_id"])?;
    let id = params.id(&["id"])?;
    let readers = chat
        .readers(caller.id, Conversation::Group(group), id)
        .await?;
    Ok(ok(Readers {
        id,
        count: readers.len(),
        readers: readers.iter().map(ToString::to_string).collect(),
    }))
}
