//! Email verification and profile updates, and what the database holds afterwards.

use confab_e2e::{spawn_app, TestApp, TestUser};
use reqwest::Method;

async fn email_check(app: &TestApp, user: &TestUser, email: &str) -> confab_e2e::Reply {
    app.send(
        app.request(Method::POST, "/user/emailCheck", Some(&user.access))
            .query(&[("email", email)]),
    )
    .await
}

async fn update(app: &TestApp, user: &TestUser, form: &[(&str, &str)]) -> confab_e2e::Reply {
    app.form(Method::PUT, "/user/update", Some(&user.access), form)
        .await
}

#[tokio::test]
async fn verified_email_and_phone_update_the_profile() {
    let app = spawn_app().await;
    let alice = app.user("mail").await;
    let bob = app.user("peer").await;
    let address = format!("{}@example.com", alice.name);

    email_check(&app, &alice, &address).await.expect(200, 200);
    let code = app.mailed_code(&address).expect("a mail with a code");
    assert_eq!(code.len(), 6);
    assert!(code.chars().all(|c| c.is_ascii_digit()));

    let reply = update(
        &app,
        &alice,
        &[
            ("email", &address.to_uppercase()),
            ("verification_code", &code),
            ("phone", "+86 138-0013-8000"),
        ],
    )
    .await;
    reply.expect(200, 200);
    assert!(reply.data().is_null(), "no avatar, no URL");

    let me = app.get("/user/me", Some(&alice.access), &[]).await;
    assert_eq!(me.data()["Email"], address.as_str());
    assert_eq!(me.data()["Phone"], "+8613800138000");
    let seen_by_bob = app
        .get("/user/find", Some(&bob.access), &[("info", &alice.name)])
        .await;
    assert_eq!(seen_by_bob.data()["Email"], "");
    assert_eq!(seen_by_bob.data()["Phone"], "");

    // Single use.
    update(
        &app,
        &alice,
        &[("email", &address), ("verification_code", &code)],
    )
    .await
    .expect(200, 30015);

    // The address is Alice's now: Bob is answered as for any address, and Alice is told.
    email_check(&app, &bob, &address).await.expect(200, 200);
    assert_eq!(notices_to(&app, &address), 1);

    // Neither the email nor the phone is stored in clear, in the database or its log.
    let mut bytes = Vec::new();
    for name in ["confab.db", "confab.db-wal"] {
        if let Ok(b) = std::fs::read(app.data_dir.join(name)) {
            bytes.extend(b);
        }
    }
    assert!(!bytes.is_empty());
    for needle in [
        address.as_bytes(),
        b"8613800138000".as_slice(),
        b"example.com".as_slice(),
    ] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{:?} found in the database files",
            String::from_utf8_lossy(needle)
        );
    }
    let stored = app
        .stores
        .users
        .user_by_id(alice.id)
        .await
        .expect("read")
        .expect("alice");
    assert!(stored
        .email_sealed
        .as_deref()
        .is_some_and(|s| s.starts_with("v1.")));
    assert!(stored
        .phone_sealed
        .as_deref()
        .is_some_and(|s| s.starts_with("v1.")));
}

#[tokio::test]
async fn wrong_codes_are_limited_and_resends_throttled() {
    let app = spawn_app().await;
    let user = app.user("limit").await;
    let address = format!("{}@example.org", user.name);
    email_check(&app, &user, &address).await.expect(200, 200);
    let code = app.mailed_code(&address).expect("code");
    let wrong = if code == "000000" { "000001" } else { "000000" };

    let again = email_check(&app, &user, &address).await;
    again.expect(429, 30019);
    assert!(again.headers.contains_key("retry-after"));
    assert_eq!(
        app.mail_count(&address),
        1,
        "a throttled request sends nothing"
    );

    // Another account cannot flood the same address either.
    let other = app.user("other").await;
    email_check(&app, &other, &address).await.expect(429, 30019);

    for _ in 0..4 {
        update(
            &app,
            &user,
            &[("email", &address), ("verification_code", wrong)],
        )
        .await
        .expect(200, 30015);
    }
    update(
        &app,
        &user,
        &[("email", &address), ("verification_code", wrong)],
    )
    .await
    .expect(200, 30016);
    // After five wrong tries even the right code is void.
    update(
        &app,
        &user,
        &[("email", &address), ("verification_code", &code)],
    )
    .await
    .expect(200, 30016);
}

