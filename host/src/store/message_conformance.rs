//! The message-store conformance suite: SQL and MongoDB history pass it unchanged.
//!
//! Each run uses fresh conversation ids, so it may run on a store that holds data.

use rand::Rng;

use crate::messages::{Conversation, Message, NewMessage};
use crate::store::MessageStore;

fn draft(
    conversation: Conversation,
    sender: i64,
    recipient: Option<i64>,
    text: &str,
    at: i64,
) -> NewMessage {
    NewMessage {
        conversation,
        sender,
        recipient,
        content: text.to_owned(),
        client_id: None,
        sent_at: at,
        reply_to: None,
    }
}

/// Runs every check.
pub async fn run(store: &dyn MessageStore) {
    let base: i64 = rand::thread_rng().gen_range(1_000_000..1_000_000_000);
    let (a, b) = (base, base + 1);
    let direct = Conversation::direct(b, a);
    let group = Conversation::Group(base);

    // Ids increase and orders hold per conversation.
    let mut ids = Vec::new();
    for i in 0..15 {
        let (from, to) = if i % 3 == 2 { (b, a) } else { (a, b) };
        let m = store
            .append(draft(
                direct,
                from,
                Some(to),
                &format!("m{i}"),
                1_000 + i * 1_000,
            ))
            .await
            .expect("append");
        assert!(!m.duplicate);
        assert_eq!(m.message.content, format!("m{i}"));
        assert_eq!(m.message.conversation, direct);
        ids.push(m.message.id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let g1 = store
        .append(draft(group, a, None, "hello group", 5_000))
        .await
        .expect("group");
    assert_eq!(g1.message.recipient, None);

    // After a time: newer than T, oldest first, limited.
    let page = store.after(&direct, 0, 0, 10).await.expect("after");
    let texts: Vec<_> = page.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]
    );
    let page = store.after(&direct, 10_000, 0, 10).await.expect("after T");
    assert_eq!(page.first().map(|m| m.content.as_str()), Some("m10"));
    assert_eq!(page.len(), 5);
    assert!(store
        .after(&direct, 99_000, 0, 10)
        .await
        .expect("none")
        .is_empty());
    let in_group = store.after(&group, 0, 0, 10).await.expect("group history");
    assert_eq!(in_group.len(), 1, "conversations do not mix");

    // Before an id: the newest older ones, oldest first.
    let page = store.before(&direct, ids[12], 0, 5).await.expect("before");
    let texts: Vec<_> = page.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["m7", "m8", "m9", "m10", "m11"]);
    let page = store
        .before(&direct, ids[2], 0, 10)
        .await
        .expect("before start");
    assert_eq!(page.len(), 2);
    assert!(store
        .before(&direct, ids[0], 0, 10)
        .await
        .expect("nothing")
        .is_empty());

    // A lower bound on the id (a group member's join point) holds in both directions.
    let texts =
        |page: Vec<Message>| -> Vec<String> { page.into_iter().map(|m| m.content).collect() };
    let page = store.after(&direct, 0, ids[4], 10).await.expect("above");
    assert_eq!(
        texts(page),
        ["m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12", "m13", "m14"]
    );
    let page = store
        .after(&direct, 10_000, ids[11], 10)
        .await
        .expect("after T and above");
    assert_eq!(texts(page), ["m12", "m13", "m14"]);
    let page = store
        .before(&direct, ids[12], ids[9], 5)
        .await
        .expect("between");
    assert_eq!(texts(page), ["m10", "m11"]);
    let page = store
        .before(&direct, i64::MAX, ids[13], 10)
        .await
        .expect("newest above");
    assert_eq!(texts(page), ["m14"]);
    assert!(store
        .before(&direct, i64::MAX, ids[14], 10)
        .await
        .expect("none above the newest")
        .is_empty());

    unread_and_read(store, base, direct, group, &ids).await;

    // De-duplication by the sender's client id.
    let with_id = NewMessage {
        client_id: Some("c-1".to_owned()),
        ..draft(direct, a, Some(b), "once", 20_000)
    };
    let first = store.append(with_id.clone()).await.expect("first");
    assert_eq!(first.message.client_id.as_deref(), Some("c-1"));
    let again = store
        .append(NewMessage {
            content: "changed".to_owned(),
            sent_at: 21_000,
            ..with_id.clone()
        })
        .await
        .expect("again");
    assert!(again.duplicate);
    assert_eq!(again.message, first.message);
    assert!(
        store
            .mark_read(&direct, b, first.message.id)
            .await
            .expect("read"),
        "b's cursor moves past the message"
    );
    let read_since = store
        .append(with_id.clone())
        .await
        .expect("again, after b read it");
    assert!(read_since.duplicate);
    assert!(
        read_since.message.read,
        "a resend answers with the message as it is now"
    );
    let other_sender = store
        .append(NewMessage {
            sender: b,
            recipient: Some(a),
            ..with_id.clone()
        })
        .await
        .expect("other sender");
    assert!(!other_sender.duplicate, "client ids are per sender");
    let elsewhere = store
        .append(NewMessage {
            conversation: group,
            recipient: None,
            ..with_id.clone()
        })
        .await
        .expect("same id, other conversation");
    assert!(elsewhere.duplicate, "a client id is unique per sender");
    assert_eq!(
        elsewhere.message.conversation, direct,
        "the stored message keeps its conversation"
    );
    assert_eq!(
        store
            .after(&direct, 19_000, 0, 10)
            .await
            .expect("after")
            .len(),
        2
    );

    // Retention.
    let old = Conversation::Group(base + 7);
    store
        .append(draft(old, a, None, "ancient", 10))
        .await
        .expect("old");
    store
        .append(draft(old, a, None, "recent", 9_000_000_000_000))
        .await
        .expect("new");
    assert!(store.purge_before(100).await.expect("purge") >= 1);
    let left = store.after(&old, 0, 0, 10).await.expect("left");
    assert_eq!(
        left.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
        ["recent"]
    );

    batches(store, base + 100).await;
}

