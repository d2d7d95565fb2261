//! The change-store conformance suite: edits, recalls, hidings, reactions and cursors
//! behave the same on SQLite, MySQL and MongoDB.
//!
//! Each run uses fresh conversation ids, so it may run on a store that holds data.

use rand::Rng;

use crate::messages::{Conversation, NewMessage};
use crate::store::changes::{ChangeStore, Reaction};
use crate::store::MessageStore;

/// Runs every check on `history` and the change store `changes` beside it (one object on
/// SQL and MongoDB; the message log and the SQLite under it).
pub async fn run(history: &dyn MessageStore, changes: &dyn ChangeStore) {
    let base: i64 = rand::thread_rng().gen_range(1_000_000..1_000_000_000);
    let (a, b) = (base, base + 1);
    let conversation = Conversation::direct(a, b);
    let draft = |text: &str, reply_to: Option<i64>| NewMessage {
        conversation,
        sender: a,
        recipient: Some(b),
        content: text.to_owned(),
        client_id: None,
        sent_at: 1_000,
        reply_to,
    };
    let first = history.append(draft("first", None)).await.expect("append");
    let first = first.message.id;
    let reply = history
        .append(draft("reply", Some(first)))
        .await
        .expect("append")
        .message;
    history.settle().await.expect("settle");

    // A message reads back with its reply link; an edit replaces its text.
    let found = changes
        .message(reply.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!((found.reply_to, found.edited_at), (Some(first), None));
    assert!(changes
        .edit(first, "first, edited", 2_000)
        .await
        .expect("edit"));
    let edited = changes.message(first).await.expect("read").expect("stored");
    assert_eq!(
        (edited.content.as_str(), edited.edited_at),
        ("first, edited", Some(2_000))
    );
    let listed = history
        .before(&conversation, i64::MAX, 0, 10)
        .await
        .expect("history");
    assert_eq!(listed[0].content, "first, edited");
    assert_eq!(listed[0].edited_at, Some(2_000));
    assert_eq!(listed[1].reply_to, Some(first));
    assert!(!changes.edit(i64::MAX - 1, "x", 1).await.expect("edit"));

    // Hiding is per user and happens once.
    assert!(changes.hide(b, first).await.expect("hide"));
    assert!(!changes.hide(b, first).await.expect("hide again"));
    let hidden = changes.hidden(b, &[first, reply.id]).await.expect("hidden");
    assert_eq!(hidden.into_iter().collect::<Vec<_>>(), vec![first]);
    assert!(changes
        .hidden(a, &[first])
        .await
        .expect("hidden")
        .is_empty());

    // Reactions toggle and list in the order they were made.
    let react = |user, emoji: &str| Reaction {
        message: first,
        user,
        emoji: emoji.to_owned(),
    };
    assert!(changes
        .react(&react(b, "👍"), true, 10)
        .await
        .expect("react"));
    assert!(!changes
        .react(&react(b, "👍"), true, 11)
        .await
        .expect("twice"));
    assert!(changes
        .react(&react(a, "❤️"), true, 12)
        .await
        .expect("react"));
    assert_eq!(
        changes.reactions(&[first, reply.id]).await.expect("list"),
        vec![react(b, "👍"), react(a, "❤️")]
    );
    assert!(changes
        .react(&react(b, "👍"), false, 13)
        .await
        .expect("take back"));
    assert!(!changes
        .react(&react(b, "👍"), false, 14)
        .await
        .expect("again"));
    assert_eq!(
        changes.reactions(&[first]).await.expect("list"),
        vec![react(a, "❤️")]
    );

    // Read cursors list per reader.
    assert!(history
        .mark_read(&conversation, b, reply.id)
        .await
        .expect("mark"));
    assert_eq!(
        changes.cursors(&conversation).await.expect("cursors"),
        vec![(b, reply.id)]
    );

    // A recall deletes the message with its reactions and hidings.
    assert!(changes.recall(first).await.expect("recall"));
    assert!(!changes.recall(first).await.expect("recall again"));
    assert!(changes.message(first).await.expect("read").is_none());
    assert!(changes.reactions(&[first]).await.expect("list").is_empty());
    assert!(changes
        .hidden(b, &[first])
        .await
        .expect("hidden")
        .is_empty());
    let listed = history
        .before(&conversation, i64::MAX, 0, 10)
        .await
        .expect("history");
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![reply.id]
    );
    // A purge takes what hangs on the messages it deletes.
    let old = history
        .append(NewMessage {
            sent_at: 5,
            ..draft("ancient", None)
        })
        .await
        .expect("append")
        .message
        .id;
    history.settle().await.expect("settle");
    let on_old = Reaction {
        message: old,
        user: b,
        emoji: "👍".to_owned(),
    };
    assert!(changes.react(&on_old, true, 20).await.expect("react"));
    assert!(changes.hide(b, old).await.expect("hide"));
    assert!(history.purge_before(6).await.expect("purge") >= 1);
    assert!(changes.message(old).await.expect("read").is_none());
    assert!(changes.reactions(&[old]).await.expect("list").is_empty());
    assert!(changes.hidden(b, &[old]).await.expect("hidden").is_empty());
}
