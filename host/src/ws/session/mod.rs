//! One WebSocket session: a single task that reads client frames, writes queued frames,
//! pings, and closes on request, on shutdown or when the client goes quiet.
//!
//! The session is pipelined: it reads the next frame while earlier ones are being stored.
//! Each frame read becomes an answer in one ordered queue ([`FuturesOrdered`]), so answers
//! go out in the order the frames came in, and a sender's messages are handed to the writer
//! in that order too. At most `window` frames wait for their answers; past that the session
//! stops reading (backpressure on the client's TCP connection) rather than buffering.
//!
//! The loop is generic over a `Sink` and a `Stream` of WebSocket messages, so the unit
//! tests below drive it without a socket.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures::stream::FuturesOrdered;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};

use crate::config::ChatConfig;
use crate::error::Code;
use crate::messages::ChatService;
use crate::users::UserId;
use crate::ws::hub::{Admission, Hub, QueueLimits, Registration, SocketKind};
use crate::ws::protocol::{self, ServerFrame};

mod changes;
mod handle;
#[cfg(test)]
mod tests;

/// Everything a session needs.
pub struct Session {
    /// The authenticated user.
    pub user: UserId,
    /// What the socket is bound to.
    pub kind: SocketKind,
    /// The client's address, when known.
    pub address: Option<IpAddr>,
    /// When the access token the socket opened with expires (unix seconds); the socket
    /// closes with 4001 then, unless the client renews it (type 9).
    pub token_expires: i64,
    /// What every session of the node shares.
    pub context: Arc<Context>,
    /// Whether to greet the client with the welcome frame (private sockets).
    pub welcome: bool,
}

/// What every session of a node shares, behind one pointer: each socket's task keeps its
/// session for its whole life, and a chat server's sockets are mostly idle, so what is the
/// same for all of them is not copied into each.
pub struct Context {
    /// Checks the tokens a client renews the socket with.
    pub renewal: Arc<dyn Renewal>,
    /// The chat service.
    pub chat: ChatService,
    /// This node's sockets.
    pub hub: Arc<Hub>,
    /// Limits.
    pub limits: ChatConfig,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// Checks a fresh access token sent over a socket (type 9).
#[async_trait::async_trait]
pub trait Renewal: Send + Sync {
    /// The token's user and expiry (unix seconds), or why it is refused.
    async fn renew(&self, token: &str) -> crate::error::Result<(UserId, i64)>;
}

#[async_trait::async_trait]
impl Renewal for crate::users::UserService {
    async fn renew(&self, token: &str) -> crate::error::Result<(UserId, i64)> {
        let (caller, expires) = self.authenticate_until(token).await?;
        Ok((caller.id, expires))
    }
}

/// What an answered frame asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A well-formed frame: the count of invalid frames starts over.
    Valid,
    /// A malformed frame: it counts towards `invalid_frame_limit`.
    Invalid,
    /// Close the socket after writing the answer.
    Close(u16, &'static str),
    /// A renewed token: the socket now expires at this unix second.
    Renewed(i64),
}

/// The frames answering one client frame.
struct Reply {
    frames: Vec<Utf8Bytes>,
    outcome: Outcome,
}

impl Reply {
    fn valid(frames: Vec<Utf8Bytes>) -> Self {
        Self {
            frames,
            outcome: Outcome::Valid,
        }
    }

    fn invalid(reason: &str) -> Self {
        Self {
            frames: vec![ServerFrame::BadFrame(reason).encode()],
            outcome: Outcome::Invalid,
        }
    }
}

/// An answer still being worked out (a message being stored, a history query).
type Answer = Pin<Box<dyn Future<Output = Reply> + Send>>;

fn ready(reply: Reply) -> Answer {
    Box::pin(std::future::ready(reply))
}

/// A token bucket: `rate` per second on average, `burst` at once; and when the socket
/// last passed on a typing notice.
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
    typed: Option<Instant>,
}

