//! Frames from the server, each encoded once into [`Utf8Bytes`] whose clones share one
//! buffer.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use crate::error::Code;
use crate::messages::Message;
use crate::users::UserId;

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
