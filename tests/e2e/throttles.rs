//! Throttles of the account and operator routes, through real HTTP: past its limit a client
//! gets 429 with `Retry-After` and code 30019, per client address and per account name, and
//! `X-Forwarded-For` counts only when it comes from a trusted proxy.
//!
//! Each test runs with the real defaults or with limits that refill one request a minute,
//! so no request can come back within a test.

use confab::config::{Rate, ThrottleConfig};
use confab::Config;
use confab_e2e::{spawn_with, suffix, Reply, TestApp};
use reqwest::Method;
use serde_json::json;

/// `burst` requests, then one more a minute.
fn slow(burst: u32) -> Rate {
    Rate {
        per_minute: 1,
        burst,
    }
}

/// A server with the default throttles, changed by `adjust`.
async fn app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with(|config| {
        config.throttle = ThrottleConfig::default();
        adjust(config);
    })
    .await
}

/// Asserts the throttle's answer: 429, code 30019, `Retry-After` in whole seconds.
fn assert_throttled(reply: &Reply) {
    reply.expect(429, 30019);
    let retry_after = reply
        .headers
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {:?}", reply.headers));
    assert!(
        (1..=60).contains(&retry_after),
        "a retry within the minute that refills the bucket: {retry_after}"
    );
}

/// `POST /user/login`, with an `X-Forwarded-For` header if given.
async fn login(app: &TestApp, name: &str, password: &str, forwarded: Option<&str>) -> Reply {
    let request = app
        .request(Method::POST, "/user/login", None)
        .json(&json!({ "username": name, "password": password }));
    let request = match forwarded {
        Some(chain) => request.header("X-Forwarded-For", chain),
        None => request,
    };
    app.send(request).await
}

/// A login the throttle let through, for a name that does not exist: wrong credentials.
fn assert_refused_credentials(reply: &Reply) {
    reply.expect(200, 500);
}

#[tokio::test]
async fn logins_from_one_address_get_429_past_the_burst() {
    let app = app_with(|c| c.throttle.login.address = slow(3)).await;
    let owner = format!("owner_{}", suffix());
    app.register(&owner, "correct horse battery")
        .await
        .expect(200, 200);
    for i in 0..3 {
        let reply = login(
            &app,
            &format!("nobody{i}_{}", suffix()),
            "wrong password",
            None,
        )
        .await;
        assert_refused_credentials(&reply);
    }
    // The fourth is refused before the password is looked at, right or not.
    assert_throttled(&login(&app, &owner, "correct horse battery", None).await);
    // Other routes are not throttled.
    app.get("/user/ping", None, &[]).await.expect(200, 200);
}

#[tokio::test]
async fn one_account_name_is_throttled_with_the_default_limits() {
    let defaults = ThrottleConfig::default();
    let burst = defaults.login.name.burst;
    assert!(
        burst < defaults.login.address.burst,
        "the name's limit comes first"
    );
    let app = app_with(|_| {}).await;
    let user = app.user("target").await;
    // `app.user` signed in once already.
    for _ in 1..burst {
        assert_refused_credentials(&login(&app, &user.name, "wrong password", None).await);
    }
    // Names are compared without case, and the right password does not help.
    assert_throttled(&login(&app, &user.name.to_uppercase(), &user.password, None).await);
}

#[tokio::test]
async fn a_trusted_proxy_forwards_the_client_and_names_stay_throttled() {
    let app = app_with(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR block")];
        c.throttle.login.address = slow(2);
        c.throttle.login.name = slow(3);
    })
    .await;

    // One name from three forwarded addresses: each address is fresh, the name is not.
    let victim = format!("victim_{}", suffix());
    for i in 1..=3 {
        let from = format!("203.0.113.{i}");
        assert_refused_credentials(&login(&app, &victim, "guess", Some(&from)).await);
    }
    assert_throttled(&login(&app, &victim, "guess", Some("203.0.113.4")).await);

    // Each forwarded address has a bucket of its own.
    let fresh = || format!("n_{}", suffix());
    let a = "198.51.100.7";
    assert_refused_credentials(&login(&app, &fresh(), "x", Some(a)).await);
    assert_refused_credentials(&login(&app, &fresh(), "x", Some(a)).await);
    assert_throttled(&login(&app, &fresh(), "x", Some(a)).await);
    assert_refused_credentials(&login(&app, &fresh(), "x", Some("198.51.100.8")).await);
    // The right-most untrusted entry is the client: what a client writes to its left
    // changes nothing.
    assert_throttled(&login(&app, &fresh(), "x", Some("192.0.2.99, 198.51.100.7")).await);
    // A trusted hop on the right is skipped.
    assert_refused_credentials(&login(&app, &fresh(), "x", Some("192.0.2.50, 127.0.0.1")).await);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = app_with(|c| {
        c.server.trusted_proxies = vec!["10.0.0.0/8".parse().expect("a CIDR block")];
        c.throttle.login.address = slow(2);
    })
    .await;
    for from in ["203.0.113.1", "203.0.113.2"] {
        let reply = login(&app, &format!("n_{}", suffix()), "x", Some(from)).await;
        assert_refused_credentials(&reply);
    }
    // A third forwarded address does not make a new client: the socket's peer is the one.
    let reply = login(&app, &format!("n_{}", suffix()), "x", Some("203.0.113.3")).await;
    assert_throttled(&reply);
}

