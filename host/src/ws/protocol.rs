//! WebSocket frames as the seed's clients read and write them (protocol.md sections 3–4).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::messages::Message;
use crate::users::UserId;

/// A frame from a client. Every field is optional so that a frame missing one gets a
/// clear error frame rather than a parse failure.
#[derive(Debug, Default, Deserialize)]
pub struct ClientFrame {
    /// 1 send, 2 history, 3 unread (private only).
    #[serde(default, rename = "type")]
    pub kind: Option<i64>,
    /// Text, or for type 2 the unix-seconds bound.
    #[serde(default)]
    pub content: Option<Value>,
    /// Recipient on an inbox socket.
    #[serde(default)]
    pub to: Option<Value>,
    /// The client's message id for de-duplication.
    #[serde(default)]
    pub client_id: Option<Value>,
    /// Page backwards from this message id (type 2).
    #[serde(default)]
    pub before: Option<Value>,
    /// The seed's group `sender`: accepted and ignored.
    #[serde(default)]
    pub sender: Option<Value>,
}

/// Reads an optional id given as a number or as decimal text.
pub fn id_value(value: &Option<Value>, name: &str) -> Result<Option<i64>, String> {
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
pub fn text_value(value: &Option<Value>, name: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// A plain server frame `{"from","code","content"}`.
pub fn notice(code: u32, content: &str) -> String {
    json!({ "from": "", "code": code, "content": content }).to_string()
}

/// An error frame; `client_id` echoes the client's id when it gave one.
pub fn error(code: u32, content: &str, client_id: Option<&str>) -> String {
    let mut frame = json!({ "from": "", "code": code, "content": content });
    if let Some(id) = client_id {
        frame["client_id"] = json!(id);
    }
    frame.to_string()
}

/// A private message as its receiver (or the sender's other sockets) gets it.
pub fn direct_delivery(message: &Message) -> String {
    let mut frame = json!({
        "from": message.sender.to_string(),
        "code": 50001,
        "content": message.content,
        "id": message.id,
        "ts": message.sent_at / 1000,
        "to": message.recipient.map(|r| r.to_string()),
    });
    if let Some(id) = &message.client_id {
        frame["client_id"] = json!(id);
    }
    frame.to_string()
}

/// A private message in history or unread: `from` is "me" or "you" from `viewer`'s side.
pub fn direct_history(message: &Message, viewer: UserId) -> String {
    json!({
        "from": if message.sender == viewer { "me" } else { "you" },
        "code": 0,
        "content": message.content,
        "read": message.read,
        "ts": message.sent_at / 1000,
        "id": message.id,
    })
    .to_string()
}

/// The acknowledgement of a stored private message: 50004 online, 50005 offline.
pub fn direct_ack(message: &Message, online: bool) -> String {
    let (code, text) = if online {
        (50004, "对方在线应答")
    } else {
        (50005, "对方不在线应答")
    };
    let mut frame = json!({
        "from": "",
        "code": code,
        "content": text,
        "id": message.id,
        "ts": message.sent_at / 1000,
    });
    if let Some(id) = &message.client_id {
        frame["client_id"] = json!(id);
    }
    frame.to_string()
}

/// A group message as members get it (live and in history).
pub fn group_delivery(message: &Message, group: i64) -> String {
    json!({
        "sender": message.sender.to_string(),
        "content": message.content,
        "timestamp": message.sent_at / 1000,
        "group_id": group,
        "id": message.id,
    })
    .to_string()
}

/// The acknowledgement of a stored group message.
pub fn group_ack(message: &Message, group: i64) -> String {
    let mut frame = json!({
        "from": "",
        "code": 50002,
        "content": "发送成功",
        "id": message.id,
        "timestamp": message.sent_at / 1000,
        "group_id": group,
    });
    if let Some(id) = &message.client_id {
        frame["client_id"] = json!(id);
    }
    frame.to_string()
}

/// The end of a history or unread listing.
pub fn end() -> String {
    json!({ "from": "", "code": 50003, "content": "到底了" }).to_string()
}
