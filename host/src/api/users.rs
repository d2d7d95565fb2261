//! `/user/*` handlers: extract, call one `UserService` method, answer.
//!
//! The routes that check passwords or send mail take one request from the client's
//! throttle (and from the named account's) before anything else is done.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::openapi::schemas::{Envelope, NoData};
use crate::api::params::{AvatarForm, Params};
use crate::api::throttle::{ClientAddr, Throttles};
use crate::error::{Error, Result};
use crate::uploads::Uploads;
use crate::users::{Caller, Profile, ProfileUpdate, TokenPair, UserService};

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    login,
    refresh,
    logout,
    me,
    find,
    delete,
    email_check,
    update
))]
pub(super) struct Api;

/// An avatar image as a multipart form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct AvatarUpload {
    /// The image (PNG, JPEG, GIF or WebP).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    avatar: Option<String>,
    /// A new email address.
    email: Option<String>,
    /// The code mailed to it.
    verification_code: Option<String>,
    /// A new phone number.
    phone: Option<String>,
}

/// A user name and a password.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Credentials {
    /// The user name (also `user_name`).
    username: String,
    /// The password.
    password: String,
}

/// `GET|POST /user/register`
#[utoipa::path(
    method(get, post),
    path = "/user/register",
    tag = "users",
    summary = "Create an account",
    params(
        ("username" = String, Query, description = "The new user name (also `user_name`)"),
        ("password" = String, Query, description = "The password"),
        ("key" = Option<String>, Query, description = "An invite key, when registration needs one (also `invite_key`)"),
    ),
    request_body(content(
        (Credentials = "application/json"),
        (Credentials = "application/x-www-form-urlencoded"),
    ), description = "The same parameters as a body"),
    responses((status = 200, description = "The account exists", body = Envelope<NoData>)),
)]
pub(super) async fn register(
    State(users): State<UserService>,
    State(throttles): State<Throttles>,
    client: ClientAddr,
    params: Params,
) -> Result<Response> {
    let username = params.required(&["username", "user_name"])?;
    let password = params.required(&["password"])?;
    let key = params.text(&["key", "invite_key"])?;
    throttles.register().check(client, Some(&username))?;
    users.register(&username, &password, key.as_deref()).await?;
    Ok(ok(()))
}

/// `GET|POST /user/login`
#[utoipa::path(
    method(get, post),
    path = "/user/login",
    tag = "users",
    summary = "Log in: a fresh pair of tokens",
    params(
        ("username" = String, Query, description = "The user name (also `user_name`)"),
        ("password" = String, Query, description = "The password"),
    ),
    request_body(content(
        (Credentials = "application/json"),
        (Credentials = "application/x-www-form-urlencoded"),
    ), description = "The same parameters as a body"),
    responses((status = 200, description = "The tokens", body = Envelope<TokenPair>)),
)]
pub(super) async fn login(
    State(users): State<UserService>,
    State(throttles): State<Throttles>,
    client: ClientAddr,
    params: Params,
) -> Result<Response> {
    let username = params.required(&["username", "user_name"])?;
    let password = params.required(&["password"])?;
    throttles.login().check(client, Some(&username))?;
    Ok(ok(users.login(&username, &password).await?))
}

/// `POST /user/refresh`: the rToken from a parameter or, failing that, the header.
#[utoipa::path(
    post,
    path = "/user/refresh",
    tag = "users",
    summary = "Trade a refresh token for a fresh pair",
    params(("rToken" = Option<String>, Query, description = "The refresh token (also `refresh_token`); without it, the Authorization header's")),
    responses((status = 200, description = "The new tokens", body = Envelope<TokenPair>)),
)]
pub(super) async fn refresh(
    State(users): State<UserService>,
    State(throttles): State<Throttles>,
    client: ClientAddr,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    throttles.refresh().check(client, None)?;
    let token = match params.text(&["rToken", "refresh_token", "rtoken"])? {
        Some(token) if !token.is_empty() => token,
        _ => crate::api::auth::bearer(&headers)?
            .ok_or_else(|| Error::invalid("rToken is required"))?,
    };
    Ok(ok(users.refresh(&token).await?))
}

