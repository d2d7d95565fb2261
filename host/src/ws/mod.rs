//! The WebSocket edge: `/chat/ws` (private) and `/chat/group_ws` (group).
//!
//! Authentication and membership are checked before the upgrade, so a refused client gets
//! an HTTP answer in the envelope instead of a socket.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::throttle::ClientAddr;
use crate::api::AppState;
use crate::error::{Error, Result};
use crate::users::Caller;

pub mod change_frames;
pub mod hub;
pub mod limits;
pub mod outbox;
pub mod protocol;
pub mod session;

pub use hub::{Hub, SocketKind};

/// Hard ceiling for one WebSocket message, above the per-frame limit that gets an error
/// frame: past this the WebSocket layer refuses to read further and the connection is
/// dropped, since such a frame cannot be an honest mistake.
const HARD_FRAME_FACTOR: usize = 4;

/// Initial read buffer of a socket, in bytes.
const READ_BUFFER: usize = 4096;

fn query(raw: Option<String>) -> Result<HashMap<String, String>> {
    match raw {
        None => Ok(HashMap::new()),
        Some(q) => serde_urlencoded::from_str(&q)
            .map_err(|e| Error::invalid(format!("malformed query string: {e}"))),
    }
}

fn id_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>> {
    match q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("{name} must be a positive id, not {v:?}"))),
    }
}

