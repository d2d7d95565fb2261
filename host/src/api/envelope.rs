//! The seed's response envelope `{"status","data","msg","error"}`, for success and failure.
//!
//! [`Error`] becomes a response here and nowhere else: the HTTP status and wire code come
//! from `crate::error`, internal causes are logged once and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Code, Error};

/// A successful envelope around `data`.
pub fn ok<T: Serialize>(data: T) -> Response {
    let data = match serde_json::to_value(data) {
        Ok(value) => value,
        Err(err) => {
            return Error::Internal(anyhow::Error::new(err).context("serialising a response"))
                .into_response()
        }
    };
    body(StatusCode::OK, Code::Ok, data, "")
}

fn body(status: StatusCode, code: Code, data: Value, error: &str) -> Response {
    let envelope = json!({
        "status": code.number(),
        "data": data,
        "msg": code.msg(),
        "error": error,
    });
    (status, Json(envelope)).into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let data = self.seed_data().map_or(Value::Null, Value::from);
        let mut response = body(status, self.code(), data, &self.public_reason());
        match &self {
            Error::RateLimited { retry_after } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            Error::MissingToken | Error::InvalidToken(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"confab\""),
                );
            }
            _ => {}
        }
        response
    }
}
