//! `/user/*` handlers: extract, call one `UserService` method, answer.
//!
//! The routes that check passwords or send mail take one request from the client's
//! throttle (and from the named account's) before anything else is done.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::params::{AvatarForm, Params};
use crate::api::throttle::{ClientAddr, Throttles};
use crate::error::{Error, Result};
use crate::uploads::Uploads;
use crate::users::{Caller, ProfileUpdate, UserService};

/// `GET|POST /user/register`
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
pub(super) async fn logout(State(users): State<UserService>, caller: Caller) -> Result<Response> {
    users.logout(caller).await?;
    Ok(ok(()))
}

/// `GET /user/me`
pub(super) async fn me(State(users): State<UserService>, caller: Caller) -> Result<Response> {
    Ok(ok(users.me(caller).await?))
}

/// `GET /user/find?info=<id or name>`
pub(super) async fn find(
    State(users): State<UserService>,
    caller: Caller,
    params: Params,
) -> Result<Response> {
    let info = params.required(&["info"])?;
    Ok(ok(users.find(caller, &info).await?))
}

/// `DELETE /user/delete`: the caller's own account, password checked again.
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