#[tokio::test]
async fn admin_routes_are_throttled_per_address() {
    let app = app_with(|c| c.throttle.admin.address = slow(2)).await;
    let token = app.state.admin_token.to_string();
    app.get("/admin/plugins", Some("not-the-admin-token"), &[])
        .await
        .expect(401, 30002);
    app.get("/admin/plugins", Some(&token), &[])
        .await
        .expect(200, 200);
    // Past the burst even the right token waits, on every operator route.
    assert_throttled(&app.get("/admin/plugins", Some(&token), &[]).await);
    assert_throttled(&app.get("/admin/verdicts", Some(&token), &[]).await);
    let metrics = app
        .send(app.request(Method::GET, "/metrics", Some(&token)))
        .await;
    assert_throttled(&metrics);
    // The account routes are not the operator's.
    app.get("/user/ping", None, &[]).await.expect(200, 200);
}

#[tokio::test]
async fn register_is_throttled_per_address_and_per_name() {
    let app = app_with(|c| {
        c.throttle.register.address = slow(3);
        c.throttle.register.name = slow(1);
    })
    .await;
    let first = format!("reg_{}", suffix());
    app.register(&first, "correct horse battery")
        .await
        .expect(200, 200);
    // The same name again: its own bucket is empty.
    assert_throttled(&app.register(&first, "correct horse battery").await);
    app.register(&format!("reg_{}", suffix()), "correct horse battery")
        .await
        .expect(200, 200);
    // A fourth request from the address, whatever the name.
    let reply = app
        .register(&format!("reg_{}", suffix()), "correct horse battery")
        .await;
    assert_throttled(&reply);
}

#[tokio::test]
async fn refresh_is_throttled_per_address() {
    let app = app_with(|c| {
        c.throttle.login = confab_e2e::unthrottled().login;
        c.throttle.refresh.address = slow(2);
    })
    .await;
    let user = app.user("refresh").await;
    let mut refresh_token = user.refresh.clone();
    for _ in 0..2 {
        let reply = app
            .json(
                Method::POST,
                "/user/refresh",
                None,
                json!({ "rToken": refresh_token }),
            )
            .await;
        reply.expect(200, 200);
        refresh_token = reply.data()["rToken"]
            .as_str()
            .expect("a new rToken")
            .to_owned();
    }
    let reply = app
        .json(
            Method::POST,
            "/user/refresh",
            None,
            json!({ "rToken": refresh_token }),
        )
        .await;
    assert_throttled(&reply);
}

#[tokio::test]
async fn email_check_is_throttled_per_address_and_per_email() {
    let app = app_with(|c| {
        c.throttle.login = confab_e2e::unthrottled().login;
        c.throttle.email_check.address = slow(3);
        c.throttle.email_check.name = slow(1);
        // The stored resend interval is off, so what answers below is the throttle alone.
        c.email.resend_interval_secs = 0;
    })
    .await;
    let (a, b, c) = (
        app.user("ma").await,
        app.user("mb").await,
        app.user("mc").await,
    );
    let check = |token: String, email: String| {
        let app = &app;
        async move {
            app.send(
                app.request(Method::POST, "/user/emailCheck", Some(&token))
                    .query(&[("email", email)]),
            )
            .await
        }
    };
    let shared = format!("shared_{}@example.com", suffix());
    check(a.access.clone(), shared.clone())
        .await
        .expect(200, 200);
    // Another account, the same address (in other case): the address's bucket is empty.
    assert_throttled(&check(b.access.clone(), shared.to_uppercase()).await);
    assert_eq!(
        app.mail_count(&shared),
        1,
        "a refused request sends nothing"
    );
    check(c.access.clone(), format!("own_{}@example.com", suffix()))
        .await
        .expect(200, 200);
    // The fourth request from this client address, for yet another address.
    let other = format!("other_{}@example.com", suffix());
    assert_throttled(&check(c.access.clone(), other.clone()).await);
    assert_eq!(app.mail_count(&other), 0);
}