impl Bucket {
    fn new(rate: u32, burst: u32) -> Self {
        Self {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst),
            at: Instant::now(),
            typed: None,
        }
    }

    /// Whether a typing notice may go out now: one per [`TYPING_EVERY`] per socket.
    fn typing(&mut self) -> bool {
        let now = Instant::now();
        if self
            .typed
            .is_some_and(|at| now.duration_since(at) < TYPING_EVERY)
        {
            return false;
        }
        self.typed = Some(now);
        true
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

/// The least time between two typing notices a socket passes on; more are dropped.
const TYPING_EVERY: Duration = Duration::from_secs(2);

/// Most queued frames written before the socket is flushed.
const WRITE_BATCH: usize = 64;

impl Session {
    /// Runs the session on a WebSocket until it closes.
    pub async fn run(self, socket: WebSocket) {
        let (sink, stream) = socket.split();
        self.drive(sink, stream).await;
    }

    /// Runs the session on any sink and stream of WebSocket messages until it closes.
    pub async fn drive<S, R, E>(self, mut sink: S, mut stream: R)
    where
        S: Sink<WsMessage> + Unpin + Send,
        R: Stream<Item = Result<WsMessage, E>> + Unpin + Send,
    {
        let admission = Admission {
            user: self.user,
            kind: self.kind,
            address: self.address,
            queue: QueueLimits {
                frames: self.context.limits.outbound_queue,
                bytes: self.context.limits.outbound_queue_bytes,
            },
        };
        let Registration {
            socket: me,
            outbox,
            kill,
        } = match self.context.hub.register(admission) {
            Ok(registration) => registration,
            Err(refused) => {
                self.context.hub.count_close(refused.code);
                farewell(&mut sink, refused.code, refused.reason).await;
                return;
            }
        };
        if let Err(err) = self.context.chat.presence().connect(self.user).await {
            tracing::warn!(error = %err, "marking a user online failed");
        }
        let mut shutdown = self.context.hub.shutdown_signal();
        let mut ping =
            tokio::time::interval(Duration::from_secs(self.context.limits.ping_interval_secs));
        ping.tick().await;
        let idle = Duration::from_secs(self.context.limits.idle_timeout_secs);
        let window = self.context.limits.window.max(1);
        let mut last_heard = Instant::now();
        let mut bucket = Bucket::new(
            self.context.limits.messages_per_second,
            self.context.limits.message_burst,
        );
        let mut invalid = 0u32;
        let mut answers: FuturesOrdered<Answer> = FuturesOrdered::new();
        let expiry = tokio::time::sleep_until(deadline(self.token_expires));
        tokio::pin!(expiry);

        let mut close: Option<(u16, &'static str)> = None;
        if self.welcome && !write(&mut sink, vec![ServerFrame::Welcome.encode()], idle).await {
            close = Some((1011, ""));
        }
        while close.is_none() {
            tokio::select! {
                biased;
                () = kill.fired() => close = Some(kill.close()),
                () = &mut expiry => close = Some(TOKEN_EXPIRED),
                signalled = shutdown.wait_for(|stopping| *stopping).map(|r| r.is_ok()) => {
                    if !signalled { break; }
                    close = Some((1001, "server shutting down"));
                    // Every frame taken in gets its answer: stored ones their ack.
                    while let Some(reply) = answers.next().await {
                        if !write(&mut sink, reply.frames, idle).await { break; }
                    }
                    // Frames that arrived but were not read yet are refused out loud, so
                    // the client knows to send them again elsewhere (the same client_id
                    // is safe).
                    let mut refusals = Vec::new();
                    while let Some(Some(Ok(WsMessage::Text(body)))) = stream.next().now_or_never() {
                        let client_id = protocol::client_id_of(body.as_str());
                        refusals.push(ServerFrame::Error {
                            code: Code::Fail.number(),
                            content: "server shutting down: not stored, send it again",
                            client_id: client_id.as_deref(),
                        }.encode());
                    }
                    let _ = write(&mut sink, refusals, idle).await;
                }
                Some(reply) = answers.next(), if !answers.is_empty() => {
                    let mut frames = Vec::new();
                    let mut next = Some(reply);
                    // Answers that are ready too go out with this one, in one flush.
                    while let Some(reply) = next.take() {
                        frames.extend(reply.frames);
                        match reply.outcome {
                            Outcome::Valid => invalid = 0,
                            Outcome::Renewed(until) => {
                                invalid = 0;
                                expiry.as_mut().reset(deadline(until));
                            }
                            Outcome::Close(code, reason) => {
                                close = Some((code, reason));
                                break;
                            }
                            Outcome::Invalid => {
                                invalid += 1;
                                if invalid >= self.context.limits.invalid_frame_limit {
                                    close = Some((1008, "too many invalid frames"));
                                    break;
                                }
                            }
                        }
                        if frames.len() < WRITE_BATCH {
                            next = answers.next().now_or_never().flatten();
                        }
                    }
                    if !write(&mut sink, frames, idle).await { break; }
                }
                queued = outbox.recv() => {
                    let Some(frame) = queued else { break };
                    let mut frames = vec![frame];
                    while frames.len() < WRITE_BATCH {
                        match outbox.try_recv() {
                            Some(frame) => frames.push(frame),
                            None => break,
                        }
                    }
                    // A reader too slow to take these fills the queue meanwhile, and the
                    // hub fires the kill switch: the write must not outlast that.
                    tokio::select! {
                        biased;
                        () = kill.fired() => close = Some(kill.close()),
                        sent = write(&mut sink, frames, idle) => if !sent { break },
                    }
                }
                incoming = stream.next(), if answers.len() < window => {
                    let Some(Ok(incoming)) = incoming else { break };
                    last_heard = Instant::now();
                    match incoming {
                        WsMessage::Text(body) => {
                            // Boxed, so an idle session's future does not carry the
                            // state of a frame being handled (memory per socket).
                            let answer = Box::pin(self.handle(body.as_str(), &mut bucket, me)).await;
                            answers.push_back(answer);
                        }
                        WsMessage::Binary(_) => answers.push_back(ready(Reply::invalid(
                            "binary frames are not supported: send JSON text",
                        ))),
                        WsMessage::Close(_) => break,
                        // Control frames say the client is alive (`last_heard`), but are
                        // no good frames: the count of invalid ones stands.
                        WsMessage::Ping(_) | WsMessage::Pong(_) => {}
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
            self.context.hub.count_close(code);
            farewell(&mut sink, code, reason).await;
            // RFC 6455 §5.5.1: the server waits for the client's close frame before it
            // drops the connection, so a client still writing reads everything sent before
            // the close (its refusals, its acks, the close itself) rather than a reset.
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                while let Some(Ok(message)) = stream.next().await {
                    if matches!(message, WsMessage::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        self.context.hub.unregister(me.socket);
        if let Err(err) = self.context.chat.presence().disconnect(self.user).await {
            tracing::warn!(error = %err, "marking a user offline failed");
        }
    }
}

/// How long a closing socket waits for the client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The close of a socket whose access token expired without being renewed.
pub const TOKEN_EXPIRED: (u16, &str) =
    (4001, "access token expired: renew it (type 9) or reconnect");

/// The instant a unix second falls on (now, if it has passed).
fn deadline(unix_secs: i64) -> tokio::time::Instant {
    let left = unix_secs.saturating_sub(chrono::Utc::now().timestamp());
    let left = Duration::from_secs(u64::try_from(left).unwrap_or(0));
    tokio::time::Instant::now() + left.min(Duration::from_secs(100 * 365 * 86_400))
}

/// How long a socket closed for reading too slowly (1013) has to read down to its close
/// frame: what it was sent before the close is still on its way, and the reader learns why
/// the socket closed only once it has read that far.
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Sends a close frame. A full socket cannot take it either: it gets a moment (a slow
/// reader [`SLOW_CLOSE_GRACE`]), then is dropped.
async fn farewell<S>(sink: &mut S, code: u16, reason: &'static str)
where
    S: Sink<WsMessage> + Unpin,
{
    let grace = if code == 1013 {
        SLOW_CLOSE_GRACE
    } else {
        Duration::from_secs(2)
    };
    let close = async {
        let _ = sink
            .send(WsMessage::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            })))
            .await;
        let _ = sink.close().await;
    };
    let _ = tokio::time::timeout(grace, close).await;
}

/// Writes frames and flushes once; false if the socket failed or stalled past `idle`.
async fn write<S>(sink: &mut S, frames: Vec<Utf8Bytes>, idle: Duration) -> bool
where
    S: Sink<WsMessage> + Unpin,
{
    if frames.is_empty() {
        return true;
    }
    let all = async {
        for frame in frames {
            sink.feed(WsMessage::Text(frame)).await?;
        }
        sink.flush().await
    };
    matches!(tokio::time::timeout(idle, all).await, Ok(Ok(())))
}
