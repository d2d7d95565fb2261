//! Serving connections: the accept loop, HTTP/1.1 with upgrades, and how long and how many
//! connections the server holds for its clients.
//!
//! `axum::serve` has no limits of its own, so Confab accepts connections itself and hands
//! each to hyper:
//! - At most `server.max_connections` connections are open at once, WebSockets included.
//!   At the cap the loop stops accepting: a new connection waits in the kernel's listen
//!   backlog until another one closes, as with nginx's `worker_connections` or HAProxy's
//!   `maxconn`, and is served then; once the backlog is full the kernel refuses more.
//! - A request's headers must arrive within `server.header_timeout_secs`, counted from the
//!   connection's opening or, on a kept-alive connection, from the request's first byte.
//!   A connection that misses it is closed without an answer.
//! - A kept-alive connection that sends nothing for `server.keepalive_idle_secs` between
//!   requests is closed.
//! - A request body must keep coming: no pause longer than `server.body_timeout_secs`, and
//!   after that long at least `server.body_min_bytes_per_sec` on average. A body that
//!   falls behind fails with [`BodyTimeout`], which the API answers with 408.
//!
//! - An answer the client stops reading (a download it never takes) may wait
//!   `server.write_timeout_secs` for the client to take more of it; then the connection
//!   is closed. A slow reader that keeps taking bytes is never cut.
//!
//! While a request is being handled, and once a WebSocket is upgraded, nothing here cuts
//! the connection otherwise: handlers answer in their own time, and a socket is governed by
//! its own pings and idle timeout (`chat.ping_interval_secs`, `chat.idle_timeout_secs`).
//!
//! hyper's own `header_read_timeout` runs from the moment a connection waits for a request,
//! so it would be the keep-alive idle time as well; `Activity` keeps the two clocks apart.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::config::ServerConfig;

/// How long and how many connections the server holds for its clients (`[server]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// The most time a request's headers may take.
    pub header_timeout: Duration,
    /// The most time a kept-alive connection may wait, silent, for its next request.
    pub keepalive_idle: Duration,
    /// The longest pause in a request body, and its head start before the rate counts.
    pub body_timeout: Duration,
    /// The least average rate of a request body after `body_timeout`; 0: no minimum.
    pub body_min_bytes_per_sec: u64,
    /// The longest an answer may wait for the client to take more of it.
    pub write_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most bytes the kernel holds unsent per connection; 0: the kernel's default.
    pub unsent_bytes: u32,
}

impl ConnectionLimits {
    /// The limits configured under `[server]`.
    pub fn from_config(server: &ServerConfig) -> Self {
        Self {
            header_timeout: Duration::from_secs(server.header_timeout_secs),
            keepalive_idle: Duration::from_secs(server.keepalive_idle_secs),
            body_timeout: Duration::from_secs(server.body_timeout_secs),
            body_min_bytes_per_sec: server.body_min_bytes_per_sec,
            write_timeout: Duration::from_secs(server.write_timeout_secs),
            max_connections: server.max_connections,
            unsent_bytes: server.unsent_bytes,
        }
    }
}

/// A request body that paused too long or came too slowly.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// Files the process keeps for itself besides its connections: the database, logs,
/// uploads being written, plugins, the connections to MySQL, MongoDB and Redis.
#[cfg(unix)]
const SPARE_FILES: u64 = 256;

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// every connection finish the request it is on, and returns when all have closed.
/// Upgraded WebSockets are not waited for here: they left hyper at their upgrade.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    #[cfg(unix)]
    raise_open_file_limit(limits.max_connections);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A free slot first: while there is none, nothing is accepted, and new connections
        // wait in the listen backlog.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => {
                slot.expect("the connection semaphore is never closed")
            }
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
        };
        connections.spawn(connection(
            tcp,
            peer,
            slot,
            router.clone(),
            limits,
            stopping.clone(),
        ));
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
}

