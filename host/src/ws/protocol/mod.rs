//! WebSocket frames as the seed's clients read and write them (protocol.md sections 3–4),
//! as types: [`ClientFrame`] is what a client may send, [`ServerFrame`] what the server
//! writes. Every code comes from the one [`Code`](crate::error::Code) table, except a plugin's own rejection
//! code, which the plugin chooses.
//!
//! The frames' JSON Schema, for client authors, is [`ws_frames_schema`]: generated from the
//! wire structs of the server's frames and the canonical client frames of [`wire`].
//!
//! A server frame is encoded once into
//! [`Utf8Bytes`](axum::extract::ws::Utf8Bytes), whose clones share one buffer: a
//! message going to many sockets is serialised once.

use serde::Deserialize;
use serde_json::Value;

use crate::users::UserId;
use crate::ws::change_frames::Request;

pub mod schema;
#[cfg(test)]
mod schema_tests;
mod server;
mod server_shapes;
mod server_wire;
#[cfg(test)]
mod tests;
pub mod wire;

pub use schema::ws_frames_schema;
pub use server::ServerFrame;

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
