//! Frames from the server, each encoded once into [`Utf8Bytes`] whose clones share one
//! buffer.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use super::server_wire::{
    DirectAck, DirectDelivery, Extras, GroupAck, GroupDelivery, HistoryEntry, Mention, MoreUnread,
    Notice, ReactionCount, Renewed,
};
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

/// A notice with the table's `code` (or a plugin's own) and no `client_id`.
fn notice(code: u32, content: &str) -> Notice<'_> {
    Notice {
        from: "",
        code,
        content,
        client_id: None,
    }
}

/// The seed's text of the welcome frame.
pub(super) const WELCOME: &str = "已连接至服务器";
/// The seed's text of the end of a listing.
pub(super) const END: &str = "到底了";
/// The last frame of an unread page when more remain.
pub(super) const MORE_UNREAD: &str = "more unread: send type 3 again";
/// The answer to a renewed token.
pub(super) const RENEWED: &str = "token renewed";
/// The notice of a mention.
pub(super) const MENTIONED: &str = "mentioned in group";
/// The seed's text of a private message's acknowledgement, peer online.
pub(super) const ONLINE: &str = "对方在线应答";
/// The seed's text of a private message's acknowledgement, peer offline.
pub(super) const OFFLINE: &str = "对方不在线应答";
/// The seed's text of a group message's acknowledgement.
pub(super) const GROUP_SENT: &str = "发送成功";

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
            ServerFrame::Welcome => to_json(&notice(Code::WsOk.number(), WELCOME)),
            ServerFrame::BadFrame(reason) => to_json(&notice(Code::InvalidParams.number(), reason)),
            ServerFrame::Error {
                code,
                content,
                client_id,
            } => to_json(&Notice {
                client_id,
                ..notice(code, content)
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
            ServerFrame::DirectHistory { message, viewer } => {
                to_json(&history_entry(message, viewer, None))
            }
            ServerFrame::DirectAck { message, online } => {
                let (code, content) = if online {
                    (Code::WsOnline, ONLINE)
                } else {
                    (Code::WsOffline, OFFLINE)
                };
                to_json(&DirectAck {
                    from: "",
                    code: code.number(),
                    content,
                    id: message.id,
                    ts: message.sent_at / 1000,
                    client_id: message.client_id.as_deref(),
                    rewritten: stored.map(|_| true),
                    stored,
                })
            }
            ServerFrame::Group { message, group } => to_json(&group_delivery(message, group, None)),
            ServerFrame::Listed {
                message,
                viewer,
                reactions,
            } => match message.conversation {
                crate::messages::Conversation::Group(group) => {
                    to_json(&group_delivery(message, group, reactions))
                }
                crate::messages::Conversation::Direct(..) => {
                    to_json(&history_entry(message, viewer, reactions))
                }
            },
            ServerFrame::GroupAck { message, group } => to_json(&GroupAck {
                from: "",
                code: Code::WsOk.number(),
                content: GROUP_SENT,
                id: message.id,
                timestamp: message.sent_at / 1000,
                group_id: group,
                client_id: message.client_id.as_deref(),
                rewritten: stored.map(|_| true),
                stored,
            }),
            ServerFrame::Mentioned(mention) => to_json(&Mention {
                from: "",
                code: Code::WsMention.number(),
                content: MENTIONED,
                id: mention.message,
                group_id: mention.group,
                sender: mention.sender.to_string(),
            }),
            ServerFrame::End => to_json(&notice(Code::WsEnd.number(), END)),
            ServerFrame::MoreUnread => to_json(&MoreUnread {
                from: "",
                code: Code::WsOk.number(),
                content: MORE_UNREAD,
                more: true,
            }),
            ServerFrame::Renewed { expires } => to_json(&Renewed {
                from: "",
                code: Code::WsOk.number(),
                content: RENEWED,
                expires,
            }),
        };
        Utf8Bytes::from(json)
    }
}

/// A private message of a listing, from `viewer`'s side.
fn history_entry<'a>(
    message: &'a Message,
    viewer: UserId,
    reactions: Option<&crate::messages::changes::Tally>,
) -> HistoryEntry<'a> {
    HistoryEntry {
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
        extras: Extras::of(message, reactions),
    }
}

/// A group message, live or listed.
fn group_delivery<'a>(
    message: &'a Message,
    group: i64,
    reactions: Option<&crate::messages::changes::Tally>,
) -> GroupDelivery<'a> {
    GroupDelivery {
        sender: message.sender.to_string(),
        content: &message.content,
        timestamp: message.sent_at / 1000,
        group_id: group,
        id: message.id,
        extras: Extras::of(message, reactions),
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
