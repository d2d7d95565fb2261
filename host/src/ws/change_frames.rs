//! The frames of message changes and conversation signals: what a client sends to edit,
//! recall, hide, react, mark read, confirm delivery or say it is typing (types 10–15), and
//! the frames that tell live sockets about them (codes 50010–50017).
//!
//! Every server frame here has the seed's `from`, `code` and `content`, so a seed client
//! reads it as a notice it does not know and ignores it.

use axum::extract::ws::Utf8Bytes;
use schemars::JsonSchema;
use serde::Serialize;

use crate::error::Code;
use crate::messages::changes::{Change, TYPING_EXPIRES_SECS};
use crate::messages::Conversation;
use crate::users::UserId;

/// What a client asks of a message or a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Type 10: replace the text of one's own message.
    Edit {
        /// The message.
        id: i64,
        /// The new text.
        content: String,
    },
    /// Type 11: remove a message for everyone.
    Recall {
        /// The message.
        id: i64,
    },
    /// Type 12: hide a message from oneself only.
    Hide {
        /// The message.
        id: i64,
    },
    /// Type 13: add, take back or toggle a reaction.
    React {
        /// The message.
        id: i64,
        /// The emoji.
        emoji: String,
        /// `Some(true)` add, `Some(false)` take back, `None` toggle.
        on: Option<bool>,
    },
    /// Type 14: the conversation is read up to a message, or (`delivered`) a private
    /// message reached this device.
    Receipt {
        /// The message.
        id: i64,
        /// A delivery receipt rather than a read one.
        delivered: bool,
    },
    /// Type 15: the user is typing.
    Typing,
}

impl Request {
    /// What the acknowledgement says was done.
    pub fn done(&self) -> &'static str {
        match self {
            Request::Edit { .. } => "edited",
            Request::Recall { .. } => "recalled",
            Request::Hide { .. } => "deleted for you",
            Request::React { .. } => "reaction saved",
            Request::Receipt {
                delivered: true, ..
            } => "delivery noted",
            Request::Receipt { .. } => "read",
            Request::Typing => "typing",
        }
    }

    /// The message the request concerns, if any.
    pub fn id(&self) -> Option<i64> {
        match self {
            Request::Edit { id, .. }
            | Request::Recall { id }
            | Request::Hide { id }
            | Request::React { id, .. }
            | Request::Receipt { id, .. } => Some(*id),
            Request::Typing => None,
        }
    }
}

/// The fields of a change frame (50010–50017, the mention's 50015 aside): who acted, and on
/// which message of which conversation.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ChangeFrame<'a> {
    /// Who acted: a user id (`"0"` for the operator's removal of a group message).
    pub(crate) from: String,
    /// What happened (see `Code`).
    pub(crate) code: u32,
    /// The new text, the emoji, or a fixed word (empty for a recall or a deletion).
    pub(crate) content: &'a str,
    /// The message concerned (for a read receipt, the one read up to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<i64>,
    /// In a private conversation: the other user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) to: Option<String>,
    /// In a group: the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) group_id: Option<i64>,
    /// An edit: when it was made, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) edited_at: Option<i64>,
    /// A reaction: true when it was added, false when taken back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) on: Option<bool>,
    /// Typing: for how many seconds to show it, unless another comes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires: Option<u64>,
}

/// The acknowledgement of a change request (types 10–14).
#[derive(Serialize, JsonSchema)]
pub(crate) struct Ack<'a> {
    /// Always empty: the server speaks.
    #[schemars(extend("const" = ""))]
    pub(crate) from: &'static str,
    /// 50002.
    pub(crate) code: u32,
    /// What was done: `edited`, `recalled`, `deleted for you`, `reaction saved`, `read` or
    /// `delivery noted`.
    pub(crate) content: &'a str,
    /// The message the request named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<i64>,
    /// The request's `client_id`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_id: Option<&'a str>,
    /// An edit whose text a plugin rewrote: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rewritten: Option<bool>,
    /// With `rewritten`: the text stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stored: Option<&'a str>,
}