/// `POST /user/logout`: revokes every token of the caller.
#[utoipa::path(
    post,
    path = "/user/logout",
    tag = "users",
    summary = "Revoke every token of the caller",
    security(("bearer" = [])),
    responses((status = 200, description = "Logged out everywhere", body = Envelope<NoData>)),
)]
pub(super) async fn logout(State(users): State<UserService>, caller: Caller) -> Result<Response> {
    users.logout(caller).await?;
    Ok(ok(()))
}

/// `GET /user/me`
#[utoipa::path(
    get,
    path = "/user/me",
    tag = "users",
    summary = "The caller's own profile",
    security(("bearer" = [])),
    responses((status = 200, description = "The profile, with email and phone", body = Envelope<Profile>)),
)]
pub(super) async fn me(State(users): State<UserService>, caller: Caller) -> Result<Response> {
    Ok(ok(users.me(caller).await?))
}

/// `GET /user/find?info=<id or name>`
#[utoipa::path(
    method(get, post),
    path = "/user/find",
    tag = "users",
    summary = "Find a user by id or name",
    security(("bearer" = [])),
    params(("info" = String, Query, description = "A user id or a user name")),
    responses((status = 200, description = "The user's public profile", body = Envelope<Profile>)),
)]
pub(super) async fn find(
    State(users): State<UserService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let info = params.required(&["info"])?;
    Ok(ok(users.find(caller, &info).await?))
}

/// `DELETE /user/delete`: the caller's own account, password checked again.
#[utoipa::path(
    method(delete, post),
    path = "/user/delete",
    tag = "users",
    summary = "Delete the caller's own account",
    security(("bearer" = [])),
    params(
        ("username" = String, Query, description = "The caller's user name, again"),
        ("password" = String, Query, description = "The caller's password, again"),
    ),
    responses((status = 200, description = "The account is gone", body = Envelope<NoData>)),
)]
pub(super) async fn delete(
    State(users): State<UserService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let username = params.required(&["username", "user_name"])?;
    let password = params.required(&["password"])?;
    users.delete(caller, &username, &password).await?;
    Ok(ok(()))
}

/// `POST /user/emailCheck`: the same answer whether or not the address is another
/// account's (its owner is told by mail instead).
#[utoipa::path(
    post,
    path = "/user/emailCheck",
    tag = "users",
    summary = "Mail a verification code to an address",
    security(("bearer" = [])),
    params(("email" = String, Query, description = "The address to verify")),
    responses((status = 200, description = "A code was mailed (the same answer if the address is taken)", body = Envelope<NoData>)),
)]
pub(super) async fn email_check(
    State(users): State<UserService>,
    State(throttles): State<Throttles>,
    client: ClientAddr,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let email = params.required(&["email"])?;
    throttles.email_check().check(client, Some(&email))?;
    users.send_email_code(caller, &email).await?;
    Ok(ok(()))
}

/// `PUT /user/update`: email with its code, phone, avatar; each optional.
///
/// An avatar passes the upload plugins too (they may refuse it); its stored type is always
/// the image type the host reads from its first bytes.
#[utoipa::path(
    method(put, post),
    path = "/user/update",
    tag = "users",
    summary = "Change email (with its code), phone or avatar",
    security(("bearer" = [])),
    params(
        ("email" = Option<String>, Query, description = "A new email address"),
        ("verification_code" = Option<String>, Query, description = "The code mailed to it (also `code`)"),
        ("phone" = Option<String>, Query, description = "A new phone number"),
    ),
    request_body(content((AvatarUpload = "multipart/form-data")), description = "An avatar image, with any of the parameters as fields"),
    responses((status = 200, description = "The new avatar's URL when one was sent, else null", body = Envelope<Option<String>>)),
)]
pub(super) async fn update(
    State(users): State<UserService>,
    State(uploads): State<Uploads>,
    caller: Caller,
    AvatarForm(mut params): AvatarForm,
) -> Result<Response> {
    let update = ProfileUpdate {
        email: params.text(&["email"])?.filter(|e| !e.is_empty()),
        code: params.text(&["verification_code", "code"])?,
        phone: params.text(&["phone"])?,
        avatar: params.take_file("avatar"),
    };
    if let Some(avatar) = &update.avatar {
        uploads.screen_avatar(caller.id, avatar).await?;
    }
    Ok(ok(users.update(caller, update).await?))
}