/// After a failed `accept`: a connection that was reset before it was accepted is nobody's
/// concern; anything else (out of file descriptors, most likely) is logged, and the loop
/// pauses so that it does not spin while connections close.
async fn accept_failed(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Bounds the bytes the kernel holds unsent, so a reader that stops reading backs up into
/// the server's own bounded queues, which notice it, and a close frame sent after that is
/// next in line once the reader reads again.
#[cfg(target_os = "linux")]
fn bound_unsent(tcp: &TcpStream, bytes: u32) {
    if bytes == 0 {
        return;
    }
    if let Err(err) = socket2::SockRef::from(tcp).set_tcp_notsent_lowat(bytes) {
        tracing::warn!(error = %err, "setting TCP_NOTSENT_LOWAT failed");
    }
}

#[cfg(not(target_os = "linux"))]
fn bound_unsent(_tcp: &TcpStream, _bytes: u32) {}

/// Serves one connection until it closes, its client misses a deadline, or a shutdown
/// has let its last request finish.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    router: Router,
    limits: ConnectionLimits,
    stopping: CancellationToken,
) {
    // Chat frames are small and latency-bound: Nagle's delay would hold the second of two
    // back-to-back frames for up to 40 ms.
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::warn!(error = %err, "setting TCP_NODELAY failed");
    }
    bound_unsent(&tcp, limits.unsent_bytes);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        tcp,
        activity: activity.clone(),
        _slot: slot,
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = Busy::start(activity.clone());
            let mut request = request.map(|body| Body::new(TimedBody::new(body, limits)));
            // The peer's address reaches handlers as axum's `ConnectInfo`.
            request.extensions_mut().insert(ConnectInfo(peer));
            let answer = router.clone().oneshot(request);
            async move {
                let response = answer.await.unwrap_or_else(|never| match never {});
                Ok::<_, Infallible>(response.map(|body| Answer { body, _busy: busy }))
            }
        })
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // `Activity` keeps the header and keep-alive clocks; hyper's own would need a timer.
    http.header_read_timeout(None);
    let conn = http.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = activity.deadline(&limits);
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                break;
            }
            () = sleep_until(deadline) => {
                if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%peer, "closing a connection that sent no request in time");
                    break;
                }
            }
            () = activity.changed.notified() => {}
            () = stopping.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    // An upgraded socket keeps the stream, and with it `Watched`, which stops reporting.
    activity.detached.store(true, Ordering::Relaxed);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What a connection is doing, for its header and keep-alive deadlines.
struct Activity {
    state: Mutex<Waiting>,
    /// Woken when the deadline may have changed.
    changed: Notify,
    /// Set once hyper is done with the connection (closed or upgraded).
    detached: AtomicBool,
}

struct Waiting {
    /// Requests being handled (at most one on HTTP/1.1, but counting is as cheap).
    busy: usize,
    /// When the connection last had no request in hand: its opening or the last answer.
    idle_since: Instant,
    /// When the first byte of the next request arrived; on a new connection, its opening,
    /// so that the header deadline runs from the start.
    head_since: Option<Instant>,
    /// Since when the client has taken none of an answer waiting to be written.
    write_stalled_since: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(Waiting {
                busy: 0,
                idle_since: now,
                head_since: Some(now),
                write_stalled_since: None,
            }),
            changed: Notify::new(),
            detached: AtomicBool::new(false),
        }
    }

    fn state(&self) -> MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the connection is to be closed if no request has arrived by then; while a
    /// request is being handled, if the client has not taken more of its answer by then
    /// (`None` while nothing waits for the client).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let state = self.state();
        if state.busy > 0 {
            return state
                .write_stalled_since
                .map(|since| since + limits.write_timeout);
        }
        Some(match state.head_since {
            Some(first_byte) => first_byte + limits.header_timeout,
            None => state.idle_since + limits.keepalive_idle,
        })
    }

    /// Bytes arrived: between requests, the next request has begun.
    fn bytes_arrived(&self) {
        if self.detached.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.state();
        if state.busy == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }
}

