//! `GET /chat/readers`: who has read a group message ("read by N").

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::api::envelope::ok;
use crate::api::params::Params;
use crate::error::Result;
use crate::messages::{ChatService, Conversation};
use crate::users::Caller;

/// The readers of one message.
#[derive(Serialize)]
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