#[tokio::test]
async fn a_voided_code_still_holds_the_resend_throttle() {
    let app = spawn_app().await;
    let user = app.user("void").await;
    let address = format!("{}@example.org", user.name);
    email_check(&app, &user, &address).await.expect(200, 200);
    let code = app.mailed_code(&address).expect("code");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..4 {
        update(
            &app,
            &user,
            &[("email", &address), ("verification_code", wrong)],
        )
        .await
        .expect(200, 30015);
    }
    update(
        &app,
        &user,
        &[("email", &address), ("verification_code", wrong)],
    )
    .await
    .expect(200, 30016);

    // Voiding the code does not make room for a new one before the interval is over.
    let again = email_check(&app, &user, &address).await;
    again.expect(429, 30019);
    assert!(again.headers.contains_key("retry-after"));
    let other = app.user("void_other").await;
    email_check(&app, &other, &address).await.expect(429, 30019);
    assert_eq!(app.mail_count(&address), 1, "nothing more was sent");
    update(
        &app,
        &user,
        &[("email", &address), ("verification_code", &code)],
    )
    .await
    .expect(200, 30016);

    // Once the interval is over (the stored send time aged, as 60 s of waiting would), a
    // new code goes out and works.
    let mut pending = app
        .stores
        .codes
        .code_for(user.id)
        .await
        .expect("read")
        .expect("the void code is still stored");
    pending.sent_at -= 1000;
    assert!(app
        .stores
        .codes
        .put_code(&pending, i64::MAX)
        .await
        .expect("age"));
    email_check(&app, &user, &address).await.expect(200, 200);
    assert_eq!(app.mail_count(&address), 2);
    let fresh = app.mailed_code(&address).expect("a new code");
    update(
        &app,
        &user,
        &[("email", &address), ("verification_code", &fresh)],
    )
    .await
    .expect(200, 200);
}

/// The mails to `address` that tell its owner someone tried to use it.
fn notices_to(app: &TestApp, address: &str) -> usize {
    std::fs::read_dir(app.data_dir.join("mail"))
        .expect("the mail folder")
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .filter(|raw| raw.contains(&format!("To: {address}")))
        .filter(|raw| readable(raw).contains("Someone asked to add this address"))
        .count()
}

