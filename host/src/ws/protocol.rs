//! WebSocket frames as the seed's clients read and write them (protocol.md sections 3–4),
//! as types: [`ClientFrame`] is what a client may send, [`ServerFrame`] what the server
//! writes. Every code comes from the one [`Code`] table, except a plugin's own rejection
//! code, which the plugin chooses.
//!
//! A server frame is encoded once into [`Utf8Bytes`], whose clones share one buffer: a
//! message going to many sockets is serialised once.

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Code;
use crate::messages::Message;
use crate::users::UserId;
use crate::ws::change_frames::Request;

/// The longest `client_id` accepted, in characters.
pub const MAX_CLIENT_ID_CHARS: usize = 128;

/// Which page of history a type-2 frame asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Up to a page of messages older than this message id.
    Before(i64),
    /// Up to a page of messages sent after these unix seconds.
    AfterSecs(i64),
}

/// A frame from a client, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Type 1 (or a group frame without a type): send a message.
    Send {
        /// The recipient, on an inbox socket.
        to: Option<UserId>,
        /// The text.
        content: String,
        /// The client's own id for de-duplication.
        client_id: Option<String>,
        /// The message of the same conversation this one quotes.
        reply_to: Option<i64>,
        /// The group members the message mentions (see `conversations::mentions`).
        mentions: Vec<UserId>,
    },
    /// Types 10–15: a change to a message, a receipt, or typing.
    Change {
        /// The peer, on an inbox socket (receipts and typing need one).
        to: Option<UserId>,
        /// What is asked.
        request: crate::ws::change_frames::Request,
        /// The client's own id, echoed in the answer.
        client_id: Option<String>,
    },
    /// Type 2: a page of history.
    History {
        /// The peer, on an inbox socket.
        to: Option<UserId>,
        /// Which page.
        page: Page,
    },
    /// Type 3 (private sockets): a page of unread messages, then marked read.
    Unread {
        /// The peer, on an inbox socket.
        to: Option<UserId>,
    },
    /// Type 9: a fresh access token for this socket, before the one it opened with
    /// expires.
    Renew {
        /// The new access token.
        token: String,
    },
}

/// Why a client frame was refused: the reason goes back in a 400 notice, with the
/// frame's `client_id` when it had a readable one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame {
    /// What is wrong, for the client.
    pub reason: String,
}

