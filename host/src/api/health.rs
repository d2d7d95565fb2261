//! Probes for load balancers and orchestrators, open without a token: `GET /healthz` (the
//! process answers) and `GET /readyz` (so does everything it needs: the database, Redis
//! and MongoDB when configured, and the plugins).
//!
//! Their answers say nothing but which check failed, by name: no versions, host names or
//! error texts, which the log has. Each probe has a short deadline, and one round of
//! probes serves every `/readyz` for a second, so the route cannot be used to load the
//! database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::Mutex;

use crate::api::AppState;
use crate::messages::Conversation;
use crate::presence::RedisPresence;
use crate::store::{MessageStore, UserStore};

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub(super) struct Api;

/// The answer of `/healthz`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Live {
    /// Always true.
    live: bool,
}

/// The answer of `/readyz` when every check passes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Ready {
    /// Always true.
    ready: bool,
}

/// The answer of `/readyz` when a check fails.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct NotReady {
    /// Always false.
    ready: bool,
    /// The checks that failed, by name.
    failed: Vec<Check>,
}

/// A readiness check.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum Check {
    /// The database answers an indexed read.
    Database,
    /// Redis answers a ping (in a cluster).
    Redis,
    /// The MongoDB history answers a read (when configured).
    Mongodb,
    /// The plugins are running (when a plugin folder is configured).
    Plugins,
}

/// How long one probe may take before its check counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one round of probes answers `/readyz`.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// The last round of probes: when it ran and which checks failed.
type Round = Option<(Instant, Vec<&'static str>)>;

/// What `/readyz` checks; cheap to clone.
#[derive(Clone)]
pub struct Readiness {
    database: Arc<dyn UserStore>,
    history: Option<Arc<dyn MessageStore>>,
    plugins_expected: bool,
    last: Arc<Mutex<Round>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").finish_non_exhaustive()
    }
}

impl Readiness {
    /// Checks `database`, `history` (the MongoDB history, when configured) and, when
    /// `plugins_expected`, that the plugins are running.
    pub fn new(
        database: Arc<dyn UserStore>,
        history: Option<Arc<dyn MessageStore>>,
        plugins_expected: bool,
    ) -> Self {
        Self {
            database,
            history,
            plugins_expected,
            last: Arc::default(),
        }
    }

    /// The names of the checks that fail now (empty when ready).
    async fn failed(
        &self,
        redis: Option<&RedisPresence>,
        plugins_loaded: bool,
    ) -> Vec<&'static str> {
        // One round at a time; whoever waited for it uses its answer.
        let mut last = self.last.lock().await;
        if let Some((at, failed)) = last.as_ref() {
            if at.elapsed() < FRESH_FOR {
                return failed.clone();
            }
        }
        let database = probe("database", async {
            // A read by primary key of an id no account has: one indexed lookup.
            self.database.user_by_id(0).await.map(drop)
        });
        let redis = async {
            match redis {
                Some(redis) => probe("redis", redis.ping()).await,
                None => None,
            }
        };
        let mongodb = async {
            match &self.history {
                Some(history) => {
                    let nowhere = Conversation::Group(0);
                    probe("mongodb", history.before(&nowhere, 1, 0, 1)).await
                }
                None => None,
            }
        };
        let (database, redis, mongodb) = tokio::join!(database, redis, mongodb);
        let plugins = (self.plugins_expected && !plugins_loaded).then_some("plugins");
        let failed: Vec<&'static str> = [database, redis, mongodb, plugins]
            .into_iter()
            .flatten()
            .collect();
        *last = Some((Instant::now(), failed.clone()));
        failed
    }
}

/// `Some(name)` when `check` fails or takes longer than [`PROBE_TIMEOUT`]; the cause is
/// logged, never answered.
async fn probe<T>(
    name: &'static str,
    check: impl std::future::Future<Output = crate::error::Result<T>>,
) -> Option<&'static str> {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => {
            tracing::warn!(check = name, error = %error, "a readiness check failed");
            Some(name)
        }
        Err(_) => {
            tracing::warn!(check = name, timeout = ?PROBE_TIMEOUT, "a readiness check timed out");
            Some(name)
        }
    }
}

/// `GET /healthz`: 200 while the process serves requests.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    summary = "Liveness: the process answers",
    responses((status = 200, description = "The process serves requests (plain JSON, not the envelope)", body = Live)),
)]
pub(super) async fn healthz() -> Response {
    Json(json!({ "live": true })).into_response()
}

/// `GET /readyz`: 200 `{"ready":true}`, or 503 `{"ready":false,"failed":[...]}` naming
/// the failed checks (`database`, `redis`, `mongodb`, `plugins`).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    summary = "Readiness: the process and everything it needs answer",
    description = "Checks the database, Redis and MongoDB when configured, and the plugins when \
        a plugin folder is set; each probe has a 2-second deadline, and one round of probes \
        answers every request for a second. The answer names failed checks only: the causes \
        are in the log.",
    responses(
        (status = 200, description = "Ready (plain JSON, not the envelope)", body = Ready),
        (status = 503, description = "Not ready: the failed checks (plain JSON, not the envelope)", body = NotReady),
    ),
)]
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let failed = state
        .readiness
        .failed(state.cluster.as_deref(), state.plugins.dir().is_some())
        .await;
    if failed.is_empty() {
        Json(json!({ "ready": true })).into_response()
    } else {
        let body = Json(json!({ "ready": false, "failed": failed }));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}
