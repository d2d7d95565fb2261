//! `GET /metrics`: this node's series in Prometheus' text format, for a scraper holding the
//! metrics token (`[metrics] token`), which opens nothing else.
//!
//! Until that token is set the admin token opens `/metrics`, as it always did, so existing
//! scrapers keep working; this is deprecated (a scraper's credentials then open the whole
//! operator API), and once the metrics token is set the admin token is refused here.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::api::admin::token_matches;
use crate::api::auth::bearer;
use crate::api::AppState;
use crate::error::{Error, Result};

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(metrics))]
pub(super) struct Api;

/// Proof that the request may read the metrics.
#[derive(Debug)]
pub(super) struct Scraper;

impl FromRequestParts<AppState> for Scraper {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer(&parts.headers)?.ok_or(Error::MissingToken)?;
        match state.metrics_token.as_deref() {
            Some(expected) if token_matches(expected, &token) => Ok(Scraper),
            Some(_) if token_matches(&state.admin_token, &token) => Err(Error::InvalidToken(
                "the admin token does not open /metrics once [metrics] token is set: use that",
            )),
            Some(_) => Err(Error::InvalidToken("this is not the metrics token")),
            None if token_matches(&state.admin_token, &token) => Ok(Scraper),
            None => Err(Error::InvalidToken("this is not the admin token")),
        }
    }
}

/// `GET /metrics`: the server's series, then the plugins' (in a cluster every series is
/// labelled `node="<name>"`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    summary = "This node's metrics, for Prometheus",
    description = "The server's series, then the plugins'; in a cluster every series is \
        labelled `node=\"<name>\"`. Opened by the metrics token (`[metrics] token`); until \
        that is set, by the admin token (deprecated), which is refused here once it is.",
    security(("metrics" = []), ("admin" = [])),
    responses((
        status = 200,
        description = "The series in Prometheus' text exposition format 0.0.4",
        body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8",
    )),
)]
pub(super) async fn metrics(State(state): State<AppState>, _scraper: Scraper) -> Response {
    let mut out = String::with_capacity(16 * 1024);
    state.metrics.render(&mut out);
    state.plugins.render_metrics(&mut out);
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_gives_the_content_type_served() {
        let doc = serde_json::to_value(crate::api::openapi::document()).expect("json");
        let content = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
            .as_object()
            .expect("content by type");
        let types: Vec<&String> = content.keys().collect();
        assert_eq!(types, [crate::metrics::CONTENT_TYPE]);
    }
}