impl Activity {
    /// The client takes no more bytes: the write clock starts, unless it runs already.
    fn write_stalled(&self) {
        if self.detached.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.state();
        if state.write_stalled_since.is_none() {
            state.write_stalled_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// The client took bytes: the write clock stops. The connection's loop finds out when
    /// the old deadline passes, so nobody needs waking.
    fn write_moved(&self) {
        if self.detached.load(Ordering::Relaxed) {
            return;
        }
        self.state().write_stalled_since = None;
    }

    /// Reports what a write did to the write clock.
    fn wrote<T>(&self, polled: &Poll<io::Result<T>>) {
        match polled {
            Poll::Pending => self.write_stalled(),
            Poll::Ready(Ok(_)) => self.write_moved(),
            Poll::Ready(Err(_)) => {}
        }
    }
}

/// A request in hand, from its headers until its answer has been written (or dropped).
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Self {
        {
            let mut state = activity.state();
            state.busy += 1;
            state.head_since = None;
            state.write_stalled_since = None;
        }
        activity.changed.notify_one();
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        {
            let mut state = self.0.state();
            state.busy -= 1;
            if state.busy == 0 {
                state.idle_since = Instant::now();
                state.head_since = None;
            }
        }
        self.0.changed.notify_one();
    }
}

/// The client's stream: reports arriving bytes, and holds the connection's slot for as
/// long as the stream lives, through a WebSocket upgrade.
struct Watched {
    tcp: TcpStream,
    activity: Arc<Activity>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.activity.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.activity.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A request body with deadlines: it fails with [`BodyTimeout`] when the client pauses
/// longer than `body_timeout`, or falls behind `body_min_bytes_per_sec` once
/// `body_timeout` has passed. The clock starts when the handler first asks for the body.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    min_rate: u64,
    /// When the handler first asked, and when the last bytes came.
    started: Option<(Instant, Instant)>,
    received: u64,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    fn new(inner: Incoming, limits: ConnectionLimits) -> Self {
        Self {
            inner,
            timeout: limits.body_timeout,
            min_rate: limits.body_min_bytes_per_sec,
            started: None,
            received: 0,
            sleep: None,
        }
    }

