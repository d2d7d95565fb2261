//! The OpenAPI 3.1 document of the REST routes, served at `GET /openapi.json`.
//!
//! Each handler carries its own `#[utoipa::path]` annotation next to its code, and each
//! handler file gathers its paths in an `Api` document; [`document`] merges them and adds
//! what every route shares: the envelope's refusals with the whole code table, and the
//! bearer token. The tests compare the document with the router's route table
//! ([`crate::api::route_table`]) both ways and validate it against the official OpenAPI 3.1
//! schema.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

mod finish;
pub(crate) mod schemas;
#[cfg(test)]
mod tests;

use schemas::{Code as CodeSchema, ErrorEnvelope};

/// The name of the bearer-token security scheme routes refer to.
pub(crate) const BEARER: &str = "bearer";
/// The name of the admin-token security scheme of the operator routes.
pub(crate) const ADMIN: &str = "admin";
/// The name of the metrics-token security scheme of `/metrics`.
pub(crate) const METRICS: &str = "metrics";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Confab",
        description = "The REST API of a Confab server. Every answer is the envelope \
            `{status, data, msg, error}`: `status` is 200 on success and otherwise a code \
            of the table (the `Code` schema); `error` says why, for people. Parameters may \
            be sent in the query string, or as a urlencoded form, a JSON object or a \
            multipart form; the names shown here are the preferred spellings (docs/api.md \
            lists the seed's others). Chat itself runs over the WebSocket routes; their \
            frames are described by docs/schema/ws-frames.schema.json.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(crate::api::ping, serve, crate::ws::private, crate::ws::group),
    components(schemas(ErrorEnvelope, CodeSchema)),
    modifiers(&Shared),
    tags(
        (name = "users", description = "Accounts, tokens and profiles"),
        (name = "friends", description = "Friend lists and presence"),
        (name = "groups", description = "Groups, members and roles"),
        (name = "blocks", description = "Blocks between users and mutes in groups"),
        (name = "chat", description = "Conversations, history search and the WebSocket upgrades"),
        (name = "uploads", description = "Files and avatars"),
        (name = "operators", description = "Plugins, moderation, audit and backups (admin token)"),
        (name = "probes", description = "Health, readiness, metrics and this document"),
        (name = "web", description = "The browser client and the operator console"),
    )
)]
struct Base;

/// The whole document, as JSON: every handler file's paths, with what they share.
pub fn document() -> serde_json::Value {
    let mut doc = Base::openapi();
    for part in [
        crate::api::users::Api::openapi(),
        crate::api::friends::Api::openapi(),
        crate::api::groups::Api::openapi(),
        crate::api::blocks::Api::openapi(),
        crate::api::conversations::Api::openapi(),
        crate::api::readers::Api::openapi(),
        crate::api::search::Api::openapi(),
        crate::api::uploads::Api::openapi(),
        crate::api::admin::Api::openapi(),
        crate::api::moderation::Api::openapi(),
        crate::api::backup::Api::openapi(),
        crate::api::health::Api::openapi(),
        crate::api::metrics::Api::openapi(),
        crate::api::web::Api::openapi(),
    ] {
        doc.merge(part);
    }
    Shared.modify(&mut doc);
    // The types serialise infallibly (strings, numbers and maps with string keys).
    let mut json = serde_json::to_value(&doc).unwrap_or_default();
    finish::finish(&mut json);
    json
}

/// What `GET /openapi.json` answers: an OpenAPI 3.1 document (this one).
#[derive(ToSchema)]
#[allow(dead_code)]
struct OpenApiDocument {
    /// "3.1.0".
    openapi: String,
    /// The title, description and licence.
    #[schema(value_type = Object)]
    info: (),
    /// Every route, by path and method.
    #[schema(value_type = Object)]
    paths: (),
    /// The schemas and security schemes the routes refer to.
    #[schema(value_type = Object)]
    components: (),
    /// The groups of routes.
    #[schema(value_type = Vec<Object>)]
    tags: (),
}

/// `GET /openapi.json`: the document, built once.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "probes",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI 3.1 document of the REST routes", body = OpenApiDocument)),
)]
pub(super) async fn serve() -> Response {
    // Shared bytes: a request costs a reference count, not a copy of the 300 KiB document.
    static JSON: OnceLock<axum::body::Bytes> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        serde_json::to_string_pretty(&document())
            .unwrap_or_default()
            .into()
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json.clone(),
    )
        .into_response()
}

/// What every operation shares: the refusals in the envelope, and the security schemes.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The access token (aToken) from /user/login, as `Authorization: \
                         Bearer <token>` (the bare token is accepted too).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ADMIN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's admin token (`[admin] token`); /metrics also takes \
                         its own `[metrics] token`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            METRICS,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The scrapers' token of /metrics (`[metrics] token`), which opens \
                         nothing else. Until it is set, the admin token opens /metrics.",
                    ))
                    .build(),
            ),
        );
        for item in doc.paths.paths.values_mut() {
            for operation in operations(item) {
                add_refusals(operation);
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Adds the envelope's refusals (4XX and 5XX) to an operation that does not describe them.
fn add_refusals(operation: &mut Operation) {
    for (status, description) in [
        (
            "4XX",
            "Refused: the envelope's `status` is the code (`Code`), `error` the reason. 400 \
             bad parameters, 401 no valid token, 403 a banned account, 404 no such route or \
             thing, 405 a method the route lacks, 408 a body too slow, 413 too large, 429 \
             throttled (with Retry-After). Refusals of the request itself answer HTTP 200 \
             (see each route's 200).",
        ),
        (
            "5XX",
            "The server failed; the envelope says so without the cause.",
        ),
    ] {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name(ErrorEnvelope::name())))
                                .build(),
                        )
                        .build(),
                )
            });
    }
}