impl BadFrame {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// The frame as it arrives: every field optional, so a missing or mistyped one gets a
/// clear reason rather than a parse failure.
#[derive(Debug, Default, Deserialize)]
struct RawFrame {
    #[serde(default, rename = "type")]
    kind: Option<i64>,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    to: Option<Value>,
    #[serde(default)]
    client_id: Option<Value>,
    #[serde(default)]
    before: Option<Value>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    on: Option<Value>,
    #[serde(default)]
    reply_to: Option<Value>,
    #[serde(default)]
    mentions: Option<Value>,
    // The seed's group `sender`: accepted and ignored (the sender is the token's user).
    #[serde(default)]
    #[allow(dead_code)]
    sender: Option<Value>,
}

impl RawFrame {
    fn read(body: &str) -> Result<Self, BadFrame> {
        // The common case, an object of the right shape, is read in one pass; anything
        // else (a repeated key, say) is read again as a plain value to say exactly what is
        // wrong.
        let direct = body
            .trim_start()
            .starts_with('{')
            .then(|| serde_json::from_str::<RawFrame>(body).ok())
            .flatten();
        match direct {
            Some(raw) => Ok(raw),
            None => match serde_json::from_str::<Value>(body) {
                Ok(Value::Object(map)) => serde_json::from_value(Value::Object(map))
                    .map_err(|err| BadFrame::new(format!("invalid frame: {err}"))),
                Ok(_) => Err(BadFrame::new("a frame must be a JSON object")),
                Err(err) => Err(BadFrame::new(format!("invalid JSON: {err}"))),
            },
        }
    }
}

impl ClientFrame {
    /// Reads a text frame of a private socket (`group` false) or a group socket.
    pub fn parse(body: &str, max_bytes: usize, group: bool) -> Result<Self, BadFrame> {
        if body.len() > max_bytes {
            return Err(BadFrame::new(format!(
                "frame larger than {max_bytes} bytes"
            )));
        }
        let raw = RawFrame::read(body)?;
        let client_id = text_value(&raw.client_id, "client_id").map_err(BadFrame::new)?;
        if client_id
            .as_ref()
            .is_some_and(|id| id.chars().count() > MAX_CLIENT_ID_CHARS)
        {
            return Err(BadFrame::new(format!(
                "client_id must be at most {MAX_CLIENT_ID_CHARS} characters"
            )));
        }
        let to = id_value(&raw.to, "to").map_err(BadFrame::new)?;
        let kinds = if group {
            "1 send, 2 history, 9 renew, 10 edit, 11 recall, 12 delete for me, 13 react, \
             14 receipt, 15 typing"
        } else {
            "1 send, 2 history, 3 unread, 9 renew, 10 edit, 11 recall, 12 delete for me, \
             13 react, 14 receipt, 15 typing"
        };
        match raw.kind {
            Some(1) => Self::send(&raw, to, client_id),
            None if group => Self::send(&raw, to, client_id),
            Some(2) => {
                let page = match id_value(&raw.before, "before").map_err(BadFrame::new)? {
                    Some(before) => Page::Before(before),
                    None => Page::AfterSecs(after_secs(&raw.content)),
                };
                Ok(ClientFrame::History { to, page })
            }
            Some(3) if !group => Ok(ClientFrame::Unread { to }),
            Some(9) => match text_value(&raw.content, "content").map_err(BadFrame::new)? {
                Some(token) if !token.trim().is_empty() => Ok(ClientFrame::Renew {
                    token: token.trim().to_owned(),
                }),
                _ => Err(BadFrame::new("content must hold the new access token")),
            },
            Some(kind @ 10..=15) => Ok(ClientFrame::Change {
                to,
                request: change_request(kind, &raw)?,
                client_id,
            }),
            Some(other) => Err(BadFrame::new(format!("unknown type {other}: {kinds}"))),
            None => Err(BadFrame::new(format!("type is required: {kinds}"))),
        }
    }

    fn send(
        raw: &RawFrame,
        to: Option<UserId>,
        client_id: Option<String>,
    ) -> Result<Self, BadFrame> {
        let reply_to = id_value(&raw.reply_to, "reply_to").map_err(BadFrame::new)?;
        let mentions =
            crate::conversations::mentions::read(raw.mentions.as_ref()).map_err(BadFrame::new)?;
        match text_value(&raw.content, "content").map_err(BadFrame::new)? {
            Some(content) => Ok(ClientFrame::Send {
                to,
                content,
                client_id,
                reply_to,
                mentions,
            }),
            None => Err(BadFrame::new("content is required")),
        }
    }

    /// The client's id of a send or change frame.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientFrame::Send { client_id, .. } | ClientFrame::Change { client_id, .. } => {
                client_id.as_deref()
            }
            _ => None,
        }
    }
}

/// The request of a frame of type 10 to 15.
fn change_request(kind: i64, raw: &RawFrame) -> Result<Request, BadFrame> {
    let id = || match id_value(&raw.id, "id").map_err(BadFrame::new)? {
        Some(id) => Ok(id),
        None => Err(BadFrame::new("id is required: the message's id")),
    };
    let content = || text_value(&raw.content, "content").map_err(BadFrame::new);
    Ok(match kind {
        10 => Request::Edit {
            id: id()?,
            content: content()?.ok_or_else(|| BadFrame::new("content is required"))?,
        },
        11 => Request::Recall { id: id()? },
        12 => Request::Hide { id: id()? },
        13 => Request::React {
            id: id()?,
            emoji: content()?.ok_or_else(|| BadFrame::new("content is required: the emoji"))?,
            on: match &raw.on {
                None | Some(Value::Null) => None,
                Some(Value::Bool(on)) => Some(*on),
                Some(_) => return Err(BadFrame::new("on must be true or false")),
            },
        },
        14 => Request::Receipt {
            id: id()?,
            delivered: match content()?.as_deref() {
                None | Some("read") => false,
                Some("delivered") => true,
                Some(_) => return Err(BadFrame::new("content must be \"read\" or \"delivered\"")),
            },
        },
        _ => Request::Typing,
    })
}