/// The caller, from the `Authorization` header or the `token` query parameter, and when
/// that token expires (unix seconds); a `uid` parameter must name the same user.
async fn caller(
    state: &AppState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<(Caller, i64)> {
    let token = match crate::api::auth::bearer(headers)? {
        Some(token) => token,
        None => q
            .get("token")
            .filter(|t| !t.is_empty())
            .cloned()
            .ok_or(Error::MissingToken)?,
    };
    let (caller, expires) = state.users.authenticate_until(&token).await?;
    if let Some(uid) = q.get("uid").filter(|u| !u.is_empty()) {
        if uid.trim() != caller.id.to_string() {
            return Err(Error::InvalidToken("uid does not match the token's user"));
        }
    }
    Ok((caller, expires))
}

/// Who is connecting and from where.
struct Client {
    caller: Caller,
    expires: i64,
    address: Option<IpAddr>,
}

fn upgrade(
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade> {
    ws.map_err(|_| Error::invalid("this route needs a WebSocket upgrade request"))
}

/// `GET /chat/ws?toUid=B`: the conversation with B; without `toUid`, the user's inbox.
#[utoipa::path(
    get,
    path = "/chat/ws",
    tag = "chat",
    summary = "Open a private socket: a conversation, or the inbox",
    description = "A WebSocket upgrade. The token, the parameters and the peer are checked \
        before the upgrade, so a refused client gets an HTTP answer in the envelope: 401 \
        without a valid token or with another user's `uid`, 400 for a malformed `toUid`, a \
        `toUid` naming the caller, or a request that is not an upgrade, 403 when the page's \
        origin may not open sockets here.",
    security(("bearer" = [])),
    params(
        ("token" = Option<String>, Query, description = "The access token, instead of the Authorization header (which browsers cannot set on a WebSocket)"),
        ("toUid" = Option<i64>, Query, minimum = 1, description = "The peer of a conversation socket; without it, the caller's inbox"),
        ("uid" = Option<i64>, Query, description = "The caller's own id; any other is refused"),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the socket is open. Its frames are described by docs/schema/ws-frames.schema.json, and explained in docs/protocol.md (WebSockets)."),
        (status = 200, description = "Refused with code 30011: `toUid` names no user", body = crate::api::openapi::schemas::ErrorEnvelope),
        (status = 403, description = "Refused with code 30012: the page's origin may not open WebSockets on this server", body = crate::api::openapi::schemas::ErrorEnvelope),
    ),
)]
pub async fn private(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddr(address): ClientAddr,
    RawQuery(raw): RawQuery,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response> {
    let q = query(raw)?;
    let (caller, expires) = caller(&state, &headers, &q).await?;
    let kind = match id_param(&q, "toUid")? {
        None => SocketKind::Inbox,
        Some(peer) if peer == caller.id => return Err(Error::invalid("toUid cannot be yourself")),
        Some(peer) => {
            if !state.chat.user_exists(peer).await? {
                return Err(Error::UserNotFound);
            }
            SocketKind::Direct(peer)
        }
    };
    let ws = upgrade(ws)?;
    let client = Client {
        caller,
        expires,
        address: Some(address),
    };
    Ok(start(state, ws, client, kind, true))
}

/// `GET /chat/group_ws?group_id=G`: a member's socket for group G.
#[utoipa::path(
    get,
    path = "/chat/group_ws",
    tag = "chat",
    summary = "Open a member's socket for a group",
    description = "A WebSocket upgrade. The token, the parameters and the membership are \
        checked before the upgrade, so a refused client gets an HTTP answer in the envelope: \
        401 without a valid token or with another user's `uid`, 400 for a missing or \
        malformed `group_id` or a request that is not an upgrade, 403 for a group the caller \
        is not a member of (or no such group), or a page's origin that may not open sockets \
        here.",
    security(("bearer" = [])),
    params(
        ("token" = Option<String>, Query, description = "The access token, instead of the Authorization header (which browsers cannot set on a WebSocket)"),
        ("group_id" = i64, Query, minimum = 1, description = "The group"),
        ("uid" = Option<i64>, Query, description = "The caller's own id; any other is refused"),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the socket is open. Its frames are described by docs/schema/ws-frames.schema.json, and explained in docs/protocol.md (WebSockets)."),
        (status = 403, description = "Refused: 30009 when the caller is not a member of the group (or there is no such group), 30012 when the page's origin may not open WebSockets on this server", body = crate::api::openapi::schemas::ErrorEnvelope),
    ),
)]
pub async fn group(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddr(address): ClientAddr,
    RawQuery(raw): RawQuery,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response> {
    let q = query(raw)?;
    let (caller, expires) = caller(&state, &headers, &q).await?;
    let group = id_param(&q, "group_id")?.ok_or_else(|| Error::invalid("group_id is required"))?;
    if !state.chat.is_member(group, caller.id).await? {
        let mut response = Error::NoGroup("no such group, or not a member of it").into_response();
        *response.status_mut() = StatusCode::FORBIDDEN;
        return Ok(response);
    }
    let ws = upgrade(ws)?;
    let client = Client {
        caller,
        expires,
        address: Some(address),
    };
    Ok(start(state, ws, client, SocketKind::Group(group), false))
}

fn start(
    state: AppState,
    ws: WebSocketUpgrade,
    client: Client,
    kind: SocketKind,
    welcome: bool,
) -> Response {
    let limits = &state.chat_limits;
    let hub = state.hub.clone();
    let session = session::Session {
        user: client.caller.id,
        kind,
        address: client.address,
        token_expires: client.expires,
        context: state.sockets.clone(),
        welcome,
    };
    // The socket runs in a task of its own: it keeps the upgrade request's id, so its
    // plugin verdicts and error lines name the request that opened it. Not its span:
    // entering a span on every poll would cost the message path the log filter's lock.
    let request = crate::telemetry::request_id();
    // The default 128 KiB read buffer per socket dominated the memory of idle
    // connections; frames are small, and the buffer grows when one is not.
    ws.read_buffer_size(READ_BUFFER)
        .max_message_size(limits.max_frame_bytes * HARD_FRAME_FACTOR)
        .max_frame_size(limits.max_frame_bytes * HARD_FRAME_FACTOR)
        .on_upgrade(move |socket| {
            let run = crate::telemetry::with_request_id(request, session.run(socket));
            hub.tracker().track_future(run)
        })
}
