//! The conversation store's suite and a short run of the server on MariaDB and MongoDB,
//! each skipped (with a SKIPPED line) when its server is not configured.

use crate::storage::{drop_mysql, fresh_mysql};
use confab::config::DatabaseConfig;
use confab::store::{conversation_conformance, MongoMessages, SqlStore};
use confab_e2e::{spawn_with, suffix, TestApp};
use serde_json::json;

use super::{
    befriend, conversations, counts, friend, group, group_socket, inbox, read_unread, say, send_to,
};

/// A short run of the list on whichever backend `app` uses: order, unread and mentions.
async fn list_and_mentions(app: &TestApp) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    befriend(app, &alice, &bob).await;
    let g = app
        .create_group(&alice, json!({ "group_name": "backend" }))
        .await;
    app.join_group(&bob, g).await.expect(200, 200);
    let mut team_b = group_socket(app, &bob, g).await;
    say(&mut team_b, "@alice", json!([alice.id]), "b-1").await;
    let mut b = inbox(app, &bob).await;
    send_to(&mut b, alice.id, "hi").await;
    let list = conversations(app, &alice, &[]).await;
    assert_eq!(counts(&list), [friend(&bob, 1), group(g, 1, 1)]);
    assert_eq!(read_unread(app, &alice, &bob).await, ["hi"]);
    let read = conversations(app, &alice, &[]).await;
    assert_eq!(counts(&read), [friend(&bob, 0), group(g, 1, 1)]);
}

#[tokio::test]
async fn conversations_on_mysql() {
    let Some(url) = fresh_mysql().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = DatabaseConfig {
        url: url.clone(),
        max_connections: 4,
        ..DatabaseConfig::default()
    };
    let sql = SqlStore::connect(&config, dir.path())
        .await
        .expect("connect");
    sql.migrate().await.expect("migrate");
    conversation_conformance::run(&sql, &sql).await;
    sql.pool().close().await;
    let app = spawn_with(|c| c.database.url = url.clone()).await;
    list_and_mentions(&app).await;
    app.stop().await;
    drop_mysql(&url).await;
}

#[tokio::test]
async fn conversations_on_mongo() {
    let Ok(url) = std::env::var("CONFAB_TEST_MONGO_URL") else {
        eprintln!(
            "SKIPPED: MongoDB tests need CONFAB_TEST_MONGO_URL (e.g. mongodb://127.0.0.1:27017)"
        );
        return;
    };
    let name = format!("confab_c_{}", suffix());
    let store = MongoMessages::connect(&url, &name, 0)
        .await
        .expect("CONFAB_TEST_MONGO_URL is set but the server cannot be reached");
    conversation_conformance::run(&store, &store).await;
    let app = spawn_with(|c| {
        c.history.url = url.clone();
        c.history.database = name.clone();
    })
    .await;
    list_and_mentions(&app).await;
    app.stop().await;
    store
        .database()
        .drop()
        .await
        .expect("drop the test database");
}