/// Read cursors: what a reader has read is every message to them up to their cursor, which
/// only moves forward. `ids` are m0..m14 of `direct`, where m2, m5, m8, m11 and m14 went from
/// `b` to `a` and the others from `a` to `b`.
async fn unread_and_read(
    store: &dyn MessageStore,
    base: i64,
    direct: Conversation,
    group: Conversation,
    ids: &[i64],
) {
    let (a, b) = (base, base + 1);
    let contents =
        |page: &[Message]| -> Vec<String> { page.iter().map(|m| m.content.clone()).collect() };
    let flags = |page: &[Message]| -> Vec<bool> { page.iter().map(|m| m.read).collect() };

    // Unread for a: from the oldest message to a on, everything (a's own included).
    let unread = store.unread(&direct, a, 100).await.expect("unread");
    assert_eq!(unread.first().map(|m| m.content.as_str()), Some("m2"));
    assert_eq!(unread.len(), 13);
    assert!(unread.iter().all(|m| !m.read), "nothing is read yet");
    let page = store.unread(&direct, a, 4).await.expect("a page of unread");
    assert_eq!(
        contents(&page),
        ["m2", "m3", "m4", "m5"],
        "a page is the oldest unread and what follows it, up to the limit"
    );
    assert!(
        !store.mark_read(&direct, a, 0).await.expect("mark nothing"),
        "a cursor at 0 is no cursor"
    );
    assert!(store.mark_read(&direct, a, ids[14]).await.expect("mark"));
    assert!(store
        .unread(&direct, a, 100)
        .await
        .expect("none left")
        .is_empty());
    let page = store.after(&direct, 0, 0, 15).await.expect("read flags");
    assert_eq!(
        flags(&page),
        [
            false, false, true, false, false, true, false, false, true, false, false, true, false,
            false, true
        ],
        "only the messages to the reader are read"
    );

    // The cursor never moves back: marking an older id, or the same, changes nothing.
    assert!(!store.mark_read(&direct, a, ids[5]).await.expect("older"));
    assert!(!store.mark_read(&direct, a, ids[14]).await.expect("same"));
    assert!(store
        .unread(&direct, a, 100)
        .await
        .expect("still none")
        .is_empty());
    let again = store.after(&direct, 0, 0, 15).await.expect("read flags");
    assert_eq!(flags(&again), flags(&page), "the flags stay as they were");

    // b's unread starts at m0; reading part of it moves b's start, and the flags of the
    // messages to b up to there, only.
    assert_eq!(
        contents(&store.unread(&direct, b, 1).await.expect("b")),
        ["m0"]
    );
    assert!(store.mark_read(&direct, b, ids[3]).await.expect("partial"));
    assert_eq!(
        contents(&store.unread(&direct, b, 1).await.expect("b")),
        ["m4"]
    );
    let page = store.before(&direct, ids[6], 0, 6).await.expect("flags");
    assert_eq!(
        flags(&page),
        [true, true, true, true, false, true],
        "m0, m1, m3 read by b, m2 and m5 by a; m4 not yet"
    );
    assert!(!store.mark_read(&direct, b, ids[1]).await.expect("older"));
    assert_eq!(
        contents(&store.unread(&direct, b, 1).await.expect("b")),
        ["m4"]
    );

    // A reader's own messages are never unread for them: a sends after reading everything.
    let own = store
        .append(draft(direct, a, Some(b), "from a", 16_000))
        .await
        .expect("own");
    assert!(!own.message.read);
    assert!(store
        .unread(&direct, a, 100)
        .await
        .expect("own messages are not unread")
        .is_empty());
    let fresh = Conversation::direct(base + 5, base + 6);
    for n in 0..3 {
        store
            .append(draft(fresh, base + 5, Some(base + 6), "only sent", n))
            .await
            .expect("one-way");
    }
    assert!(store
        .unread(&fresh, base + 5, 100)
        .await
        .expect("the sender")
        .is_empty());
    assert_eq!(
        store
            .unread(&fresh, base + 6, 100)
            .await
            .expect("the recipient")
            .len(),
        3
    );

    // A new message after the cursor is unread, and the listing starts at it.
    let new = store
        .append(draft(direct, b, Some(a), "after the cursor", 17_000))
        .await
        .expect("new");
    let unread = store.unread(&direct, a, 100).await.expect("unread again");
    assert_eq!(contents(&unread), ["after the cursor"]);
    assert!(!unread[0].read);
    assert!(store
        .mark_read(&direct, a, new.message.id)
        .await
        .expect("mark"));
    let newest = store.before(&direct, i64::MAX, 0, 2).await.expect("newest");
    assert_eq!(
        flags(&newest),
        [false, true],
        "b has not read a's message; a has read b's"
    );

    // Group messages have no read state, cursor or not.
    let in_group = store.after(&group, 0, 0, 10).await.expect("group");
    let last = in_group.last().map(|m| m.id).expect("a group message");
    store
        .mark_read(&group, a, last)
        .await
        .expect("group cursor");
    let in_group = store.after(&group, 0, 0, 10).await.expect("group");
    assert!(in_group.iter().all(|m| !m.read));
    assert!(store
        .unread(&group, a, 10)
        .await
        .expect("group unread")
        .is_empty());
}