/// The frame telling a socket of `conversation` about `change`. `from` is who made it;
/// in a private conversation `to` is the other user, in a group `group_id` the group.
pub fn encode(conversation: Conversation, change: &Change) -> Utf8Bytes {
    let (by, code, content, id) = match change {
        Change::Edited {
            id, by, content, ..
        } => (*by, Code::WsEdited, content.as_str(), Some(*id)),
        Change::Recalled { id, by } => (*by, Code::WsRecalled, "", Some(*id)),
        Change::Hidden { id, by } => (*by, Code::WsHidden, "", Some(*id)),
        Change::Reacted { id, by, emoji, .. } => (*by, Code::WsReaction, emoji.as_str(), Some(*id)),
        Change::Read { by, up_to } => (*by, Code::WsRead, "read", Some(*up_to)),
        Change::Delivered { by, id } => (*by, Code::WsDelivered, "delivered", Some(*id)),
        Change::Typing { by } => (*by, Code::WsTyping, "typing", None),
    };
    let (to, group_id) = match conversation {
        Conversation::Direct(a, b) => (Some(other(a, b, by).to_string()), None),
        Conversation::Group(group) => (None, Some(group)),
    };
    let frame = ChangeFrame {
        from: by.to_string(),
        code: code.number(),
        content,
        id,
        to,
        group_id,
        edited_at: match change {
            Change::Edited { at, .. } => Some(at / 1000),
            _ => None,
        },
        on: match change {
            Change::Reacted { on, .. } => Some(*on),
            _ => None,
        },
        expires: matches!(change, Change::Typing { .. }).then_some(TYPING_EXPIRES_SECS),
    };
    // Only strings, numbers and booleans: serialising cannot fail.
    Utf8Bytes::from(serde_json::to_string(&frame).unwrap_or_default())
}

/// The user of a private conversation who is not `user`.
fn other(a: UserId, b: UserId, user: UserId) -> UserId {
    if a == user {
        b
    } else {
        a
    }
}

/// The acknowledgement of a request (50002), with the message id and the client's id;
/// for an edit whose text a filter rewrote, also the text as stored.
pub fn ack(request: &Request, client_id: Option<&str>, stored: Option<&str>) -> Utf8Bytes {
    let stored = match request {
        Request::Edit { content, .. } => stored.filter(|stored| stored != content),
        _ => None,
    };
    let ack = Ack {
        from: "",
        code: Code::WsOk.number(),
        content: request.done(),
        id: request.id(),
        client_id,
        rewritten: stored.map(|_| true),
        stored,
    };
    Utf8Bytes::from(serde_json::to_string(&ack).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn decoded(conversation: Conversation, change: &Change) -> Value {
        serde_json::from_str(encode(conversation, change).as_str()).expect("JSON")
    }

    #[test]
    fn change_frames_name_the_actor_and_the_conversation() {
        let edited = Change::Edited {
            id: 9,
            by: 3,
            content: "new".into(),
            at: 1_700_000_000_500,
        };
        assert_eq!(
            decoded(Conversation::direct(3, 4), &edited),
            json!({"from": "3", "code": 50010, "content": "new", "id": 9, "to": "4",
                   "edited_at": 1_700_000_000})
        );
        assert_eq!(
            decoded(
                Conversation::Group(7),
                &Change::Reacted {
                    id: 9,
                    by: 4,
                    emoji: "👍".into(),
                    on: false
                }
            ),
            json!({"from": "4", "code": 50013, "content": "👍", "id": 9, "group_id": 7,
                   "on": false})
        );
        assert_eq!(
            decoded(Conversation::direct(3, 4), &Change::Typing { by: 4 }),
            json!({"from": "4", "code": 50017, "content": "typing", "to": "3", "expires": 5})
        );
        assert_eq!(
            decoded(
                Conversation::direct(3, 4),
                &Change::Read { by: 4, up_to: 12 }
            ),
            json!({"from": "4", "code": 50014, "content": "read", "id": 12, "to": "3"})
        );
    }
}