/// A mail file as a reader sees it: quoted-printable soft breaks joined and base64 parts
/// decoded (appended after the raw text).
fn readable(raw: &str) -> String {
    use base64::Engine as _;
    let raw = raw.replace("\r\n", "\n");
    let mut text = raw.replace("=\n", "");
    for part in raw.split("Content-Transfer-Encoding: base64").skip(1) {
        let Some(start) = part.find("\n\n") else {
            continue;
        };
        let body = &part[start + 2..];
        let end = body.find("\n--").unwrap_or(body.len());
        let joined: String = body[..end].split_whitespace().collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(joined) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[tokio::test]
async fn email_check_on_a_taken_address_answers_like_a_free_one() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let taken = format!("{}@example.com", owner.name);
    email_check(&app, &owner, &taken).await.expect(200, 200);
    let code = app.mailed_code(&taken).expect("code");
    update(
        &app,
        &owner,
        &[("email", &taken), ("verification_code", &code)],
    )
    .await
    .expect(200, 200);

    let asker = app.user("asker").await;
    let control = app.user("control").await;
    let free = format!("free_{}@example.com", control.name);
    let on_taken = email_check(&app, &asker, &taken.to_uppercase()).await;
    let on_free = email_check(&app, &control, &free).await;
    on_taken.expect(200, 200);
    assert_eq!(
        (on_taken.http, &on_taken.body),
        (on_free.http, &on_free.body),
        "the same answer for a taken and a free address"
    );
    // The free address got its code; the owner of the taken one was told, without a code.
    assert!(app.mailed_code(&free).is_some());
    assert_eq!(notices_to(&app, &taken), 1);
    assert_eq!(
        app.mail_count(&taken),
        2,
        "the owner's code, then the notice"
    );
    assert_eq!(notices_to(&app, &free), 0);

    // A guessed code fails alike on both, and the address stays the owner's.
    let on_taken = update(
        &app,
        &asker,
        &[("email", &taken), ("verification_code", "123456")],
    )
    .await;
    let wrong = if app.mailed_code(&free).as_deref() == Some("123456") {
        "654321"
    } else {
        "123456"
    };
    let on_free = update(
        &app,
        &control,
        &[("email", &free), ("verification_code", wrong)],
    )
    .await;
    on_taken.expect(200, 30015);
    assert_eq!(on_taken.body, on_free.body);
    let me = app.get("/user/me", Some(&owner.access), &[]).await;
    assert_eq!(me.data()["Email"], taken.as_str());

    // Asking again too soon is throttled alike.
    let on_taken = email_check(&app, &asker, &taken).await;
    let on_free = email_check(&app, &control, &free).await;
    // (The seconds in the reason and in Retry-After count down, so only their presence is
    // compared.)
    for reply in [&on_taken, &on_free] {
        reply.expect(429, 30019);
        assert!(reply.headers.contains_key("retry-after"));
    }
    assert_eq!(notices_to(&app, &taken), 1, "no second notice");
}

#[tokio::test]
async fn expired_and_misdirected_codes_fail() {
    let app = spawn_app().await;
    let user = app.user("exp").await;
    let address = format!("{}@example.net", user.name);
    email_check(&app, &user, &address).await.expect(200, 200);
    let code = app.mailed_code(&address).expect("code");

    let other_address = format!("x{}@example.net", user.name);
    update(
        &app,
        &user,
        &[("email", &other_address), ("verification_code", &code)],
    )
    .await
    .expect(200, 30015);

    // Age the stored code past its expiry, as 120 s of waiting would.
    let mut pending = app
        .stores
        .codes
        .code_for(user.id)
        .await
        .expect("read")
        .expect("pending");
    pending.expires_at -= 1000;
    assert!(app
        .stores
        .codes
        .put_code(&pending, i64::MAX)
        .await
        .expect("age"));
    let expired = update(
        &app,
        &user,
        &[("email", &address), ("verification_code", &code)],
    )
    .await;
    expired.expect(200, 30015);
    assert!(expired.error().contains("expired"), "{}", expired.body);
}

#[tokio::test]
async fn update_and_email_check_reject_bad_input() {
    let app = spawn_app().await;
    let user = app.user("bad").await;
    email_check(&app, &user, "not-an-address")
        .await
        .expect(400, 400);
    email_check(&app, &user, "").await.expect(400, 400);
    app.send(
        app.request(Method::POST, "/user/emailCheck", None)
            .query(&[("email", "a@b.co")]),
    )
    .await
    .expect(401, 30001);

    update(&app, &user, &[]).await.expect(400, 400);
    update(&app, &user, &[("email", "a@example.com")])
        .await
        .expect(400, 400);
    update(&app, &user, &[("verification_code", "123456")])
        .await
        .expect(400, 400);
    update(&app, &user, &[("phone", "call me maybe")])
        .await
        .expect(400, 400);
    update(
        &app,
        &user,
        &[("email", "a@example.com"), ("verification_code", "123456")],
    )
    .await
    .expect(200, 30015);
}

mod smtp {
    use confab::config::{MailTransport, SmtpSecurity};
    use confab_e2e::smtp::{start, RelayTls};
    use confab_e2e::{spawn_with, TestApp};
    use reqwest::Method;
    use std::time::Duration;

    async fn app_for(
        relay_port: u16,
        security: SmtpSecurity,
        ca: Option<&str>,
    ) -> (TestApp, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_file = dir.path().join("ca.pem");
        if let Some(pem) = ca {
            std::fs::write(&ca_file, pem).expect("write CA");
        }
        let app = spawn_with(|c| {
            c.email.transport = MailTransport::Smtp;
            c.email.smtp.host = "localhost".to_owned();
            c.email.smtp.port = relay_port;
            c.email.smtp.security = security;
            if ca.is_some() {
                c.email.smtp.ca_file = ca_file.clone();
            }
        })
        .await;
        (app, dir)
    }

    async fn email_check(app: &TestApp, token: &str, email: &str) -> confab_e2e::Reply {
        app.send(
            app.request(Method::POST, "/user/emailCheck", Some(token))
                .query(&[("email", email)]),
        )
        .await
    }

    #[tokio::test]
    async fn codes_are_sent_over_starttls_and_implicit_tls() {
        for (mode, security) in [
            (RelayTls::Starttls, SmtpSecurity::Starttls),
            (RelayTls::Implicit, SmtpSecurity::Tls),
        ] {
            let mut relay = start(mode).await;
            let (app, _dir) = app_for(relay.port, security, Some(&relay.ca_pem)).await;
            let user = app.user("smtp").await;
            let address = format!("{}@example.com", user.name);
            email_check(&app, &user.access, &address)
                .await
                .expect(200, 200);
            let (rcpt, data) = tokio::time::timeout(Duration::from_secs(20), relay.messages.recv())
                .await
                .expect("the relay got a message in time")
                .expect("a message");
            assert_eq!(rcpt, vec![address.clone()], "{mode:?}");
            let at = data
                .find("verification code is ")
                .expect("code in the mail")
                + 21;
            let code = &data[at..at + 6];
            app.form(
                Method::PUT,
                "/user/update",
                Some(&user.access),
                &[("email", &address), ("verification_code", code)],
            )
            .await
            .expect(200, 200);
        }
    }

    #[tokio::test]
    async fn no_clear_text_fallback_and_no_untrusted_relay() {
        // A relay without TLS.
        let mut plain = start(RelayTls::None).await;
        let (app, _dir) = app_for(plain.port, SmtpSecurity::Starttls, None).await;
        let user = app.user("plain").await;
        let address = format!("{}@example.com", user.name);
        let reply = email_check(&app, &user.access, &address).await;
        reply.expect(500, 500);
        assert_eq!(reply.error(), "internal error");
        assert!(
            plain.messages.try_recv().is_err(),
            "nothing went out in clear text"
        );
        // The failed send does not count against the resend limit.
        email_check(&app, &user.access, &address)
            .await
            .expect(500, 500);

        // A TLS relay whose certificate nobody trusts.
        let mut untrusted = start(RelayTls::Starttls).await;
        let (app, _dir) = app_for(untrusted.port, SmtpSecurity::Starttls, None).await;
        let user = app.user("untrusted").await;
        email_check(&app, &user.access, &format!("{}@example.com", user.name))
            .await
            .expect(500, 500);
        assert!(untrusted.messages.try_recv().is_err());
    }
}

#[tokio::test]
async fn a_code_is_used_once_even_by_racing_requests() {
    let app = spawn_app().await;
    let user = app.user("race").await;
    let address = format!("{}@example.com", user.name);
    email_check(&app, &user, &address).await.expect(200, 200);
    let code = app.mailed_code(&address).expect("code");

    // A refused update (bad phone) does not use the code up.
    update(
        &app,
        &user,
        &[
            ("email", &address),
            ("verification_code", &code),
            ("phone", "nope"),
        ],
    )
    .await
    .expect(400, 400);

    let form = [
        ("email", address.as_str()),
        ("verification_code", code.as_str()),
    ];
    let replies = futures::future::join_all((0..8).map(|_| update(&app, &user, &form))).await;
    let ok = replies.iter().filter(|r| r.code() == 200).count();
    let refused = replies.iter().filter(|r| r.code() == 30015).count();
    assert_eq!((ok, refused), (1, 7));
}
