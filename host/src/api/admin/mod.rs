//! The operator API: `/admin/` (plugins, their configuration and verdicts, invite keys),
//! behind the admin bearer token (`/metrics` has a token of its own, see `metrics.rs`).
//!
//! The admin token is not a user's JWT and no user token opens these routes: the check
//! compares the header with the one configured token and nothing else. Every answer is the
//! seed's envelope, failures included.

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::auth::bearer;
use crate::api::envelope::ok;
use crate::api::openapi::schemas::{Envelope, NoData};
use crate::api::operator::{Operator, OperatorHeader};
use crate::api::params::{json_type, read_capped, Params};
use crate::api::AppState;

mod upload;

use crate::audit::Action;
use crate::error::{Error, Result};
use crate::plugins::manifest::{valid_name, Manifest};
use crate::plugins::stats::VerdictRecord;
use crate::plugins::view::PluginView;
use crate::plugins::Plugins;
use crate::users::UserService;
use upload::{content_length, read_upload, PluginUpload};

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list, install, show, replace, remove, enable, disable, reload, config, set_config, verdicts,
    invites
))]
pub(super) struct Api;

/// A plugin's configuration: the `[config]` table of its manifest, as a JSON object.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct PluginConfig(std::collections::BTreeMap<String, Value>);

/// Verdicts listed when the request names no `limit`.
const DEFAULT_VERDICTS: u32 = 100;
/// The most verdicts one request may list.
const MAX_VERDICTS: u32 = 500;
/// The most invite keys one request may issue.
const MAX_INVITES: i64 = 1000;

/// Proof that the request carries the admin token. Handlers take it before anything else,
/// so an unauthenticated request learns nothing about plugins or parameters.
#[derive(Debug)]
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = bearer(&parts.headers)?.ok_or(Error::MissingToken)?;
        if token_matches(&state.admin_token, &token) {
            Ok(Admin)
        } else {
            Err(Error::InvalidToken("this is not the admin token"))
        }
    }
}

/// Whether `given` is the expected token (the admin token, or the metrics token), in time
/// that does not depend on where they differ.
pub(super) fn token_matches(expected: &str, given: &str) -> bool {
    if expected.is_empty() {
        // An empty token would let an empty header in; the server always sets one.
        return false;
    }
    // Comparing digests also hides the expected token's length.
    let expected = Sha256::digest(expected.as_bytes());
    let given = Sha256::digest(given.as_bytes());
    expected.ct_eq(&given).into()
}

/// A plugin name from the URL. A name no plugin can have is answered like an unknown one.
fn plugin_name(name: &str) -> Result<&str> {
    if valid_name(name) {
        Ok(name)
    } else {
        Err(Error::NotFound("no plugin of that name"))
    }
}

/// `GET /admin/plugins`: every plugin, running or not; in a cluster with what each node
/// runs of it and the counters summed over the nodes.
#[utoipa::path(
    get,
    path = "/admin/plugins",
    tag = "operators",
    summary = "Every plugin, running or not",
    security(("admin" = [])),
    responses((status = 200, description = "The plugins by name; in a cluster with each node's report and the counters summed over the nodes", body = Envelope<Vec<PluginView>>)),
)]
pub(super) async fn list(State(plugins): State<Plugins>, _admin: Admin) -> Response {
    ok(plugins.overview().await)
}

/// `GET /admin/plugins/{name}`: one plugin.
#[utoipa::path(
    get,
    path = "/admin/plugins/{name}",
    tag = "operators",
    summary = "One plugin",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses((status = 200, description = "The plugin", body = Envelope<PluginView>)),
)]
pub(super) async fn show(
    State(plugins): State<Plugins>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<Response> {
    let view = plugins
        .overview_of(plugin_name(&name)?)
        .await
        .ok_or(Error::NotFound("no plugin of that name"))?;
    Ok(ok(view))
}

/// `POST /admin/plugins` (multipart `manifest` + `wasm`): installs or replaces the plugin
/// the manifest names. On failure the running version, if any, stays.
#[utoipa::path(
    post,
    path = "/admin/plugins",
    tag = "operators",
    summary = "Install or replace the plugin its manifest names",
    security(("admin" = [])),
    params(OperatorHeader),
    request_body(content((PluginUpload = "multipart/form-data")), description = "The parts `manifest` and `wasm`, each once, and no other"),
    responses((status = 200, description = "The plugin as it now runs; on failure the running version, if any, stays", body = Envelope<PluginView>)),
)]
pub(super) async fn install(
    State(plugins): State<Plugins>,
    operator: Operator,
    request: Request,
) -> Result<Response> {
    let upload = read_upload(request).await?;
    let view = plugins.install(&upload.manifest, upload.wasm).await?;
    record_install(&operator, &view).await;
    Ok(ok(view))
}

/// Records an installed plugin, by the version and digest that now run.
async fn record_install(operator: &Operator, view: &crate::plugins::view::PluginView) {
    let details = serde_json::json!({ "version": view.version, "sha256": view.sha256 });
    let target = format!("plugin:{}", view.name);
    operator
        .record(Action::PluginInstall, &target, details)
        .await;
}