/// The `client_id` of a frame that may be malformed in other ways (for refusals during
/// shutdown, which answer whatever arrived).
pub fn client_id_of(body: &str) -> Option<String> {
    // Read as `parse` reads, so every frame it accepts has its client_id answered.
    let raw = RawFrame::read(body).ok()?;
    text_value(&raw.client_id, "client_id").ok().flatten()
}

/// The unix seconds of a type-2 frame's `content`; unparsable is the beginning of time.
fn after_secs(content: &Option<Value>) -> i64 {
    let secs = match content {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse::<i64>().unwrap_or(0),
        _ => 0,
    };
    secs.max(0)
}

/// Reads an optional id given as a number or as decimal text.
fn id_value(value: &Option<Value>, name: &str) -> Result<Option<i64>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(|| format!("{name} must be a positive whole number")),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(|| format!("{name} must be a positive whole number")),
        Some(_) => Err(format!("{name} must be a number or a string")),
    }
}

/// Reads an optional text field; numbers are not text here (the seed closed the socket).
fn text_value(value: &Option<Value>, name: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// A frame from the server.
#[derive(Debug, Clone, Copy)]
pub enum ServerFrame<'a> {
    /// Sent on connecting to a private socket (50002).
    Welcome,
    /// A frame that could not be handled (400), with its reason.
    BadFrame(&'a str),
    /// A refusal: a host code from the table, or a plugin's own code, with a reason and
    /// the `client_id` of the frame it answers.
    Error {
        /// The wire code.
        code: u32,
        /// Why, for the client.
        content: &'a str,
        /// The `client_id` of the refused frame.
        client_id: Option<&'a str>,
    },
    /// A private message for its receiver and the sender's other sockets (50001).
    Direct(&'a Message),
    /// A private message in history or unread, from `viewer`'s side.
    DirectHistory {
        /// The message.
        message: &'a Message,
        /// Who reads it.
        viewer: UserId,
    },
    /// The acknowledgement of a stored private message: 50004 online, 50005 offline.
    DirectAck {
        /// The stored message.
        message: &'a Message,
        /// Whether the receiver has a socket.
        online: bool,
    },
    /// A group message, live or in history.
    Group {
        /// The message.
        message: &'a Message,
        /// Its group.
        group: i64,
    },
    /// The acknowledgement of a stored group message (50002).
    GroupAck {
        /// The stored message.
        message: &'a Message,
        /// Its group.
        group: i64,
    },
    /// A message of a history or unread listing, with its reactions.
    Listed {
        /// The message.
        message: &'a Message,
        /// Who reads it.
        viewer: UserId,
        /// Its reactions, if any.
        reactions: Option<&'a crate::messages::changes::Tally>,
    },
    /// A group message mentions the inbox's user (50015).
    Mentioned(&'a crate::conversations::Mention),
    /// The end of a history or unread listing (50003).
    End,
    /// An unread listing that stopped at its page: more remain, ask again (50002).
    MoreUnread,
    /// The socket's token was renewed; it now expires at `expires` (unix seconds, 50002).
    Renewed {
        /// The new expiry.
        expires: i64,
    },
}

/// `{"from","code","content"}` with the optional fields seed clients ignore.
#[derive(Serialize)]
struct Plain<'a> {
    from: &'a str,
    code: u32,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    more: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<i64>,
    /// On an ack: a plugin stored another text than the client sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    rewritten: Option<bool>,
    /// On an ack whose message was rewritten: the text stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    stored: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<String>,
}

impl<'a> Plain<'a> {
    fn new(code: Code, content: &'a str) -> Self {
        Self::with_number(code.number(), content)
    }

    fn with_number(code: u32, content: &'a str) -> Self {
        Self {
            from: "",
            code,
            content,
            id: None,
            ts: None,
            timestamp: None,
            group_id: None,
            client_id: None,
            more: None,
            expires: None,
            rewritten: None,
            stored: None,
            sender: None,
        }
    }
}

#[derive(Serialize)]
struct DirectDelivery<'a> {
    from: String,
    code: u32,
    content: &'a str,
    id: i64,
    ts: i64,
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<i64>,
}

#[derive(Serialize)]
struct HistoryEntry<'a> {
    from: &'static str,
    code: u32,
    content: &'a str,
    read: bool,
    ts: i64,
    id: i64,
    #[serde(flatten)]
    extras: Extras,
}

