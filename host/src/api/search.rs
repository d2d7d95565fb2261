//! `GET /chat/search`: message search, a page at a time, newest first.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::openapi::schemas::Envelope;
use crate::api::params::Params;
use crate::error::{Error, Result};
use crate::messages::search::{HitView, SearchRequest, SearchService};
use crate::users::Caller;

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(search))]
pub(super) struct Api;

/// The response header with the cursor of the next, older page.
const NEXT_BEFORE: &str = "x-next-before";

/// `GET /chat/search` (`q`; `with` or `group_id`, `sender`, `since`, `until`; `limit`,
/// `before`)
#[utoipa::path(
    get,
    path = "/chat/search",
    tag = "chat",
    summary = "Search the messages the caller can read, newest first, a page at a time",
    description = "Finds the messages holding every word of `q`, in any case. Without `with` and `group_id`, \
        every private conversation and group of the caller; in a group, only the history the caller reads there.",
    security(("bearer" = [])),
    params(
        ("q" = String, Query, description = "The words to find, separated by white space (at most 100 characters)"),
        ("with" = Option<i64>, Query, minimum = 1, description = "Only the private conversation with this user (not with `group_id`)"),
        ("group_id" = Option<i64>, Query, minimum = 1, description = "Only this group, which the caller belongs to (not with `with`)"),
        ("sender" = Option<i64>, Query, minimum = 1, description = "Only messages from this user"),
        ("since" = Option<i64>, Query, minimum = 0, maximum = 253402300799_i64, description = "Only messages sent at or after this time, unix seconds"),
        ("until" = Option<i64>, Query, minimum = 0, maximum = 253402300799_i64, description = "Only messages sent before this time, unix seconds (after `since`)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Most hits in the page (1 to 100, default 20)"),
        ("before" = Option<i64>, Query, minimum = 1, description = "The `X-Next-Before` of the page before: only older messages"),
    ),
    responses((status = 200, description = "A page of hits, newest first", body = Envelope<Vec<HitView>>,
        headers(("X-Next-Before" = i64, description = "The `before` of the next, older page; only when more hits remain")))),
)]
pub(super) async fn search(
    State(search): State<SearchService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let request = SearchRequest {
        text: params.text(&["q"])?.unwrap_or_default(),
        with: optional_id(&params, "with")?,
        group: optional_id(&params, "group_id")?,
        sender: optional_id(&params, "sender")?,
        since: params.int(&["since"])?,
        until: params.int(&["until"])?,
        before: optional_id(&params, "before")?,
        limit: params.int(&["limit"])?,
    };
    let found = search.search(caller, request).await?;
    let views: Vec<HitView> = found
        .hits
        .iter()
        .map(|hit| HitView::new(hit, caller.id))
        .collect();
    let mut response = ok(views);
    if let Some(next) = found.next_before {
        response
            .headers_mut()
            .insert(NEXT_BEFORE, HeaderValue::from(next));
    }
    Ok(response)
}

/// An optional id: absent, or a positive whole number.
fn optional_id(params: &Params, name: &str) -> Result<Option<i64>> {
    match params.int(&[name])? {
        Some(id) if id <= 0 => Err(Error::invalid(format!(
            "{name} must be a positive id, not {id}"
        ))),
        id => Ok(id),
    }
}
