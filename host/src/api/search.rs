//! `GET /chat/search`: message search, a page at a time, newest first.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::params::Params;
use crate::error::{Error, Result};
use crate::messages::search::{HitView, SearchRequest, SearchService};
use crate::users::Caller;

/// The response header with the cursor of the next, older page.
const NEXT_BEFORE: &str = "x-next-before";

/// `GET /chat/search` (`q`; `with` or `group_id`, `sender`, `since`, `until`; `limit`,
/// `before`)
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
