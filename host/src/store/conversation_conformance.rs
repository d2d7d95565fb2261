//! The conversation-store conformance suite: SQL and MongoDB pass it unchanged.
//!
//! Each run uses fresh user and group ids, so it may run on a store that holds data.

use rand::Rng;

use crate::messages::{Conversation, NewMessage};
use crate::store::conversations::{ConversationStore, Readable};
use crate::store::MessageStore;

/// Stores one message and returns its id.
async fn say(
    messages: &dyn MessageStore,
    conversation: Conversation,
    sender: i64,
    recipient: Option<i64>,
    text: &str,
) -> i64 {
    let draft = NewMessage {
        conversation,
        sender,
        recipient,
        content: text.to_owned(),
        client_id: None,
        sent_at: 1_700_000_000_000,
        reply_to: None,
    };
    let appended = messages.append(draft).await.expect("append");
    appended.message.id
}

/// Runs every check; `messages` and `conversations` are the same backend.
pub async fn run(messages: &dyn MessageStore, conversations: &dyn ConversationStore) {
    let base: i64 = rand::thread_rng().gen_range(1_000_000..1_000_000_000);
    let (a, b, c) = (base, base + 1, base + 2);
    let direct = Conversation::direct(a, b);
    let quiet = Conversation::direct(a, c);
    let group = Conversation::Group(base);
    let open = |conversation| Readable {
        conversation,
        floor: 0,
    };

    assert_eq!(
        conversations
            .newest(&[open(direct), open(group)])
            .await
            .expect("newest of nothing"),
        [0, 0]
    );

    let d1 = say(messages, direct, a, Some(b), "hi b").await;
    let d2 = say(messages, direct, b, Some(a), "hi a").await;
    let d3 = say(messages, direct, b, Some(a), "still there?").await;
    let g1 = say(messages, group, b, None, "hello group").await;
    let g2 = say(messages, group, a, None, "hello from a").await;
    let g3 = say(messages, group, c, None, "@a look").await;
    assert!(d1 < d2 && d2 < d3 && d3 < g1 && g1 < g2 && g2 < g3);

    // The newest message above each floor, in the order asked; none above the newest.
    let floored = Readable {
        conversation: group,
        floor: g3,
    };
    let newest = conversations
        .newest(&[open(group), open(quiet), open(direct), floored])
        .await
        .expect("newest");
    assert_eq!(newest, [g3, 0, d3, 0]);

    // Unread: the peer's messages above the cursor; the reader's own never count.
    let page = [(open(direct), d3), (open(group), g3), (open(quiet), 0)];
    let summaries = conversations
        .summaries(a, &page, 100)
        .await
        .expect("summaries");
    let last = summaries[0].last.as_ref().expect("a last message");
    assert_eq!(
        (last.id, last.sender, last.content.as_str()),
        (d3, b, "still there?")
    );
    assert_eq!(last.sent_at, 1_700_000_000_000);
    assert_eq!((summaries[0].unread, summaries[0].mentions), (2, 0));
    assert_eq!(summaries[1].last.as_ref().map(|m| m.id), Some(g3));
    assert_eq!((summaries[1].unread, summaries[1].mentions), (2, 0));
    assert_eq!(summaries[2].last, None);
    assert_eq!((summaries[2].unread, summaries[2].mentions), (0, 0));
    let for_b = conversations
        .summaries(b, &page[..1], 100)
        .await
        .expect("b's summary");
    assert_eq!(for_b[0].unread, 1, "b has one message from a");

    // Counts stop at the cap.
    let capped = conversations
        .summaries(a, &page[..2], 1)
        .await
        .expect("capped");
    assert_eq!((capped[0].unread, capped[1].unread), (1, 1));

    // Mentions: only new ones come back, so a resend records nothing twice.
    let fresh = conversations
        .add_mentions(base, g3, &[a, b])
        .await
        .expect("mention");
    assert_eq!(fresh, [a, b]);
    let again = conversations
        .add_mentions(base, g3, &[b, a])
        .await
        .expect("mention again");
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        conversations
            .add_mentions(base, g1, &[a])
            .await
            .expect("an older mention"),
        [a]
    );
    let group_page = [(open(group), g3)];
    let mentioned = conversations
        .summaries(a, &group_page, 100)
        .await
        .expect("mentioned");
    assert_eq!((mentioned[0].unread, mentioned[0].mentions), (2, 2));

    // Reading moves the cursor: what is at or below it is neither unread nor a mention.
    assert!(messages.mark_read(&group, a, g1).await.expect("read g1"));
    let part = conversations
        .summaries(a, &group_page, 100)
        .await
        .expect("part read");
    assert_eq!((part[0].unread, part[0].mentions), (1, 1));
    // A floor above the cursor bounds the counts too (a member who joined later).
    let from_g2 = [(
        Readable {
            conversation: group,
            floor: g2,
        },
        g3,
    )];
    let floored = conversations
        .summaries(b, &from_g2, 100)
        .await
        .expect("floored");
    assert_eq!((floored[0].unread, floored[0].mentions), (1, 1));
    assert!(messages.mark_read(&group, a, g3).await.expect("read all"));
    assert!(messages.mark_read(&direct, a, d3).await.expect("read d"));
    let read = conversations
        .summaries(a, &page[..2], 100)
        .await
        .expect("all read");
    assert_eq!(
        read.iter()
            .map(|s| (s.unread, s.mentions))
            .collect::<Vec<_>>(),
        [(0, 0), (0, 0)]
    );
    assert_eq!(read[0].last.as_ref().map(|m| m.id), Some(d3), "still shown");

    // A newest id that names no stored message shows no last message.
    let gone = conversations
        .summaries(a, &[(open(quiet), i64::MAX - 1)], 100)
        .await
        .expect("gone");
    assert_eq!(gone[0].last, None);
    assert!(conversations
        .summaries(a, &[], 100)
        .await
        .expect("empty page")
        .is_empty());
}