    /// The moment the body has fallen behind, if nothing more arrives.
    fn deadline(&self, started: Instant, last_bytes: Instant) -> Instant {
        body_deadline(
            started,
            last_bytes,
            self.received,
            self.timeout,
            self.min_rate,
        )
    }
}

/// When a body that began at `started`, last sent bytes at `last_bytes` and has sent
/// `received` bytes in all falls behind: a pause of `timeout`, or less than `min_rate`
/// bytes a second on average after a head start of `timeout` (0: no least rate).
fn body_deadline(
    started: Instant,
    last_bytes: Instant,
    received: u64,
    timeout: Duration,
    min_rate: u64,
) -> Instant {
    let pause = last_bytes + timeout;
    if min_rate == 0 {
        return pause;
    }
    let earned = Duration::from_millis(received.saturating_mul(1000) / min_rate);
    (started + timeout)
        .checked_add(earned)
        .map_or(pause, |by_rate| by_rate.min(pause))
}

impl hyper::body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let now = Instant::now();
        let (started, last_bytes) = *this.started.get_or_insert((now, now));
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref().filter(|data| !data.is_empty()) {
                    this.received += data.len() as u64;
                    this.started = Some((started, now));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = this.deadline(started, last_bytes);
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in hand until it has been written.
struct Answer {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Raises the soft limit on open files towards what `max_connections` needs, as far as
/// the hard limit allows (Go's runtime does the same at start), and says so when even the
/// hard limit is short: past it, accepting fails until connections close.
#[cfg(unix)]
fn raise_open_file_limit(max_connections: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    let wanted = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(SPARE_FILES);
    let limit = getrlimit(Resource::Nofile);
    // `None` is "unlimited".
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return;
    }
    let target = limit.maximum.map_or(wanted, |maximum| maximum.min(wanted));
    let mut have = current;
    if target > current {
        match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: limit.maximum,
            },
        ) {
            Ok(()) => have = target,
            Err(err) => tracing::warn!(error = %err, "raising the open-file limit failed"),
        }
    }
    if have < wanted {
        tracing::warn!(
            max_connections,
            open_files = have,
            "server.max_connections needs about {wanted} open files, but the process may \
             open only {have}: lower max_connections or raise the limit (ulimit -n, \
             LimitNOFILE=)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: 5 * SECOND,
            keepalive_idle: 60 * SECOND,
            body_timeout: 20 * SECOND,
            body_min_bytes_per_sec: 500,
            write_timeout: 10 * SECOND,
            max_connections: 10,
            unsent_bytes: 0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn headers_have_their_clock_from_the_opening_and_then_from_the_first_byte() {
        let opened = Instant::now();
        let activity = Arc::new(Activity::new());
        // A new connection: the header clock runs from the opening, bytes or not.
        assert_eq!(activity.deadline(&limits()), Some(opened + 5 * SECOND));
        tokio::time::advance(2 * SECOND).await;
        activity.bytes_arrived();
        assert_eq!(activity.deadline(&limits()), Some(opened + 5 * SECOND));
        // A request in hand has no deadline.
        let busy = Busy::start(activity.clone());
        assert_eq!(activity.deadline(&limits()), None);
        activity.bytes_arrived();
        assert_eq!(activity.deadline(&limits()), None);
        tokio::time::advance(100 * SECOND).await;
        // Answered: idle until the next request's first byte, then its header clock.
        drop(busy);
        let answered = Instant::now();
        assert_eq!(activity.deadline(&limits()), Some(answered + 60 * SECOND));
        tokio::time::advance(30 * SECOND).await;
        activity.bytes_arrived();
        assert_eq!(
            activity.deadline(&limits()),
            Some(answered + 30 * SECOND + 5 * SECOND)
        );
        // An upgraded socket's bytes are nobody's concern here.
        drop(Busy::start(activity.clone()));
        activity.detached.store(true, Ordering::Relaxed);
        activity.bytes_arrived();
        assert_eq!(
            activity.deadline(&limits()),
            Some(Instant::now() + 60 * SECOND)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_may_wait_for_its_reader_for_the_write_timeout() {
        let activity = Arc::new(Activity::new());
        let busy = Busy::start(activity.clone());
        // The client takes bytes, however slowly: no deadline.
        activity.wrote(&Poll::Ready(Ok(1)));
        assert_eq!(activity.deadline(&limits()), None);
        // It takes none: the clock runs from the first refused write, not the last.
        activity.wrote::<usize>(&Poll::Pending);
        let stalled = Instant::now();
        tokio::time::advance(3 * SECOND).await;
        activity.wrote::<usize>(&Poll::Pending);
        assert_eq!(activity.deadline(&limits()), Some(stalled + 10 * SECOND));
        // It reads again: the clock stops.
        activity.wrote(&Poll::Ready(Ok(1)));
        assert_eq!(activity.deadline(&limits()), None);
        // Answered: the keep-alive clock, whatever the last write did.
        activity.wrote::<usize>(&Poll::Pending);
        drop(busy);
        assert_eq!(
            activity.deadline(&limits()),
            Some(Instant::now() + 60 * SECOND)
        );
        // A new request starts with no write clock.
        let _busy = Busy::start(activity.clone());
        assert_eq!(activity.deadline(&limits()), None);
    }

    #[test]
    fn a_body_may_pause_for_the_timeout_and_must_then_keep_the_rate() {
        let start = Instant::now();
        let timeout = 20 * SECOND;
        // Nothing yet: the timeout.
        assert_eq!(
            body_deadline(start, start, 0, timeout, 500),
            start + timeout
        );
        // 5000 bytes earn 10 s beyond the head start; a pause still ends it sooner.
        let late = start + 25 * SECOND;
        assert_eq!(
            body_deadline(start, late, 5000, timeout, 500),
            start + 30 * SECOND
        );
        let early = start + 2 * SECOND;
        assert_eq!(
            body_deadline(start, early, 5000, timeout, 500),
            early + timeout
        );
        // A trickle earns next to nothing.
        assert_eq!(
            body_deadline(start, start + 19 * SECOND, 7, timeout, 500),
            start + timeout + Duration::from_millis(14)
        );
        // Without a least rate only pauses count.
        assert_eq!(
            body_deadline(start, start + 900 * SECOND, 7, timeout, 0),
            start + 920 * SECOND
        );
    }
}
