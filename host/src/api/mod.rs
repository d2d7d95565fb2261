//! The REST edge: the router, shared state, the request plumbing every handler uses, and
//! the accept loop that serves them (`serve`).
//!
//! Only this module knows HTTP. Handlers extract parameters, call one service method and
//! answer with the seed's envelope; every failure, including unknown routes, wrong methods
//! and panics, answers with the envelope too.

use std::any::Any;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use tracing::Level;

use crate::error::Error;
use crate::friends::FriendService;
use crate::groups::GroupService;
use crate::messages::ChatService;
use crate::uploads::Uploads;
use crate::users::UserService;
use crate::ws::Hub;
use std::sync::Arc;

use routes::{delete, get, post, put, Routes};

mod admin;
pub mod admin_client;
pub mod auth;
pub mod backup;
mod blocks;
mod conversations;
pub mod cors;
pub mod envelope;
mod friends;
mod groups;
pub mod health;
mod metrics;
mod moderation;
pub mod observe;
pub mod openapi;
mod operator;
pub mod paging;
pub mod params;
mod readers;
pub mod routes;
mod search;
pub mod serve;
pub mod throttle;
mod uploads;
mod users;
mod web;

/// Limits applied while reading requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body that is not a file upload, in bytes.
    pub max_body_bytes: u64,
}

/// Everything a handler can reach; cheap to clone.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// Accounts.
    pub users: UserService,
    /// Friend lists.
    pub friends: FriendService,
    /// Groups.
    pub groups: GroupService,
    /// Conversation lists and friends' presence.
    pub conversations: crate::conversations::ConversationService,
    /// Blocks between users and mutes in groups.
    pub blocks: crate::blocks::BlockService,
    /// Uploaded files.
    pub uploads: Uploads,
    /// Request limits.
    pub limits: Limits,
    /// Chat.
    pub chat: ChatService,
    /// This node's sockets.
    pub hub: Arc<Hub>,
    /// What every WebSocket session of the node shares.
    pub sockets: Arc<crate::ws::session::Context>,
    /// Chat limits.
    pub chat_limits: crate::config::ChatConfig,
    /// The shared online list, when several nodes form one service.
    pub cluster: Option<Arc<crate::presence::RedisPresence>>,
    /// WebAssembly plugins.
    pub plugins: crate::plugins::Plugins,
    /// The bearer token of `/admin/` and `/metrics`.
    pub admin_token: Arc<str>,
    /// Request throttles of the account and operator routes.
    pub throttles: throttle::Throttles,
    /// Message search.
    pub search: crate::messages::search::SearchService,
    /// The audit log of operator actions.
    pub audit: crate::audit::AuditLog,
    /// This node's metrics (requests, sockets, messages, commits, bus).
    pub metrics: crate::metrics::Metrics,
    /// The bearer token of `/metrics` (`[metrics] token`); `None`: the admin token's.
    pub metrics_token: Option<Arc<str>>,
    /// Origins whose browser pages may call the API (`[server] cors_origins`).
    pub origins: cors::Origins,
    /// What `/readyz` checks.
    pub readiness: health::Readiness,
}

/// Every path and method the router serves.
pub fn route_table() -> Vec<routes::Route> {
    routes().into_parts().1
}

