//! Logging set-up: `tracing` to standard error as text or JSON lines, filtered by `RUST_LOG`
//! or `[log] filter`; and the id of the request (or socket) a task is working for.
//!
//! The id is kept in a task-local rather than passed down, because what needs it (a plugin
//! verdict) sits several services below the edge that knows it; a task that works for no
//! request simply has none.

use std::future::Future;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber once; later calls do nothing.
///
/// The compiler inside wasmtime logs every function it compiles at debug level (megabytes
/// per plugin), so its crates stay at `warn` unless the filter names them.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = quiet_compiler(filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => {
            // Colour codes only help a person at a terminal; in a file or a pipe they are
            // noise.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_ansi(ansi).try_init()
        }
        // One object per line. Every span the event happened in is listed under "spans",
        // outermost first, so the request's `request_id` is on every line of the request.
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
}

/// Caps the wasm compiler's crates at `warn` unless `filter` names them itself.
fn quiet_compiler(mut filter: EnvFilter) -> EnvFilter {
    let named = filter.to_string();
    for target in [
        "cranelift_codegen",
        "wasmtime_internal_cranelift",
        "wasmtime_cranelift",
    ] {
        if !named.contains(target) {
            if let Ok(directive) = format!("{target}=warn").parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
}

/// The id of one HTTP request, or of the request that opened a WebSocket (which every
/// frame of that socket shares).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// `id` as a request id.
    pub fn new(id: &str) -> Self {
        Self(id.into())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The request the current task works for, if any.
pub fn request_id() -> Option<RequestId> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `work` as part of the request `id` (as it was, when `id` is `None`).
///
/// A plain function, not an `async fn`: an `async fn` would keep `work` as its argument
/// beside the scope future that holds it too, doubling the size of every WebSocket
/// session's task (about 5 KiB per idle socket).
pub fn with_request_id<F: Future>(
    id: Option<RequestId>,
    work: F,
) -> impl Future<Output = F::Output> {
    match id {
        Some(id) => futures::future::Either::Left(REQUEST_ID.scope(id, work)),
        None => futures::future::Either::Right(work),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_id_is_seen_inside_its_scope_only() {
        assert_eq!(request_id(), None);
        let inside = with_request_id(Some(RequestId::new("abc")), async {
            tokio::task::yield_now().await;
            request_id()
        })
        .await;
        assert_eq!(inside.as_ref().map(RequestId::as_str), Some("abc"));
        assert_eq!(with_request_id(None, async { request_id() }).await, None);
        assert_eq!(request_id(), None);
    }
}
