//! Who makes an operator request that changes something: the admin token, checked first,
//! then the name the operator gives and the client address, for the audit log.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde_json::Value;

use crate::api::admin::Admin;
use crate::api::AppState;
use crate::audit::{Action, Actor, AuditLog};
use crate::error::{Error, Result};

/// The header in which an operator names themself for the audit log.
const OPERATOR_HEADER: &str = "x-operator";

/// Longest operator name, in characters.
const MAX_OPERATOR_CHARS: usize = 64;

/// The `X-Operator` header, as the OpenAPI document shows it on the routes that take an
/// [`Operator`].
#[derive(utoipa::IntoParams)]
#[into_params(names("X-Operator"), parameter_in = Header)]
#[allow(dead_code)]
pub(super) struct OperatorHeader(
    /// Who acts, for the audit log: the operator's own word, at most 64 characters of
    /// text without control characters ("" without the header).
    #[param(required = false)]
    String,
);

/// Proof of the admin token, with who acted. Handlers that change something take it and
/// record what they did through it.
#[derive(Debug)]
pub(super) struct Operator {
    actor: Actor,
    audit: AuditLog,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        // The token first, so a request without it learns nothing about the header.
        Admin::from_request_parts(parts, state).await?;
        let name = operator_name(&parts.headers)?;
        let client = state
            .throttles
            .client_of(&parts.extensions, &parts.headers)?;
        Ok(Operator {
            actor: Actor {
                name,
                address: client.0.to_string(),
            },
            audit: state.audit.clone(),
        })
    }
}

impl Operator {
    /// Records in the audit log that this operator did `action` to `target`.
    pub(super) async fn record(&self, action: Action, target: &str, details: Value) {
        self.audit
            .record(&self.actor, action, target, details)
            .await;
    }
}

/// The name in `X-Operator` ("" without one): UTF-8, at most [`MAX_OPERATOR_CHARS`]
/// characters, no control characters. It is the operator's own word, recorded as given.
fn operator_name(headers: &HeaderMap) -> Result<String> {
    let Some(value) = headers.get(OPERATOR_HEADER) else {
        return Ok(String::new());
    };
    let name = std::str::from_utf8(value.as_bytes())
        .map_err(|_| Error::invalid("X-Operator must be UTF-8 text"))?
        .trim();
    if name.chars().count() > MAX_OPERATOR_CHARS {
        return Err(Error::invalid(format!(
            "X-Operator must be at most {MAX_OPERATOR_CHARS} characters long"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "X-Operator must not hold control characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn named(value: &[u8]) -> Result<String> {
        let mut headers = HeaderMap::new();
        headers.insert(
            OPERATOR_HEADER,
            HeaderValue::from_bytes(value).expect("a header value"),
        );
        operator_name(&headers)
    }

    #[test]
    fn operator_names_are_short_printable_text() {
        assert_eq!(operator_name(&HeaderMap::new()).expect("none"), "");
        assert_eq!(named(b" ops-alice ").expect("ascii"), "ops-alice");
        assert_eq!(named("Zoë".as_bytes()).expect("utf-8"), "Zoë");
        assert!(named(b"\xff\xfe").is_err());
        assert!(named(b"a\tb").is_err());
        assert!(named("x".repeat(65).as_bytes()).is_err());
    }
}