/// `PUT /admin/plugins/{name}`: like `POST /admin/plugins`, for a manifest naming `name`.
#[utoipa::path(
    put,
    path = "/admin/plugins/{name}",
    tag = "operators",
    summary = "Replace a plugin",
    security(("admin" = [])),
    params(
        ("name" = String, Path, description = "The plugin's name, which the manifest must give too"),
        OperatorHeader,
    ),
    request_body(content((PluginUpload = "multipart/form-data")), description = "The parts `manifest` and `wasm`, each once, and no other"),
    responses((status = 200, description = "The plugin as it now runs; on failure the running version stays", body = Envelope<PluginView>)),
)]
pub(super) async fn replace(
    State(plugins): State<Plugins>,
    operator: Operator,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response> {
    let upload = read_upload(request).await?;
    let manifest = Manifest::parse(&upload.manifest)
        .map_err(|e| Error::invalid(format!("the manifest is invalid: {e}")))?;
    if manifest.name != name {
        return Err(Error::invalid(format!(
            "the manifest names the plugin {:?}, but the URL names {name:?}",
            manifest.name
        )));
    }
    let view = plugins.install(&upload.manifest, upload.wasm).await?;
    record_install(&operator, &view).await;
    Ok(ok(view))
}

/// `DELETE /admin/plugins/{name}`: unloads the plugin and removes its files.
#[utoipa::path(
    delete,
    path = "/admin/plugins/{name}",
    tag = "operators",
    summary = "Unload a plugin and remove its files",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The plugin's name"), OperatorHeader),
    responses((status = 200, description = "The plugin is gone (in a cluster, from every node)", body = Envelope<NoData>)),
)]
pub(super) async fn remove(
    State(plugins): State<Plugins>,
    operator: Operator,
    Path(name): Path<String>,
) -> Result<Response> {
    plugins.remove(plugin_name(&name)?).await?;
    let target = format!("plugin:{name}");
    operator
        .record(Action::PluginRemove, &target, serde_json::json!({}))
        .await;
    Ok(ok(()))
}

/// `POST /admin/plugins/{name}/enable`.
#[utoipa::path(
    post,
    path = "/admin/plugins/{name}/enable",
    tag = "operators",
    summary = "Enable a plugin",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The plugin's name"), OperatorHeader),
    responses((status = 200, description = "The plugin, enabled", body = Envelope<PluginView>)),
)]
pub(super) async fn enable(
    State(plugins): State<Plugins>,
    operator: Operator,
    Path(name): Path<String>,
) -> Result<Response> {
    let view = plugins.set_enabled(plugin_name(&name)?, true).await?;
    let target = format!("plugin:{name}");
    operator
        .record(Action::PluginEnable, &target, serde_json::json!({}))
        .await;
    Ok(ok(view))
}

/// `POST /admin/plugins/{name}/disable`.
#[utoipa::path(
    post,
    path = "/admin/plugins/{name}/disable",
    tag = "operators",
    summary = "Disable a plugin",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The plugin's name"), OperatorHeader),
    responses((status = 200, description = "The plugin, disabled", body = Envelope<PluginView>)),
)]
pub(super) async fn disable(
    State(plugins): State<Plugins>,
    operator: Operator,
    Path(name): Path<String>,
) -> Result<Response> {
    let view = plugins.set_enabled(plugin_name(&name)?, false).await?;
    let target = format!("plugin:{name}");
    operator
        .record(Action::PluginDisable, &target, serde_json::json!({}))
        .await;
    Ok(ok(view))
}

/// `POST /admin/plugins/{name}/reload`: reads the plugin's files again.
#[utoipa::path(
    post,
    path = "/admin/plugins/{name}/reload",
    tag = "operators",
    summary = "Read a plugin's files again",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The plugin's name"), OperatorHeader),
    responses((status = 200, description = "The plugin as reloaded", body = Envelope<PluginView>)),
)]
pub(super) async fn reload(
    State(plugins): State<Plugins>,
    operator: Operator,
    Path(name): Path<String>,
) -> Result<Response> {
    let view = plugins.reload(plugin_name(&name)?).await?;
    let target = format!("plugin:{name}");
    operator
        .record(Action::PluginReload, &target, serde_json::json!({}))
        .await;
    Ok(ok(view))
}