#[derive(Serialize)]
struct GroupDelivery<'a> {
    sender: String,
    content: &'a str,
    timestamp: i64,
    group_id: i64,
    id: i64,
    #[serde(flatten)]
    extras: Extras,
}

/// What a message may carry beyond the seed's fields: all absent for a plain message.
#[derive(Serialize, Default)]
struct Extras {
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<i64>,
    /// When it was last edited, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    edited_at: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reactions: Vec<ReactionCount>,
}

/// One emoji on a message: how many put it there, and who (oldest first).
#[derive(Serialize)]
struct ReactionCount {
    emoji: String,
    count: usize,
    users: Vec<String>,
}

impl Extras {
    fn of(message: &Message, reactions: Option<&crate::messages::changes::Tally>) -> Self {
        Self {
            reply_to: message.reply_to,
            edited_at: message.edited_at.map(|at| at / 1000),
            reactions: reactions
                .into_iter()
                .flatten()
                .map(|(emoji, users)| ReactionCount {
                    emoji: emoji.clone(),
                    count: users.len(),
                    users: users.iter().map(ToString::to_string).collect(),
                })
                .collect(),
        }
    }
}

/// The seed's text of the welcome frame.
const WELCOME: &str = "已连接至服务器";
/// The seed's text of the end of a listing.
const END: &str = "到底了";
/// The last frame of an unread page when more remain.
const MORE_UNREAD: &str = "more unread: send type 3 again";
/// The answer to a renewed token.
const RENEWED: &str = "token renewed";
/// The notice of a mention.
const MENTIONED: &str = "mentioned in group";

