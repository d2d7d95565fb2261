//! The JSON shapes the server writes, field by field: [`ServerFrame::encode`] serialises
//! these structs, and the frames' JSON Schema (`schema.rs`) is generated from them, so the
//! published schema describes what is really sent. A field's doc comment becomes its
//! description in the schema; which code and text each frame carries is added there.
//!
//! [`ServerFrame::encode`]: super::ServerFrame::encode

use schemars::JsonSchema;
use serde::Serialize;

/// A notice from the server: a welcome, an end of listing or a refusal.
#[derive(Serialize, JsonSchema)]
pub(super) struct Notice<'a> {
    /// Always empty: the server speaks.
    #[schemars(extend("const" = ""))]
    pub(super) from: &'static str,
    /// The code (see `Code`).
    pub(super) code: u32,
    /// The text: the seed's words, or why a frame was refused.
    pub(super) content: &'a str,
    /// The `client_id` of the frame this answers, when it had a readable one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) client_id: Option<&'a str>,
}

/// The acknowledgement of a stored private message.
#[derive(Serialize, JsonSchema)]
pub(super) struct DirectAck<'a> {
    /// Always empty: the server speaks.
    #[schemars(extend("const" = ""))]
    pub(super) from: &'static str,
    /// 50004 when the peer had a socket open on any node, 50005 when not.
    pub(super) code: u32,
    /// The seed's words for online or offline.
    pub(super) content: &'a str,
    /// The message's id on the server.
    pub(super) id: i64,
    /// When it was stored, unix seconds.
    pub(super) ts: i64,
    /// The `client_id` the message was sent with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) client_id: Option<&'a str>,
    /// Present (true) when a plugin stored another text than the client sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rewritten: Option<bool>,
    /// With `rewritten`: the text stored, which the peers received; show it in place of
    /// what was typed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stored: Option<&'a str>,
}

/// The acknowledgement of a stored group message.
#[derive(Serialize, JsonSchema)]
pub(super) struct GroupAck<'a> {
    /// Always empty: the server speaks.
    #[schemars(extend("const" = ""))]
    pub(super) from: &'static str,
    /// 50002.
    pub(super) code: u32,
    /// The seed's words.
    pub(super) content: &'a str,
    /// The message's id on the server.
    pub(super) id: i64,
    /// When it was stored, unix seconds.
    pub(super) timestamp: i64,
    /// The group.
    pub(super) group_id: i64,
    /// The `client_id` the message was sent with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) client_id: Option<&'a str>,
    /// Present (true) when a plugin stored another text than the client sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) rewritten: Option<bool>,
    /// With `rewritten`: the text stored, which the other members received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stored: Option<&'a str>,
}

/// A group message mentions the reader: sent to their inbox sockets.
#[derive(Serialize, JsonSchema)]
pub(super) struct Mention<'a> {
    /// Always empty: the server speaks.
    #[schemars(extend("const" = ""))]
    pub(super) from: &'static str,
    /// 50015.
    pub(super) code: u32,
    /// A fixed text.
    pub(super) content: &'a str,
    /// The message that mentions the reader.
    pub(super) id: i64,
    /// Its group.
    pub(super) group_id: i64,
    /// Who sent it: a user id.
    pub(super) sender: String,
}

/// The last frame of an unread page when more remain: send type 3 again.
#[derive(Serialize, JsonSchema)]
pub(super) struct MoreUnread<'a> {
    /// Always empty: the server speaks.
    #[schemars(extend("const" = ""))]
    pub(super) from: &'static str,
    /// 50002.
    pub(super) code: u32,
    /// A fixed text.
    pub(super) content: &'a str,
    /// Always true: more unread messages remain.
    #[schemars(extend("const" = true))]
    pub(super) more: bool,
}

/// The answer to a renewed token (type 9).
#[derive(Serialize, JsonSchema)]
pub(super) struct Renewed<'a> {
    /// Always empty: the server speaks.
    #[schemars(extend("const" = ""))]
    pub(super) from: &'static str,
    /// 50002.
    pub(super) code: u32,
    /// A fixed text.
    pub(super) content: &'a str,
    /// When the socket's new token expires, unix seconds: the socket lives until then.
    pub(super) expires: i64,
}

/// A private message, live: for its receiver and the sender's other sockets.
#[derive(Serialize, JsonSchema)]
pub(super) struct DirectDelivery<'a> {
    /// The sender's user id.
    pub(super) from: String,
    /// 50001.
    pub(super) code: u32,
    /// The text.
    pub(super) content: &'a str,
    /// The message's id on the server.
    pub(super) id: i64,
    /// When it was stored, unix seconds.
    pub(super) ts: i64,
    /// The receiver's user id (on the sender's own sockets, the peer).
    pub(super) to: Option<String>,
    /// The `client_id` the sender gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) client_id: Option<&'a str>,
    /// The message of the same conversation this one quotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reply_to: Option<i64>,
}

/// A private message in history or unread, from the reader's side.
#[derive(Serialize, JsonSchema)]
pub(super) struct HistoryEntry<'a> {
    /// `me` when the reader sent it, `you` when the peer did.
    #[schemars(extend("enum" = ["me", "you"]))]
    pub(super) from: &'static str,
    /// 0: the seed's history entries carry a code outside the table.
    pub(super) code: u32,
    /// The text.
    pub(super) content: &'a str,
    /// Whether its receiver has read it.
    pub(super) read: bool,
    /// When it was stored, unix seconds.
    pub(super) ts: i64,
    /// The message's id on the server.
    pub(super) id: i64,
    #[serde(flatten)]
    pub(super) extras: Extras,
}

/// A group message, live or in history. It has no `code`, as in the seed.
#[derive(Serialize, JsonSchema)]
pub(super) struct GroupDelivery<'a> {
    /// The sender's user id.
    pub(super) sender: String,
    /// The text.
    pub(super) content: &'a str,
    /// When it was stored, unix seconds.
    pub(super) timestamp: i64,
    /// The group.
    pub(super) group_id: i64,
    /// The message's id on the server.
    pub(super) id: i64,
    #[serde(flatten)]
    pub(super) extras: Extras,
}

/// What a message may carry beyond the seed's fields: all absent for a plain message.
#[derive(Serialize, JsonSchema, Default)]
pub(super) struct Extras {
    /// The message of the same conversation this one quotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reply_to: Option<i64>,
    /// When it was last edited, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) edited_at: Option<i64>,
    /// Its reactions (history and unread only), absent when it has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) reactions: Vec<ReactionCount>,
}

/// One emoji on a message: how many put it there, and who (oldest first).
#[derive(Serialize, JsonSchema)]
pub(super) struct ReactionCount {
    /// The emoji.
    pub(super) emoji: String,
    /// How many users reacted with it.
    pub(super) count: usize,
    /// Their user ids, oldest reaction first.
    pub(super) users: Vec<String>,
}