/// Group commit: a batch is stored in order, with the same de-duplication as one by one.
async fn batches(store: &dyn MessageStore, base: i64) {
    let (a, b) = (base, base + 1);
    let direct = Conversation::direct(a, b);
    let group = Conversation::Group(base);
    let with_id =
        |conversation, sender, recipient, text: &str, client_id: Option<&str>| NewMessage {
            client_id: client_id.map(str::to_owned),
            ..draft(conversation, sender, recipient, text, 50_000)
        };
    let stored_before = store
        .append(with_id(direct, a, Some(b), "earlier", Some("b-0")))
        .await
        .expect("append");

    assert!(store
        .append_batch(Vec::new())
        .await
        .expect("empty")
        .is_empty());
    let batch = vec![
        with_id(direct, a, Some(b), "one", Some("b-1")),
        with_id(group, b, None, "two", None),
        with_id(direct, a, Some(b), "again", Some("b-0")),
        with_id(direct, b, Some(a), "three", Some("b-1")),
        with_id(direct, a, Some(b), "repeat", Some("b-1")),
        with_id(group, a, None, "four", Some("b-4")),
    ];
    let appended = store.append_batch(batch).await.expect("batch");
    assert_eq!(appended.len(), 6, "one answer per message, in order");
    let fresh: Vec<_> = appended.iter().filter(|x| !x.duplicate).collect();
    assert_eq!(
        fresh
            .iter()
            .map(|x| x.message.content.as_str())
            .collect::<Vec<_>>(),
        ["one", "two", "three", "four"]
    );
    assert!(
        fresh.windows(2).all(|w| w[0].message.id < w[1].message.id),
        "ids follow the batch's order"
    );
    assert!(fresh[0].message.id > stored_before.message.id);
    // A client id stored before the batch, and one repeated within it, are duplicates
    // that answer with the stored message.
    assert!(appended[2].duplicate);
    assert_eq!(appended[2].message, stored_before.message);
    assert!(appended[4].duplicate);
    assert_eq!(appended[4].message, appended[0].message);
    // Another sender may use the same client id.
    assert!(!appended[3].duplicate && appended[3].message.sender == b);
    assert_eq!(appended[1].message.recipient, None);

    // What the batch stored is what history shows, in id order.
    let history = store.after(&direct, 0, 0, 100).await.expect("history");
    assert_eq!(
        history
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        ["earlier", "one", "three"]
    );
    let history = store.after(&group, 0, 0, 100).await.expect("group history");
    assert_eq!(
        history
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        ["two", "four"]
    );

    // A large batch spans several statements and keeps its order.
    let big_conv = Conversation::Group(base + 1);
    let big: Vec<NewMessage> = (0..600)
        .map(|n| {
            with_id(
                big_conv,
                a,
                None,
                &format!("n{n}"),
                Some(&format!("big-{n}")),
            )
        })
        .collect();
    let appended = store.append_batch(big).await.expect("big batch");
    assert!(appended.iter().all(|x| !x.duplicate));
    assert!(appended
        .windows(2)
        .all(|w| w[0].message.id < w[1].message.id));
    let mut seen = Vec::new();
    let mut cursor = i64::MAX;
    loop {
        let page = store.before(&big_conv, cursor, 0, 250).await.expect("page");
        if page.is_empty() {
            break;
        }
        cursor = page[0].id;
        seen.splice(0..0, page.into_iter().map(|m| m.content));
    }
    assert_eq!(seen, (0..600).map(|n| format!("n{n}")).collect::<Vec<_>>());
    for (message, stored) in seen.iter().zip(&appended) {
        assert_eq!(message, &stored.message.content);
    }
}
