//! The message-store conformance suite on MongoDB, and the indexes the backend relies on.

use std::time::Duration;

use confab::messages::{Conversation, NewMessage};
use confab::store::{MessageStore, MongoMessages};
use confab_e2e::suffix;
use futures::TryStreamExt;

/// A store on a fresh database of the server named by `CONFAB_TEST_MONGO_URL`, or `None`
/// (skipped).
async fn fresh_mongo(retention_days: u32) -> Option<MongoMessages> {
    let Ok(url) = std::env::var("CONFAB_TEST_MONGO_URL") else {
        eprintln!(
            "SKIPPED: MongoDB tests need CONFAB_TEST_MONGO_URL (e.g. mongodb://127.0.0.1:27017)"
        );
        return None;
    };
    let name = format!("confab_t_{}", suffix());
    let store = MongoMessages::connect(&url, &name, retention_days)
        .await
        .expect("CONFAB_TEST_MONGO_URL is set but the server cannot be reached");
    Some(store)
}

/// Drops a database made by [`fresh_mongo`] once its test has passed.
async fn drop_mongo(store: &MongoMessages) {
    store
        .database()
        .drop()
        .await
        .expect("drop the test database");
}

#[tokio::test]
async fn mongo_passes_the_message_suite() {
    // Retention off: the suite's messages are dated 1970 and a TTL monitor would take them.
    let Some(store) = fresh_mongo(0).await else {
        return;
    };
    confab::store::message_conformance::run(&store).await;
    confab::store::change_conformance::run(&store, &store).await;
    drop_mongo(&store).await;
}

#[tokio::test]
async fn mongo_stores_a_raced_retry_once() {
    let Some(store) = fresh_mongo(0).await else {
        return;
    };
    // Every copy passes the look-up before any is inserted, so the unique index decides.
    let copy = || NewMessage {
        conversation: Conversation::Group(7),
        sender: 1,
        recipient: None,
        content: "once".to_owned(),
        client_id: Some("retry".to_owned()),
        sent_at: 1_000,
        reply_to: None,
    };
    let results = futures::future::join_all((0..8).map(|_| store.append(copy()))).await;
    let results: Vec<_> = results.into_iter().map(|r| r.expect("append")).collect();
    assert_eq!(results.iter().filter(|r| !r.duplicate).count(), 1);
    assert!(results.iter().all(|r| r.message == results[0].message));
    let stored = store
        .after(&Conversation::Group(7), 0, 0, 10)
        .await
        .expect("history");
    assert_eq!(stored.len(), 1);
    drop_mongo(&store).await;
}

#[tokio::test]
async fn mongo_has_the_dedup_and_ttl_indexes() {
    let Some(store) = fresh_mongo(30).await else {
        return;
    };
    // Connecting again must not fail on the indexes the first connection made.
    let url = std::env::var("CONFAB_TEST_MONGO_URL").expect("set, or fresh_mongo skipped");
    MongoMessages::connect(&url, store.database().name(), 30)
        .await
        .expect("index creation is idempotent");

    // The collection's document type does not matter for listing its indexes.
    let indexes: Vec<_> = store
        .database()
        .collection::<serde_json::Value>("messages")
        .list_indexes()
        .await
        .expect("list indexes")
        .try_collect()
        .await
        .expect("read indexes");
    let named = |name: &str| {
        indexes
            .iter()
            .find(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some(name))
            .unwrap_or_else(|| panic!("index {name} exists: {indexes:?}"))
    };

    let ttl = named("expire_at");
    assert!(ttl.keys.contains_key("expire_at"), "{ttl:?}");
    let ttl = ttl.options.as_ref().expect("options");
    assert_eq!(ttl.expire_after, Some(Duration::from_secs(0)), "{ttl:?}");

    let dedup = named("sender_client_id");
    let keys: Vec<&str> = dedup.keys.keys().map(String::as_str).collect();
    assert_eq!(keys, ["sender", "client_id"]);
    let dedup = dedup.options.as_ref().expect("options");
    assert_eq!(dedup.unique, Some(true), "{dedup:?}");
    let partial = dedup
        .partial_filter_expression
        .as_ref()
        .expect("the client-id index is partial");
    assert!(
        partial
            .get_document("client_id")
            .is_ok_and(|d| d.contains_key("$exists")),
        "{partial:?}"
    );

    named("conv_id");
    assert!(
        !indexes
            .iter()
            .any(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some("conv_unread")),
        "read state is in read cursors, with no index on messages: {indexes:?}"
    );
    drop_mongo(&store).await;
}
