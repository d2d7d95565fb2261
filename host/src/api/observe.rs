//! What the REST edge tells operators about each request: its id (`x-request-id`, in every
//! log line of the request and on its answer), its log span, and its count and latency on
//! `/metrics` by route template.
//!
//! An incoming `x-request-id` is kept only from a trusted proxy (`[server]
//! trusted_proxies`) and only when it looks like an id; from anyone else it is replaced, so
//! a client cannot make its requests share an id with another's in the logs.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use crate::api::throttle::Throttles;
use crate::metrics::{Metrics, UNMATCHED};
use crate::telemetry;

/// The header carrying a request's id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a proxy.
const MAX_REQUEST_ID: usize = 64;

/// Middleware, outside the others: drops an `x-request-id` that may not be kept.
pub async fn trust_request_id(
    State(throttles): State<Throttles>,
    mut request: Request,
    next: Next,
) -> Response {
    let keep = request.headers().get(X_REQUEST_ID).is_some_and(well_formed)
        && throttles.from_trusted_proxy(request.extensions());
    if !keep {
        request.headers_mut().remove(X_REQUEST_ID);
    }
    next.run(request).await
}

/// 1 to 64 letters, digits and `-_.:`: what proxies and tracing systems use, and nothing
/// that could forge a log line.
fn well_formed(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=MAX_REQUEST_ID).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// Gives a request without a (kept) id a fresh UUID.
pub fn set_request_id() -> SetRequestIdLayer<MakeRequestUuid> {
    SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid)
}

/// Copies the request's id onto its answer.
pub fn propagate_request_id() -> PropagateRequestIdLayer {
    PropagateRequestIdLayer::new(X_REQUEST_ID)
}

/// The id [`set_request_id`] gave the request.
fn id_of(request: &Request) -> Option<&str> {
    request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
}

/// The log span of a request: method, path and id. The path only, because query strings
/// of credential routes carry passwords.
pub fn span(request: &Request) -> tracing::Span {
    tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = id_of(request).unwrap_or_default(),
    )
}

/// Middleware: the handler (and what it calls, down to plugin verdicts) runs as part of
/// the request's id.
pub async fn scope_request_id(request: Request, next: Next) -> Response {
    let id = id_of(&request).map(telemetry::RequestId::new);
    telemetry::with_request_id(id, next.run(request)).await
}

/// Middleware: counts the request and its latency under its route template.
pub async fn record(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    metrics.observe_request(
        &route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_kept() {
        for good in [
            "abc",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "trace:span.1_2",
        ] {
            assert!(well_formed(&HeaderValue::from_static(good)), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "a b", "a\"b", "a;b", long.as_str()] {
            let value = HeaderValue::from_bytes(bad.as_bytes()).expect("header");
            assert!(!well_formed(&value), "{bad:?}");
        }
    }
}