impl ServerFrame<'_> {
    /// The frame as JSON text, ready to be written to any number of sockets.
    pub fn encode(&self) -> Utf8Bytes {
        self.encode_noting(None)
    }

    /// An ack ([`ServerFrame::DirectAck`], [`ServerFrame::GroupAck`]) of a message whose
    /// client sent `submitted`: when the stored text differs (a plugin rewrote it), the frame
    /// also says `"rewritten": true` and carries the `stored` text. Otherwise, and for any
    /// other frame, the usual encoding.
    pub fn encode_ack(&self, submitted: &str) -> Utf8Bytes {
        match *self {
            ServerFrame::DirectAck { message, .. } | ServerFrame::GroupAck { message, .. }
                if message.content != submitted =>
            {
                self.encode_noting(Some(&message.content))
            }
            _ => self.encode(),
        }
    }

    /// The frame; an ack with `stored` says its message was rewritten to that text.
    fn encode_noting(&self, stored: Option<&str>) -> Utf8Bytes {
        let json = match *self {
            ServerFrame::Welcome => to_json(&Plain::new(Code::WsOk, WELCOME)),
            ServerFrame::BadFrame(reason) => to_json(&Plain::new(Code::InvalidParams, reason)),
            ServerFrame::Error {
                code,
                content,
                client_id,
            } => to_json(&Plain {
                client_id,
                ..Plain::with_number(code, content)
            }),
            ServerFrame::Direct(message) => to_json(&DirectDelivery {
                from: message.sender.to_string(),
                code: Code::WsMessage.number(),
                content: &message.content,
                id: message.id,
                ts: message.sent_at / 1000,
                to: message.recipient.map(|r| r.to_string()),
                client_id: message.client_id.as_deref(),
                reply_to: message.reply_to,
            }),
            ServerFrame::DirectHistory { message, viewer } => to_json(&HistoryEntry {
                from: if message.sender == viewer {
                    "me"
                } else {
                    "you"
                },
                // The seed's history entries carry code 0, outside the table.
                code: 0,
                content: &message.content,
                read: message.read,
                ts: message.sent_at / 1000,
                id: message.id,
                extras: Extras::of(message, None),
            }),
            ServerFrame::DirectAck { message, online } => {
                let (code, text) = if online {
                    (Code::WsOnline, "对方在线应答")
                } else {
                    (Code::WsOffline, "对方不在线应答")
                };
                to_json(&Plain {
                    id: Some(message.id),
                    ts: Some(message.sent_at / 1000),
                    client_id: message.client_id.as_deref(),
                    rewritten: stored.map(|_| true),
                    stored,
                    ..Plain::new(code, text)
                })
            }
            ServerFrame::Group { message, group } => to_json(&GroupDelivery {
                sender: message.sender.to_string(),
                content: &message.content,
                timestamp: message.sent_at / 1000,
                group_id: group,
                id: message.id,
                extras: Extras::of(message, None),
            }),
            ServerFrame::Listed {
                message,
                viewer,
                reactions,
            } => match message.conversation {
                crate::messages::Conversation::Group(group) => to_json(&GroupDelivery {
                    sender: message.sender.to_string(),
                    content: &message.content,
                    timestamp: message.sent_at / 1000,
                    group_id: group,
                    id: message.id,
                    extras: Extras::of(message, reactions),
                }),
                crate::messages::Conversation::Direct(..) => to_json(&HistoryEntry {
                    from: if message.sender == viewer {
                        "me"
                    } else {
                        "you"
                    },
                    code: 0,
                    content: &message.content,
                    read: message.read,
                    ts: message.sent_at / 1000,
                    id: message.id,
                    extras: Extras::of(message, reactions),
                }),
            },
            ServerFrame::GroupAck { message, group } => to_json(&Plain {
                id: Some(message.id),
                timestamp: Some(message.sent_at / 1000),
                group_id: Some(group),
                client_id: message.client_id.as_deref(),
                rewritten: stored.map(|_| true),
                stored,
                ..Plain::new(Code::WsOk, "发送成功")
            }),
            ServerFrame::Mentioned(mention) => to_json(&Plain {
                id: Some(mention.message),
                group_id: Some(mention.group),
                sender: Some(mention.sender.to_string()),
                ..Plain::new(Code::WsMention, MENTIONED)
            }),
            ServerFrame::End => to_json(&Plain::new(Code::WsEnd, END)),
            ServerFrame::MoreUnread => to_json(&Plain {
                more: Some(true),
                ..Plain::new(Code::WsOk, MORE_UNREAD)
            }),
            ServerFrame::Renewed { expires } => to_json(&Plain {
                expires: Some(expires),
                ..Plain::new(Code::WsOk, RENEWED)
            }),
        };
        Utf8Bytes::from(json)
    }
}

