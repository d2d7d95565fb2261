//! The authenticated caller of a request, from `Authorization: <token>` or
//! `Authorization: Bearer <token>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use crate::api::AppState;
use crate::error::{Error, Result};
use crate::users::Caller;

/// The token a request carries in its `Authorization` header, without a `Bearer ` prefix.
pub fn bearer(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::InvalidToken("the Authorization header is not valid text"))?
        .trim();
    if value.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    Ok(Some(token.to_owned()).filter(|t| !t.is_empty()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer(&parts.headers)?.ok_or(Error::MissingToken)?;
        state.users.authenticate(&token).await
    }
}
