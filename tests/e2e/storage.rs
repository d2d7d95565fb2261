//! The storage conformance suite on MariaDB/MySQL, and the whole server on it.

use confab::config::DatabaseConfig;
use confab::store::{conformance, SqlStore, Stores};
use confab_e2e::{spawn_with, suffix};
use sqlx::Connection;

/// A fresh database on the server named by `CONFAB_TEST_MYSQL_URL`, or `None` (skipped).
pub(crate) async fn fresh_mysql() -> Option<String> {
    let Ok(url) = std::env::var("CONFAB_TEST_MYSQL_URL") else {
        eprintln!("SKIPPED: MySQL tests need CONFAB_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/test)");
        return None;
    };
    let mut conn = sqlx::MySqlConnection::connect(&url)
        .await
        .expect("CONFAB_TEST_MYSQL_URL is set but the server cannot be reached");
    let name = format!("confab_t_{}", suffix());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// Drops a database made by [`fresh_mysql`] once its test has passed.
pub(crate) async fn drop_mysql(url: &str) {
    let mut conn = sqlx::MySqlConnection::connect(url).await.expect("connect");
    let name = url.rsplit('/').next().expect("database name");
    sqlx::query(&format!("DROP DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("drop the test database");
}

#[tokio::test]
async fn mysql_passes_the_conformance_suite() {
    let Some(url) = fresh_mysql().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = DatabaseConfig {
        url,
        max_connections: 4,
        ..DatabaseConfig::default()
    };
    let sql = SqlStore::connect(&config, dir.path())
        .await
        .expect("connect");
    sql.migrate().await.expect("migrate");
    sql.migrate().await.expect("migrations are idempotent");
    let stores = Stores::from_sql(sql.clone());
    conformance::run(&stores).await;
    conformance::delete_cascades(&sql, &stores).await;
    confab::store::message_conformance::run(&sql).await;
    confab::store::change_conformance::run(&sql, &sql).await;
    sql.pool().close().await;
    drop_mysql(&config.url).await;
}

#[tokio::test]
async fn the_server_runs_on_mysql() {
    let Some(url) = fresh_mysql().await else {
        return;
    };
    let app = spawn_with(|c| c.database.url = url.clone()).await;
    let alice = app.user("my").await;
    let bob = app.user("sql").await;
    app.get("/user/find", Some(&alice.access), &[("info", &bob.name)])
        .await
        .expect(200, 200);
    let address = format!("{}@example.com", alice.name);
    app.send(
        app.request(
            reqwest::Method::POST,
            "/user/emailCheck",
            Some(&alice.access),
        )
        .query(&[("email", address.as_str())]),
    )
    .await
    .expect(200, 200);
    let code = app.mailed_code(&address).expect("code");
    app.form(
        reqwest::Method::PUT,
        "/user/update",
        Some(&alice.access),
        &[
            ("email", &address),
            ("verification_code", &code),
            ("phone", "12345678"),
        ],
    )
    .await
    .expect(200, 200);
    // The stored row holds only sealed values.
    let mut conn = sqlx::MySqlConnection::connect(&url).await.expect("connect");
    let (email, phone): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT email_sealed, phone_sealed FROM users WHERE id = ?")
            .bind(alice.id)
            .fetch_one(&mut conn)
            .await
            .expect("row");
    let email = email.expect("email stored");
    assert!(email.starts_with("v1.") && !email.contains("example"));
    assert!(!phone.expect("phone stored").contains("12345678"));
    drop(conn);
    app.stop().await;
    drop_mysql(&url).await;
}

#[tokio::test]
async fn sqlite_data_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = confab::Config::for_tests(dir.path());
    // Let the server generate its own token secret into the data folder.
    config.auth.jwt_secret.clear();
    let app = confab_e2e::start(config.clone()).await;
    let user = app.user("persist").await;
    app.stop().await;
    assert!(dir.path().join("confab.db").is_file());

    let app = confab_e2e::start(config).await;
    app.login(&user.name, &user.password).await.expect(200, 200);
    // Tokens issued before the restart still work: the secret was kept in the data folder.
    app.get("/user/me", Some(&user.access), &[])
        .await
        .expect(200, 200);
}
