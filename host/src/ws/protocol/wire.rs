//! The canonical client frames as typed structs: what a client should send, one struct per
//! frame type, with `type` fixed per struct. The server itself reads frames leniently
//! ([`ClientFrame::parse`](super::ClientFrame::parse) goes through an all-optional raw
//! frame, to say exactly what is wrong); these types describe the frames' published JSON
//! Schema, and a Rust client may serialise them. The schema's tests check that every frame
//! these types accept is one the parser accepts.
//!
//! Ids (`to`, `id`, `before`, `reply_to`, `mentions`) may be numbers or decimal strings, as
//! the seed's clients send them.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

/// The `type` of a frame, fixed to `N`: it serialises as the number and reads only it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameType<const N: u8>;

impl<const N: u8> Serialize for FrameType<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(N)
    }
}

impl<'de, const N: u8> Deserialize<'de> for FrameType<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let kind = u64::deserialize(deserializer)?;
        if kind == u64::from(N) {
            Ok(FrameType)
        } else {
            Err(serde::de::Error::custom(format!("type {kind}, not {N}")))
        }
    }
}

impl<const N: u8> JsonSchema for FrameType<N> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        Cow::Owned(format!("FrameType{N}"))
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema(json!({"type": "integer", "const": N}))
    }
}

/// A positive id, as a number or as decimal text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// `7`.
    Number(u64),
    /// `"7"`.
    Text(String),
}

impl JsonSchema for Id {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema(json!({
            "description": "A positive id (a user's or a message's), as a number or as \
                decimal text.",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^[0-9]*[1-9][0-9]*$"}
            ]
        }))
    }
}

/// Unix seconds, as a number or as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Seconds {
    /// `1735732800`.
    Number(i64),
    /// `"1735732800"`; text that is not a number means the beginning of time.
    Text(String),
}

impl JsonSchema for Seconds {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Seconds")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema(json!({
            "description": "Unix seconds, as a number or as text (text that is not a number \
                means the beginning of time).",
            "anyOf": [{"type": "integer"}, {"type": "string"}]
        }))
    }
}

/// What a receipt (type 14) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptKind {
    /// The conversation is read up to the message.
    Read,
    /// The private message reached this device (its recipient only).
    Delivered,
}

fn schema(value: Value) -> Schema {
    match value {
        Value::Object(map) => Schema::from(map),
        _ => Schema::default(),
    }
}

/// Type 1: send a message (on any socket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// The frame type: 1, send.
    #[serde(rename = "type")]
    pub kind: FrameType<1>,
    /// The text: at least one character, at most `chat.max_message_chars` (4000).
    #[schemars(length(min = 1))]
    pub content: String,
    /// The peer's user id: required on an inbox; on a conversation socket it may be left
    /// out, and otherwise must be the socket's peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
    /// The client's own id for the message: a resend with the same id is not stored twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub client_id: Option<String>,
    /// A message of the same conversation that this one quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Id>,
    /// On a group socket only: the members the message mentions (at most 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    pub mentions: Option<Vec<Id>>,
}

/// A send on a group socket without `type`, as the seed's group clients write it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSend {
    /// The text: at least one character, at most `chat.max_message_chars` (4000).
    #[schemars(length(min = 1))]
    pub content: String,
    /// The client's own id for the message: a resend with the same id is not stored twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub client_id: Option<String>,
    /// A message of the group that this one quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Id>,
    /// The members the message mentions (at most 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    pub mentions: Option<Vec<Id>>,
    /// The seed's sender field: accepted and ignored (the sender is the token's user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("deprecated" = true))]
    pub sender: Option<Id>,
}

/// Type 2: a page of history (up to 10 messages, oldest first, then 50003 when no more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// The frame type: 2, history.
    #[serde(rename = "type")]
    pub kind: FrameType<2>,
    /// The messages sent in a later second than this; missing or not a number: from the
    /// beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Seconds>,
    /// Instead of `content`: the page just before this message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Id>,
    /// The peer, on an inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
}

/// Type 3, private sockets only: the unread messages, which are then marked read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unread {
    /// The frame type: 3, unread.
    #[serde(rename = "type")]
    pub kind: FrameType<3>,
    /// Ignored: the seed's clients send `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The peer, on an inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
}

/// Type 9: a fresh access token of the same user, before the socket's token expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Renew {
    /// The frame type: 9, renew the token.
    #[serde(rename = "type")]
    pub kind: FrameType<9>,
    /// The new access token.
    #[schemars(regex(pattern = r"\S"))]
    pub content: String,
}

/// Type 10: replace the text of one's own message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// The frame type: 10, edit.
    #[serde(rename = "type")]
    pub kind: FrameType<10>,
    /// The message.
    pub id: Id,
    /// The new text.
    #[schemars(length(min = 1))]
    pub content: String,
    /// The peer, on an inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
    /// Echoed in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub client_id: Option<String>,
}

/// Type 11: recall a message for everyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recall {
    /// The frame type: 11, recall.
    #[serde(rename = "type")]
    pub kind: FrameType<11>,
    /// The message.
    pub id: Id,
    /// The peer, on an inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
    /// Echoed in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub client_id: Option<String>,
}

/// Type 12: delete a message for oneself only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hide {
    /// The frame type: 12, delete for me.
    #[serde(rename = "type")]
    pub kind: FrameType<12>,
    /// The message.
    pub id: Id,
    /// The peer, on an inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
    /// Echoed in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub client_id: Option<String>,
}

/// Type 13: add, take back or toggle a reaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct React {
    /// The frame type: 13, react.
    #[serde(rename = "type")]
    pub kind: FrameType<13>,
    /// The message.
    pub id: Id,
    /// The emoji: at most 32 bytes, no letters, digits or spaces.
    #[schemars(length(min = 1))]
    pub content: String,
    /// True adds the reaction, false takes it back; left out, it toggles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    /// The peer, on an inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
    /// Echoed in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub client_id: Option<String>,
}

/// Type 14: a read receipt (the conversation is read up to the message) or a delivery one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The frame type: 14, receipt.
    #[serde(rename = "type")]
    pub kind: FrameType<14>,
    /// The message.
    pub id: Id,
    /// `read` (the default) or `delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ReceiptKind>,
    /// The peer: required on an inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
    /// Echoed in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub client_id: Option<String>,
}

/// Type 15: the user is typing (not answered; at most one notice per socket every 2 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Typing {
    /// The frame type: 15, typing.
    #[serde(rename = "type")]
    pub kind: FrameType<15>,
    /// The peer: required on an inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Id>,
    /// The client's own id (typing is not answered, so it comes back only in a refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub client_id: Option<String>,
}

/// A frame from a client: JSON text, one of these shapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "ClientFrame", transform = one_of)]
pub enum ClientFrame {
    /// Type 1.
    Send(Send),
    /// A group socket's send without `type`.
    GroupSend(GroupSend),
    /// Type 2.
    History(History),
    /// Type 3.
    Unread(Unread),
    /// Type 9.
    Renew(Renew),
    /// Type 10.
    Edit(Edit),
    /// Type 11.
    Recall(Recall),
    /// Type 12.
    Hide(Hide),
    /// Type 13.
    React(React),
    /// Type 14.
    Receipt(Receipt),
    /// Type 15.
    Typing(Typing),
}

/// The shapes exclude one another (by `type`, and a `type`-less send allows no `type`), so
/// the union is a `oneOf`.
fn one_of(schema: &mut Schema) {
    if let Some(shapes) = schema.remove("anyOf") {
        schema.insert("oneOf".to_owned(), shapes);
    }
}
