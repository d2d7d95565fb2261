//! Mentions in group messages: the `mentions` field of a send, the record kept of each
//! member mentioned, and the notice that goes to their inboxes.
//!
//! A client names the members it mentions by id (`"mentions": [12, 40]`) rather than the
//! server finding `@name` in the text: names change and may look alike, while an id is
//! what the client picked from the member list. There is no "@all": every member already
//! receives every group message, and a notice to each inbox of a large group is a
//! broadcast any member could trigger. Mentions are recorded only once the message is
//! stored, and only for members of the group other than the sender; others are dropped
//! without an error, as a member may have left while the message was being written.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bus::{Bus, Event};
use crate::error::Result;
use crate::groups::{GroupId, GroupService};
use crate::messages::service::Pending;
use crate::messages::{Conversation, Message};
use crate::store::conversations::ConversationStore;
use crate::users::UserId;

/// The most users one message may mention.
pub const MAX_MENTIONS: usize = 20;

/// What a malformed `mentions` is told.
const NOT_A_LIST: &str = "mentions must be a list of user ids, such as [12, 40]";

/// A stored group message that mentions someone: what their inbox is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    /// The group.
    pub group: GroupId,
    /// The message's id.
    pub message: i64,
    /// Who sent it.
    pub sender: UserId,
}

/// Reads the `mentions` of a send frame: none when absent or null, else a list of at most
/// [`MAX_MENTIONS`] user ids (numbers, or digits in a string), repeats dropped.
pub fn read(value: Option<&Value>) -> std::result::Result<Vec<UserId>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(Value::String(_)) => {
            return Err(format!(
                "{NOT_A_LIST}; there is no \"@all\": every member receives the message anyway"
            ))
        }
        Some(_) => return Err(NOT_A_LIST.to_owned()),
    };
    if items.len() > MAX_MENTIONS {
        return Err(format!(
            "mentions may name at most {MAX_MENTIONS} users, not {}",
            items.len()
        ));
    }
    let mut users = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        }
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{NOT_A_LIST}; {item} is not a user id"))?;
        if !users.contains(&id) {
            users.push(id);
        }
    }
    Ok(users)
}

/// Records mentions and announces them.
#[derive(Clone)]
pub struct Mentions {
    store: Arc<dyn ConversationStore>,
    groups: GroupService,
    bus: Arc<dyn Bus>,
}

impl std::fmt::Debug for Mentions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mentions").finish_non_exhaustive()
    }
}

impl Mentions {
    /// Records in `store`, asks `groups` who is a member, announces on `bus`.
    pub fn new(store: Arc<dyn ConversationStore>, groups: GroupService, bus: Arc<dyn Bus>) -> Self {
        Self { store, groups, bus }
    }

    /// Records that the stored group `message` mentions `users`, keeping the members of
    /// the group other than the sender, and announces the mentions not recorded before
    /// (a resent message announces nothing again).
    pub async fn record(&self, message: &Message, users: &[UserId]) -> Result<()> {
        let Conversation::Group(group) = message.conversation else {
            return Ok(());
        };
        let mut members = Vec::with_capacity(users.len());
        for &user in users {
            if user != message.sender
                && !members.contains(&user)
                && self.groups.is_member(group, user).await?
            {
                members.push(user);
            }
        }
        if members.is_empty() {
            return Ok(());
        }
        let fresh = self.store.add_mentions(group, message.id, &members).await?;
        if fresh.is_empty() {
            return Ok(());
        }
        let mention = Mention {
            group,
            message: message.id,
            sender: message.sender,
        };
        self.bus
            .publish(Event::Mentioned {
                mention,
                users: fresh,
            })
            .await
    }

    /// `pending`, which once its message is stored also records the message's mentions
    /// of `users` before it resolves. A failure to record them fails the send, whose
    /// client then resends it with its `client_id`: the message is stored once, and the
    /// mentions are recorded on the resend.
    pub fn after_stored(&self, pending: Pending, users: Vec<UserId>) -> Pending {
        if users.is_empty() {
            return pending;
        }
        let mentions = self.clone();
        Box::pin(async move {
            let sent = pending.await?;
            mentions.record(&sent.message, &users).await?;
            Ok(sent)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mentions_are_a_short_list_of_ids() {
        assert_eq!(read(None), Ok(vec![]));
        assert_eq!(read(Some(&Value::Null)), Ok(vec![]));
        assert_eq!(read(Some(&json!([]))), Ok(vec![]));
        assert_eq!(
            read(Some(&json!([12, "40", 12, " 7 "]))),
            Ok(vec![12, 40, 7])
        );
        let most: Vec<i64> = (1..=MAX_MENTIONS as i64).collect();
        assert_eq!(read(Some(&json!(most))), Ok(most.clone()));
        let reason = |value: Value| read(Some(&value)).expect_err("refused");
        assert!(reason(json!((0..=MAX_MENTIONS).collect::<Vec<_>>())).contains("at most 20"));
        assert!(reason(json!("@all")).contains("no \"@all\""));
        assert!(reason(json!(7)).contains("list of user ids"));
        assert!(reason(json!({"id": 7})).contains("list of user ids"));
        for bad in [
            json!([0]),
            json!([-3]),
            json!(["bob"]),
            json!([1.5]),
            json!([[1]]),
        ] {
            assert!(reason(bad.clone()).contains("is not a user id"), "{bad}");
        }
    }
}