fn to_json(frame: &impl Serialize) -> String {
    // These shapes hold only strings, numbers and booleans: serialising cannot fail.
    serde_json::to_string(frame).unwrap_or_else(|_| {
        format!(
            "{{\"from\":\"\",\"code\":{},\"content\":\"internal error\"}}",
            Code::Fail.number()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Conversation;
    use serde_json::json;

    fn parse(body: &str, group: bool) -> Result<ClientFrame, BadFrame> {
        ClientFrame::parse(body, 1024, group)
    }

    #[test]
    fn client_frames_are_read_into_their_type() {
        assert_eq!(
            parse(
                r#"{"type":1,"content":"hi","to":"7","client_id":"c1"}"#,
                false
            ),
            Ok(ClientFrame::Send {
                to: Some(7),
                content: "hi".into(),
                client_id: Some("c1".into()),
                reply_to: None,
                mentions: vec![],
            })
        );
        assert_eq!(
            parse(r#"{"content":"hi","sender":"3"}"#, true),
            Ok(ClientFrame::Send {
                to: None,
                content: "hi".into(),
                client_id: None,
                reply_to: None,
                mentions: vec![],
            })
        );
        assert_eq!(
            parse(r#"{"type":2,"before":40}"#, false),
            Ok(ClientFrame::History {
                to: None,
                page: Page::Before(40)
            })
        );
        assert_eq!(
            parse(r#"{"type":2,"content":"oops"}"#, true),
            Ok(ClientFrame::History {
                to: None,
                page: Page::AfterSecs(0)
            })
        );
        assert_eq!(
            parse(r#"{"type":3,"to":2}"#, false),
            Ok(ClientFrame::Unread { to: Some(2) })
        );
        for group in [false, true] {
            assert_eq!(
                parse(r#"{"type":9,"content":" eyJ.a.b "}"#, group),
                Ok(ClientFrame::Renew {
                    token: "eyJ.a.b".into()
                })
            );
        }
    }

    #[test]
    fn bad_client_frames_say_why() {
        let reason = |body: &str, group: bool| parse(body, group).expect_err(body).reason;
        assert!(reason("[1]", false).contains("JSON object"));
        assert!(reason("{", false).contains("invalid JSON"));
        assert!(reason(r#"{"type":"x"}"#, false).contains("invalid frame"));
        assert!(reason(r#"{"type":1}"#, false).contains("content is required"));
        assert!(reason(r#"{"type":1,"content":5}"#, false).contains("content must be a string"));
        assert!(reason(r#"{"type":3}"#, true).contains("unknown type 3: 1 send, 2 history"));
        assert!(reason(r#"{"type":9}"#, false).contains("new access token"));
        assert!(reason(r#"{"type":9,"content":"  "}"#, true).contains("new access token"));
        assert!(reason(r#"{"type":9,"content":7}"#, true).contains("content must be a string"));
        assert!(reason(r#"{"content":"x"}"#, false).contains("type is required"));
        assert!(reason(r#"{"type":1,"content":"x","to":-1}"#, false).contains("positive"));
        let long = format!(
            r#"{{"type":1,"content":"x","client_id":"{}"}}"#,
            "c".repeat(129)
        );
        assert!(reason(&long, false).contains("at most 128"));
        let big = format!(r#"{{"type":1,"content":"{}"}}"#, "x".repeat(2000));
        assert!(reason(&big, false).contains("larger than 1024"));
    }

    #[test]
    fn client_id_of_reads_what_parse_reads() {
        // A repeated key fails the one-pass read; the second reading keeps the last value.
        let body = r#"{"type":1,"content":"hi","to":"7","to":"8","client_id":"c1"}"#;
        assert_eq!(parse(body, false).expect(body).client_id(), Some("c1"));
        assert_eq!(client_id_of(body).as_deref(), Some("c1"));
        assert_eq!(
            client_id_of(r#"{"type":99,"client_id":"c3"}"#).as_deref(),
            Some("c3")
        );
    }

    fn message() -> Message {
        Message {
            id: 12,
            conversation: Conversation::direct(3, 4),
            sender: 3,
            recipient: Some(4),
            content: "你好 \"quoted\"".to_owned(),
            client_id: Some("c-9".to_owned()),
            sent_at: 1_700_000_123_456,
            read: false,
            reply_to: None,
            edited_at: None,
        }
    }

    fn decoded(frame: ServerFrame<'_>) -> Value {
        serde_json::from_str(frame.encode().as_str()).expect("valid JSON")
    }

    #[test]
    fn server_frames_keep_the_seed_shapes() {
        let m = message();
        assert_eq!(
            decoded(ServerFrame::Welcome),
            json!({"from": "", "code": 50002, "content": "已连接至服务器"})
        );
        assert_eq!(
            decoded(ServerFrame::Direct(&m)),
            json!({"from": "3", "code": 50001, "content": "你好 \"quoted\"", "id": 12,
                   "ts": 1_700_000_123, "to": "4", "client_id": "c-9"})
        );
        assert_eq!(
            decoded(ServerFrame::DirectHistory {
                message: &m,
                viewer: 4
            }),
            json!({"from": "you", "code": 0, "content": "你好 \"quoted\"", "read": false,
                   "ts": 1_700_000_123, "id": 12})
        );
        assert_eq!(
            decoded(ServerFrame::DirectAck {
                message: &m,
                online: false
            }),
            json!({"from": "", "code": 50005, "content": "对方不在线应答", "id": 12,
                   "ts": 1_700_000_123, "client_id": "c-9"})
        );
        assert_eq!(
            decoded(ServerFrame::Group {
                message: &m,
                group: 5
            }),
            json!({"sender": "3", "content": "你好 \"quoted\"", "timestamp": 1_700_000_123,
                   "group_id": 5, "id": 12})
        );
        assert_eq!(
            decoded(ServerFrame::GroupAck {
                message: &m,
                group: 5
            }),
            json!({"from": "", "code": 50002, "content": "发送成功", "id": 12,
                   "timestamp": 1_700_000_123, "group_id": 5, "client_id": "c-9"})
        );
        assert_eq!(
            decoded(ServerFrame::Error {
                code: 50006,
                content: "达到限制",
                client_id: Some("x")
            }),
            json!({"from": "", "code": 50006, "content": "达到限制", "client_id": "x"})
        );
        assert_eq!(
            decoded(ServerFrame::BadFrame("nope")),
            json!({"from": "", "code": 400, "content": "nope"})
        );
        assert_eq!(
            decoded(ServerFrame::End),
            json!({"from": "", "code": 50003, "content": "到底了"})
        );
        assert_eq!(
            decoded(ServerFrame::MoreUnread),
            json!({"from": "", "code": 50002, "content": "more unread: send type 3 again",
                   "more": true})
        );
        assert_eq!(
            decoded(ServerFrame::Renewed {
                expires: 1_800_000_000
            }),
            json!({"from": "", "code": 50002, "content": "token renewed",
                   "expires": 1_800_000_000})
        );
    }

    #[test]
    fn an_ack_says_when_a_plugin_stored_another_text() {
        let m = message();
        assert_eq!(
            decoded_bytes(
                ServerFrame::DirectAck {
                    message: &m,
                    online: true
                }
                .encode_ack("ni hao")
            ),
            json!({"from": "", "code": 50004, "content": "对方在线应答", "id": 12,
                   "ts": 1_700_000_123, "client_id": "c-9", "rewritten": true,
                   "stored": "你好 \"quoted\""})
        );
        assert_eq!(
            decoded_bytes(
                ServerFrame::GroupAck {
                    message: &m,
                    group: 5
                }
                .encode_ack("你好 \"quoted\"")
            ),
            decoded(ServerFrame::GroupAck {
                message: &m,
                group: 5
            }),
            "an unchanged text keeps the seed's shape"
        );
    }

    fn decoded_bytes(frame: Utf8Bytes) -> Value {
        serde_json::from_str(frame.as_str()).expect("valid JSON")
    }
}