/// The routes of the API, before state and layers.
fn routes() -> Routes {
    Routes::new()
        .route("/user/ping", get(ping))
        .route("/user/register", get(users::register).post(users::register))
        .route("/user/login", get(users::login).post(users::login))
        .route("/user/refresh", post(users::refresh))
        .route("/user/logout", post(users::logout))
        .route("/user/me", get(users::me))
        .route("/user/find", get(users::find).post(users::find))
        .route("/user/delete", delete(users::delete).post(users::delete))
        .route("/user/emailCheck", post(users::email_check))
        .route("/user/update", put(users::update).post(users::update))
        .route("/user/upload", post(uploads::upload))
        .route("/user/block", post(blocks::block))
        .route("/user/unblock", post(blocks::unblock))
        .route("/user/blocks", get(blocks::list))
        .route("/upload/{bucket}/{name}", get(uploads::serve))
        .route("/friend/add", post(friends::add))
        .route("/friend/list", get(friends::list))
        .route("/friend/presence", get(conversations::presence))
        .route(
            "/friend/delete",
            post(friends::delete).delete(friends::delete),
        )
        .route("/group/create", post(groups::create))
        .route("/group/join", post(groups::join))
        .route("/group/mine", get(groups::mine))
        .route("/group/joined", get(groups::joined))
        .route("/group/delete", delete(groups::leave).post(groups::leave))
        .route("/group/members", get(groups::members))
        .route("/group/role", post(groups::set_role))
        .route("/group/remove", post(groups::remove))
        .route("/group/bans", get(groups::bans))
        .route("/group/unban", post(groups::unban))
        .route("/group/history_visibility", post(groups::set_history))
        .route("/group/mute", post(blocks::mute))
        .route("/group/unmute", post(blocks::unmute))
        .route("/group/mute_all", post(blocks::mute_all))
        .route("/group/unmute_all", post(blocks::unmute_all))
        .route("/group/mutes", get(blocks::mutes))
        .route("/chat/ws", get(crate::ws::private))
        .route("/chat/group_ws", get(crate::ws::group))
        .route("/chat/conversations", get(conversations::list))
        .route("/chat/readers", get(readers::readers))
        .route("/chat/search", get(search::search))
        // Operator routes, behind the admin token. The plugin upload reads its own parts
        // under its own caps, like /user/upload.
        .route("/admin/plugins", get(admin::list).post(admin::install))
        .route(
            "/admin/plugins/{name}",
            get(admin::show).put(admin::replace).delete(admin::remove),
        )
        .route("/admin/plugins/{name}/enable", post(admin::enable))
        .route("/admin/plugins/{name}/disable", post(admin::disable))
        .route("/admin/plugins/{name}/reload", post(admin::reload))
        .route(
            "/admin/plugins/{name}/config",
            get(admin::config).put(admin::set_config),
        )
        .route("/admin/verdicts", get(admin::verdicts))
        .route("/admin/invites", post(admin::invites))
        .route("/admin/users", get(moderation::find_users))
        .route(
            "/admin/users/{id}",
            get(moderation::show_user).delete(moderation::delete_user),
        )
        .route("/admin/users/{id}/ban", post(moderation::ban))
        .route("/admin/users/{id}/unban", post(moderation::unban))
        .route("/admin/groups/{id}", delete(moderation::dissolve_group))
        .route("/admin/messages/{id}", delete(moderation::remove_message))
        .route("/admin/audit", get(moderation::audit))
        .route("/admin/backup", post(backup::take))
        .route("/metrics", get(metrics::metrics))
        // Probes, open to all and telling nothing but which check failed.
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // The browser client and the operator console (host/web/, compiled in).
        .route("/", get(web::client))
        .route("/admin", get(web::console))
        .route("/admin/", get(web::console))
        .route("/assets/{file}", get(web::asset))
        // The contract of these routes.
        .route("/openapi.json", get(openapi::serve))
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let (routes, _) = routes().into_parts();
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.throttles.clone(),
            throttle::guard_operator_routes,
        ))
        // Bodies are capped by the parameter reader, which knows the right cap per part.
        .layer(DefaultBodyLimit::disable())
        .layer(CatchPanicLayer::custom(panic_response))
        // Preflights are answered here; without configured origins this adds nothing.
        .layer(tower::util::option_layer(cors::layer(&state.origins)))
        .layer(axum::middleware::from_fn_with_state(
            state.origins.clone(),
            cors::guard_socket_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            observe::record,
        ))
        .layer(axum::middleware::from_fn(observe::scope_request_id))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| observe::span(req))
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                )
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(Level::WARN)),
        )
        // The request id first, so the span, the handler and the answer all have it.
        .layer(observe::propagate_request_id())
        .layer(observe::set_request_id())
        .layer(axum::middleware::from_fn_with_state(
            state.throttles.clone(),
            observe::trust_request_id,
        ))
        .with_state(state)
}

/// `GET /user/ping`: liveness, in the envelope.
#[utoipa::path(
    get,
    path = "/user/ping",
    tag = "probes",
    summary = "Liveness, in the envelope",
    responses((status = 200, description = "The server answers: `data` is \"success\"", body = openapi::schemas::Envelope<String>)),
)]
async fn ping() -> Response {
    envelope::ok("success")
}

async fn not_found() -> Response {
    Error::NotFound("no such route").into_response()
}

async fn method_not_allowed() -> Response {
    Error::MethodNotAllowed.into_response()
}

fn panic_response(cause: Box<dyn Any + Send + 'static>) -> Response {
    let text = cause
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    let mut response = Error::Internal(anyhow::anyhow!("handler panicked: {text}")).into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