/// `GET /admin/plugins/{name}/config`: the configuration as JSON.
#[utoipa::path(
    get,
    path = "/admin/plugins/{name}/config",
    tag = "operators",
    summary = "A plugin's configuration",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The plugin's name")),
    responses((status = 200, description = "The configuration (an empty object when there is none)", body = Envelope<PluginConfig>)),
)]
pub(super) async fn config(
    State(plugins): State<Plugins>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<Response> {
    Ok(ok(plugins.config(plugin_name(&name)?)?))
}

/// `PUT /admin/plugins/{name}/config` (the body is the JSON object): the plugin checks it
/// first; if it refuses, its reason is shown and the old configuration stays.
#[utoipa::path(
    put,
    path = "/admin/plugins/{name}/config",
    tag = "operators",
    summary = "Replace a plugin's configuration",
    description = "The plugin checks the configuration first; if it refuses, its reason is the \
        error and the old configuration stays. Otherwise it applies live and is written \
        into the manifest. The audit log keeps the keys set, not their values.",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The plugin's name"), OperatorHeader),
    request_body(content((PluginConfig = "application/json")), description = "The whole new configuration, a JSON object"),
    responses((status = 200, description = "The plugin with its new configuration", body = Envelope<PluginView>)),
)]
pub(super) async fn set_config(
    State(state): State<AppState>,
    operator: Operator,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response> {
    let name = plugin_name(&name)?;
    let declared = content_length(request.headers());
    let bytes = read_capped(request.into_body(), declared, state.limits.max_body_bytes).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "the body must be the configuration, a JSON object",
        ));
    }
    let config: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("invalid JSON body: {e}")))?;
    if !config.is_object() {
        return Err(Error::invalid(format!(
            "the configuration must be a JSON object, not {}",
            json_type(&config)
        )));
    }
    // The keys set, not their values: a configuration may hold a plugin's secrets.
    let keys: Vec<String> = config
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default();
    let view = state.plugins.set_config(name, config).await?;
    let target = format!("plugin:{name}");
    operator
        .record(
            Action::PluginConfig,
            &target,
            serde_json::json!({ "keys": keys }),
        )
        .await;
    Ok(ok(view))
}

/// `GET /admin/verdicts?limit=&after=&plugin=`: the newest rejections, rewrites and
/// failures (in a cluster, of every node), newest first, paged: `after` is the
/// `X-Next-After` of the page before (see [`crate::api::paging`]).
#[utoipa::path(
    get,
    path = "/admin/verdicts",
    tag = "operators",
    summary = "The newest plugin verdicts",
    security(("admin" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Verdicts per page (default 100)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `X-Next-After` of the page before; 0 or absent: the newest"),
        ("plugin" = Option<String>, Query, description = "Only this plugin's verdicts"),
    ),
    responses((
        status = 200,
        description = "Rejections, rewrites, denials and failures (in a cluster, of every node), newest first",
        body = Envelope<Vec<VerdictRecord>>,
        headers(("x-next-after" = i64, description = "Present when older verdicts remain: the `after` of the next page")),
    )),
)]
pub(super) async fn verdicts(
    State(plugins): State<Plugins>,
    _admin: Admin,
    params: Params,
) -> Result<Response> {
    use crate::api::paging::{with_next, Paging};
    let paging = Paging::within(&params, DEFAULT_VERDICTS, MAX_VERDICTS)?;
    let plugin = params.text(&["plugin"])?.filter(|p| !p.is_empty());
    // Newest first: the next page holds the verdicts numbered below the cursor.
    let before = Some(paging.after()).filter(|after| *after > 0);
    let wanted = paging.store_page().limit as usize;
    let numbered = plugins
        .recent_verdicts(before, wanted, plugin.as_deref())
        .await;
    let (page, next) = paging.split(numbered, |(number, _)| *number);
    let records: Vec<_> = page.into_iter().map(|(_, record)| record).collect();
    Ok(with_next(ok(records), next))
}

/// `POST /admin/invites` with `count` (default 1): fresh single-use invite keys.
#[utoipa::path(
    post,
    path = "/admin/invites",
    tag = "operators",
    summary = "Issue single-use invite keys",
    security(("admin" = [])),
    params(
        ("count" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many keys (default 1)"),
        OperatorHeader,
    ),
    responses((status = 200, description = "The fresh keys, for `key` at /user/register", body = Envelope<Vec<String>>)),
)]
pub(super) async fn invites(
    State(users): State<UserService>,
    operator: Operator,
    params: Params,
) -> Result<Response> {
    let count = params.int(&["count"])?.unwrap_or(1);
    if !(1..=MAX_INVITES).contains(&count) {
        return Err(Error::invalid(format!(
            "count must be between 1 and {MAX_INVITES}, not {count}"
        )));
    }
    let count = usize::try_from(count).expect("count was checked to be positive");
    let keys = users.issue_invites(count).await?;
    // The count only: the keys themselves are credentials.
    let details = serde_json::json!({ "count": count });
    operator
        .record(Action::InvitesIssue, "invites", details)
        .await;
    Ok(ok(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(token_matches("s3cret-token", "s3cret-token"));
        assert!(!token_matches("s3cret-token", "s3cret-tokeN"));
        assert!(!token_matches("s3cret-token", "s3cret-token "));
        assert!(!token_matches("s3cret-token", ""));
        assert!(!token_matches("", ""));
    }

    #[test]
    fn impossible_plugin_names_are_not_found() {
        assert!(plugin_name("word-filter").is_ok());
        for name in ["", "../etc", "Word", "a b", "a.toml"] {
            let error = plugin_name(name).expect_err(name);
            assert_eq!(error.http_status(), 404, "{name}");
        }
    }
}
