//! One WebSocket session: a single task that reads client frames, writes queued frames,
//! pings, and closes on request, on shutdown or when the client goes quiet.
//!
//! The session handles one client frame at a time, to completion (stored, then
//! acknowledged), before it looks at shutdown: so a graceful shutdown acknowledges or
//! refuses every message, and never drops one half-way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;

use crate::config::ChatConfig;
use crate::messages::service::{SendError, HISTORY_PAGE};
use crate::messages::{ChatService, Conversation};
use crate::users::UserId;
use crate::ws::hub::{Hub, Registration, SocketKind};
use crate::ws::protocol::{self, ClientFrame};

/// Code of an error frame for a malformed frame (the seed's "bad parameters").
const BAD_FRAME: u32 = 400;

/// Everything a session needs.
pub struct Session {
    /// The authenticated user.
    pub user: UserId,
    /// What the socket is bound to.
    pub kind: SocketKind,
    /// The chat service.
    pub chat: ChatService,
    /// This node's sockets.
    pub hub: Arc<Hub>,
    /// Limits.
    pub limits: ChatConfig,
    /// A frame sent right after connecting, if any.
    pub welcome: Option<String>,
}

/// What handling one frame asks of the loop.
enum After {
    Continue,
    Close(u16, &'static str),
}

/// A token bucket: `rate` per second on average, `burst` at once.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst),
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Session {
    /// Runs the session until the socket closes.
    pub async fn run(self, socket: WebSocket) {
        let Registration {
            socket: me,
            mut rx,
            kill,
        } = self
            .hub
            .register(self.user, self.kind, self.limits.outbound_queue);
        if let Err(err) = self.chat.presence().connect(self.user).await {
            tracing::warn!(error = %err, "marking a user online failed");
        }
        let (mut sink, mut stream) = socket.split();
        let mut shutdown = self.hub.shutdown_signal();
        let mut ping = tokio::time::interval(Duration::from_secs(self.limits.ping_interval_secs));
        ping.tick().await;
        let idle = Duration::from_secs(self.limits.idle_timeout_secs);
        let mut last_heard = Instant::now();
        let mut bucket = Bucket::new(self.limits.messages_per_second, self.limits.message_burst);
        let mut invalid = 0u32;
        let mut state = State { session: &self, me };

        let mut close: Option<(u16, &'static str)> = None;
        if let Some(welcome) = &self.welcome {
            if sink.send(text(welcome.clone())).await.is_err() {
                close = Some((1011, ""));
            }
        }
        while close.is_none() {
            tokio::select! {
                biased;
                () = kill.fired() => close = Some(kill.close()),
                signalled = shutdown.wait_for(|stopping| *stopping).map(|r| r.is_ok()) => {
                    if !signalled { break; }
                    close = Some((1001, "server shutting down"));
                    // Frames that already arrived are refused out loud, so the client
                    // knows to send them again elsewhere (the same client_id is safe).
                    while let Some(Some(Ok(WsMessage::Text(body)))) = stream.next().now_or_never() {
                        let client_id = serde_json::from_str::<ClientFrame>(body.as_str())
                            .ok()
                            .and_then(|f| protocol::text_value(&f.client_id, "client_id").ok().flatten());
                        let refusal = protocol::error(
                            crate::error::Code::Fail.number(),
                            "server shutting down: not stored, send it again",
                            client_id.as_deref(),
                        );
                        if sink.send(text(refusal)).await.is_err() { break; }
                    }
                }
                queued = rx.recv() => match queued {
                    // A reader too slow to take this frame fills the queue meanwhile, and
                    // the hub fires the kill switch: the write must not outlast that.
                    Some(frame) => tokio::select! {
                        biased;
                        () = kill.fired() => close = Some(kill.close()),
                        sent = tokio::time::timeout(idle, sink.send(text(frame))) => {
                            if !matches!(sent, Ok(Ok(()))) { break; }
                        }
                    },
                    None => break,
                },
                incoming = stream.next() => {
                    let Some(Ok(incoming)) = incoming else { break };
                    last_heard = Instant::now();
                    let (replies, after) = match incoming {
                        WsMessage::Text(body) => {
                            state.handle(body.as_str(), &mut bucket).await
                        }
                        WsMessage::Binary(_) => (vec![protocol::notice(BAD_FRAME, "binary frames are not supported: send JSON text")], Err(())),
                        WsMessage::Close(_) => break,
                        WsMessage::Ping(_) | WsMessage::Pong(_) => (Vec::new(), Ok(After::Continue)),
                    };
                    let mut written = true;
                    for reply in replies {
                        let sent = tokio::time::timeout(idle, sink.send(text(reply))).await;
                        if !matches!(sent, Ok(Ok(()))) {
                            written = false;
                            break;
                        }
                    }
                    if !written { break; }
                    match after {
                        Ok(After::Continue) => invalid = 0,
                        Ok(After::Close(code, reason)) => close = Some((code, reason)),
                        Err(()) => {
                            invalid += 1;
                            if invalid >= self.limits.invalid_frame_limit {
                                close = Some((1008, "too many invalid frames"));
                            }
                        }
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle {
                        close = Some((1001, "no answer to pings"));
                    } else if sink.send(WsMessage::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
            }
        }
        if let Some((code, reason)) = close {
            // A full socket cannot take a close frame either; give it a moment, then drop.
            let farewell = async {
                let _ = sink
                    .send(WsMessage::Close(Some(CloseFrame {
                        code,
                        reason: Utf8Bytes::from(reason),
                    })))
                    .await;
                let _ = sink.close().await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), farewell).await;
        }
        self.hub.unregister(me.socket);
        if let Err(err) = self.chat.presence().disconnect(self.user).await {
            tracing::warn!(error = %err, "marking a user offline failed");
        }
    }
}

fn text(frame: String) -> WsMessage {
    WsMessage::Text(Utf8Bytes::from(frame))
}

struct State<'a> {
    session: &'a Session,
    me: crate::bus::SocketRef,
}

type Handled = (Vec<String>, Result<After, ()>);

fn bad(reason: impl Into<String>) -> Handled {
    (vec![protocol::notice(BAD_FRAME, &reason.into())], Err(()))
}

impl State<'_> {
    async fn handle(&mut self, body: &str, bucket: &mut Bucket) -> Handled {
        let limits = &self.session.limits;
        if body.len() > limits.max_frame_bytes {
            return bad(format!(
                "frame larger than {} bytes",
                limits.max_frame_bytes
            ));
        }
        let frame: ClientFrame = match serde_json::from_str::<Value>(body) {
            Ok(Value::Object(map)) => match serde_json::from_value(Value::Object(map)) {
                Ok(frame) => frame,
                Err(err) => return bad(format!("invalid frame: {err}")),
            },
            Ok(_) => return bad("a frame must be a JSON object"),
            Err(err) => return bad(format!("invalid JSON: {err}")),
        };
        let client_id = match protocol::text_value(&frame.client_id, "client_id") {
            Ok(id) if id.as_ref().is_some_and(|s| s.chars().count() > 128) => {
                return bad("client_id must be at most 128 characters")
            }
            Ok(id) => id,
            Err(reason) => return bad(reason),
        };
        match self.session.kind {
            SocketKind::Group(group) => self.group(group, &frame, client_id, bucket).await,
            SocketKind::Inbox | SocketKind::Direct(_) => {
                self.direct(&frame, client_id, bucket).await
            }
        }
    }

    fn peer(&self, frame: &ClientFrame) -> Result<UserId, Handled> {
        let to = protocol::id_value(&frame.to, "to").map_err(bad)?;
        match (self.session.kind, to) {
            (SocketKind::Direct(peer), None) => Ok(peer),
            (SocketKind::Direct(peer), Some(to)) if to == peer => Ok(peer),
            (SocketKind::Direct(_), Some(_)) => Err(bad(
                "this socket is bound to toUid; \"to\" names someone else",
            )),
            (_, Some(to)) => Ok(to),
            (_, None) => Err(bad(
                "\"to\" is required on an inbox socket (or connect with toUid)",
            )),
        }
    }

    async fn direct(
        &mut self,
        frame: &ClientFrame,
        client_id: Option<String>,
        bucket: &mut Bucket,
    ) -> Handled {
        let user = self.session.user;
        let chat = &self.session.chat;
        match frame.kind {
            Some(1) => {
                let peer = match self.peer(frame) {
                    Ok(peer) => peer,
                    Err(handled) => return handled,
                };
                let content = match sendable(frame, client_id.as_deref(), bucket) {
                    Ok(content) => content,
                    Err(handled) => return handled,
                };
                let reply = match chat
                    .send_direct(user, peer, &content, client_id.clone(), Some(self.me))
                    .await
                {
                    Ok(sent) => protocol::direct_ack(&sent.message, sent.recipient_online),
                    Err(err) => send_error(err, client_id.as_deref()),
                };
                (vec![reply], Ok(After::Continue))
            }
            Some(2) => {
                let peer = match self.peer(frame) {
                    Ok(peer) => peer,
                    Err(handled) => return handled,
                };
                let conversation = Conversation::direct(user, peer);
                let page = match self.page(frame, conversation).await {
                    Ok(page) => page,
                    Err(handled) => return handled,
                };
                history_page(&page, |m| protocol::direct_history(m, user))
            }
            Some(3) => {
                let peer = match self.peer(frame) {
                    Ok(peer) => peer,
                    Err(handled) => return handled,
                };
                match chat
                    .take_unread(Conversation::direct(user, peer), user)
                    .await
                {
                    Ok(unread) => {
                        let mut replies: Vec<String> = unread
                            .iter()
                            .map(|m| protocol::direct_history(m, user))
                            .collect();
                        replies.push(protocol::end());
                        (replies, Ok(After::Continue))
                    }
                    Err(err) => (
                        vec![protocol::error(
                            err.code().number(),
                            &err.public_reason(),
                            None,
                        )],
                        Ok(After::Continue),
                    ),
                }
            }
            Some(other) => bad(format!("unknown type {other}: 1 send, 2 history, 3 unread")),
            None => bad("type is required: 1 send, 2 history, 3 unread"),
        }
    }

    async fn group(
        &mut self,
        group: i64,
        frame: &ClientFrame,
        client_id: Option<String>,
        bucket: &mut Bucket,
    ) -> Handled {
        let user = self.session.user;
        let chat = &self.session.chat;
        match frame.kind {
            None | Some(1) => {
                let content = match sendable(frame, client_id.as_deref(), bucket) {
                    Ok(content) => content,
                    Err(handled) => return handled,
                };
                match chat
                    .send_group(user, group, &content, client_id.clone(), Some(self.me))
                    .await
                {
                    Ok(sent) => (
                        vec![protocol::group_ack(&sent.message, group)],
                        Ok(After::Continue),
                    ),
                    Err(SendError::Failed(crate::Error::NoGroup(_))) => (
                        vec![protocol::error(
                            30009,
                            "not a member of this group",
                            client_id.as_deref(),
                        )],
                        Ok(After::Close(1008, "no longer a member of this group")),
                    ),
                    Err(err) => (
                        vec![send_error(err, client_id.as_deref())],
                        Ok(After::Continue),
                    ),
                }
            }
            Some(2) => {
                let page = match self.page(frame, Conversation::Group(group)).await {
                    Ok(page) => page,
                    Err(handled) => return handled,
                };
                history_page(&page, |m| protocol::group_delivery(m, group))
            }
            Some(other) => bad(format!("unknown type {other}: 1 send, 2 history")),
        }
    }

    /// Type 2: `before` (a message id) pages backwards; otherwise `content` is unix
    /// seconds T (unparsable: the beginning of time) and the page is the messages after T.
    async fn page(
        &self,
        frame: &ClientFrame,
        conversation: Conversation,
    ) -> Result<Vec<crate::messages::Message>, Handled> {
        let chat = &self.session.chat;
        let before = protocol::id_value(&frame.before, "before").map_err(bad)?;
        let result = match before {
            Some(before) => chat.history_before(conversation, before).await,
            None => {
                let after = match &frame.content {
                    Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
                    Some(Value::String(s)) => s.trim().parse::<i64>().unwrap_or(0),
                    _ => 0,
                };
                chat.history_after(conversation, after.max(0)).await
            }
        };
        result.map_err(|err| {
            (
                vec![protocol::error(
                    err.code().number(),
                    &err.public_reason(),
                    None,
                )],
                Ok(After::Continue),
            )
        })
    }
}

/// A history page as frames; the end marker follows a page that is not full, since no
/// more messages follow it.
fn history_page(
    page: &[crate::messages::Message],
    render: impl Fn(&crate::messages::Message) -> String,
) -> Handled {
    let mut replies: Vec<String> = page.iter().map(render).collect();
    if (page.len() as u32) < HISTORY_PAGE {
        replies.push(protocol::end());
    }
    (replies, Ok(After::Continue))
}

/// The text of a send frame, if it has one and the sender is within its rate.
fn sendable(
    frame: &ClientFrame,
    client_id: Option<&str>,
    bucket: &mut Bucket,
) -> Result<String, Handled> {
    let content = match protocol::text_value(&frame.content, "content") {
        Ok(Some(content)) => content,
        Ok(None) => return Err(bad("content is required")),
        Err(reason) => return Err(bad(reason)),
    };
    if !bucket.take() {
        // Not an invalid frame: the client may simply retry later.
        return Err((
            vec![protocol::error(
                30019,
                "too many messages: slow down",
                client_id,
            )],
            Ok(After::Continue),
        ));
    }
    Ok(content)
}

fn send_error(err: SendError, client_id: Option<&str>) -> String {
    match err {
        SendError::Rejected { code, reason } => protocol::error(code, &reason, client_id),
        SendError::Failed(err) => {
            protocol::error(err.code().number(), &err.public_reason(), client_id)
        }
    }
}
