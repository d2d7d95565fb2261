//! The shapes of the server's frames for the frames' schema (`schema.rs`): each names the
//! wire struct that encodes it, and adds what the struct's type cannot say: the frame's
//! `code` (from the [`Code`] table), its fixed `content`, and which of a shared struct's
//! optional fields it always or never sends. The schema's tests encode every frame and
//! check it against its shape.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::server;
use super::server_wire::{
    DirectAck, DirectDelivery, GroupAck, GroupDelivery, HistoryEntry, Mention, MoreUnread, Notice,
    Renewed,
};
use crate::error::Code;
use crate::ws::change_frames::{Ack, ChangeFrame};

/// Which `code` a server frame carries.
#[derive(Clone, Copy)]
pub(super) enum Codes {
    /// This one.
    One(Code),
    /// One of these.
    Either(Code, Code),
    /// Any code of the table, or a plugin's own.
    Refusal,
    /// 0, outside the table (the seed's history entries).
    Zero,
    /// None at all (the seed's group messages).
    Absent,
}

/// What a server frame's `content` is.
#[derive(Clone, Copy)]
pub(super) enum Text {
    /// Any text.
    Free,
    /// This text.
    Fixed(&'static str),
    /// One of these.
    Either(&'static str, &'static str),
}

/// One shape of server frame: a wire struct, narrowed.
pub(super) struct Shape {
    /// Its name in `$defs` (and its TypeScript type).
    pub(super) title: &'static str,
    /// When the server sends it.
    pub(super) about: &'static str,
    /// The wire struct's schema.
    pub(super) schema: fn(&mut SchemaGenerator) -> Schema,
    /// Its `code`.
    pub(super) code: Codes,
    /// Its `content`.
    pub(super) content: Text,
    /// Fields of the struct this shape always sends though the struct may omit them.
    pub(super) require: &'static [&'static str],
    /// Fields of the struct this shape never sends.
    pub(super) omit: &'static [&'static str],
}

impl Shape {
    fn new(
        title: &'static str,
        schema: fn(&mut SchemaGenerator) -> Schema,
        code: Codes,
        about: &'static str,
    ) -> Self {
        Self {
            title,
            about,
            schema,
            code,
            content: Text::Free,
            require: &[],
            omit: &[],
        }
    }

    fn text(self, content: Text) -> Self {
        Self { content, ..self }
    }

    fn require(self, require: &'static [&'static str]) -> Self {
        Self { require, ..self }
    }

    fn omit(self, omit: &'static [&'static str]) -> Self {
        Self { omit, ..self }
    }
}

/// What a notice that answers no frame leaves out.
const NO_ANSWER: &[&str] = &["client_id"];
/// What a change frame about one message, with no more to say, leaves out.
const ID_ONLY: &[&str] = &["edited_at", "on", "expires"];

/// Every shape of server frame, in the order of `ServerFrame`'s `anyOf`.
pub(super) fn shapes() -> Vec<Shape> {
    use Codes::{Absent, Either, One, Refusal, Zero};
    use Text::Fixed;
    vec![
        Shape::new(
            "Welcome",
            Notice::json_schema,
            One(Code::WsOk),
            "The first frame of a private socket (a group socket starts silent).",
        )
        .text(Fixed(server::WELCOME))
        .omit(NO_ANSWER),
        Shape::new(
            "DirectMessage",
            DirectDelivery::json_schema,
            One(Code::WsMessage),
            "A private message, live: on the receiver's sockets and the sender's other ones.",
        ),
        Shape::new(
            "DirectAck",
            DirectAck::json_schema,
            Either(Code::WsOnline, Code::WsOffline),
            "The acknowledgement of a stored private message, on the socket it came from.",
        )
        .text(Text::Either(server::ONLINE, server::OFFLINE)),
        Shape::new(
            "HistoryMessage",
            HistoryEntry::json_schema,
            Zero,
            "A private message of a history (type 2) or unread (type 3) listing.",
        ),
        Shape::new(
            "GroupMessage",
            GroupDelivery::json_schema,
            Absent,
            "A group message, live on the group's other sockets or in a listing; it has no \
             code.",
        ),
        Shape::new(
            "GroupAck",
            GroupAck::json_schema,
            One(Code::WsOk),
            "The acknowledgement of a stored group message, on the socket it came from.",
        )
        .text(Fixed(server::GROUP_SENT)),
        Shape::new(
            "End",
            Notice::json_schema,
            One(Code::WsEnd),
            "The end of a history or unread listing: nothing more.",
        )
        .text(Fixed(server::END))
        .omit(NO_ANSWER),
        Shape::new(
            "MoreUnread",
            MoreUnread::json_schema,
            One(Code::WsOk),
            "The last frame of an unread page when more remain: send type 3 again.",
        )
        .text(Fixed(server::MORE_UNREAD)),
        Shape::new(
            "Renewed",
            Renewed::json_schema,
            One(Code::WsOk),
            "The answer to type 9: the socket now lives until `expires`.",
        )
        .text(Fixed(server::RENEWED)),
        Shape::new(
            "Mentioned",
            Mention::json_schema,
            One(Code::WsMention),
            "A group message mentions the reader: on their inbox sockets, unless they have \
             a socket of that group open.",
        )
        .text(Fixed(server::MENTIONED)),
        Shape::new(
            "ChangeAck",
            Ack::json_schema,
            One(Code::WsOk),
            "The answer to types 10–14 (typing is not answered).",
        ),
        Shape::new(
            "Edited",
            ChangeFrame::json_schema,
            One(Code::WsEdited),
            "A message was edited: `content` is its new text. `to` names the other user of \
             a private conversation, `group_id` the group.",
        )
        .require(&["id", "edited_at"])
        .omit(&["on", "expires"]),
        Shape::new(
            "Recalled",
            ChangeFrame::json_schema,
            One(Code::WsRecalled),
            "A message was recalled, for everyone. `to` or `group_id` names the conversation.",
        )
        .text(Fixed(""))
        .require(&["id"])
        .omit(ID_ONLY),
        Shape::new(
            "Hidden",
            ChangeFrame::json_schema,
            One(Code::WsHidden),
            "The reader deleted a message for themselves on another socket. `to` or \
             `group_id` names the conversation.",
        )
        .text(Fixed(""))
        .require(&["id"])
        .omit(ID_ONLY),
        Shape::new(
            "Reacted",
            ChangeFrame::json_schema,
            One(Code::WsReaction),
            "A reaction (`content`, the emoji) was added (`on` true) or taken back. `to` or \
             `group_id` names the conversation.",
        )
        .require(&["id", "on"])
        .omit(&["edited_at", "expires"]),
        Shape::new(
            "ReadReceipt",
            ChangeFrame::json_schema,
            One(Code::WsRead),
            "`from` has read the conversation up to message `id`. `to` or `group_id` names \
             the conversation.",
        )
        .text(Fixed("read"))
        .require(&["id"])
        .omit(ID_ONLY),
        Shape::new(
            "DeliveryReceipt",
            ChangeFrame::json_schema,
            One(Code::WsDelivered),
            "Private message `id` reached a device of its recipient, `from`.",
        )
        .text(Fixed("delivered"))
        .require(&["id"])
        .omit(ID_ONLY),
        Shape::new(
            "TypingNotice",
            ChangeFrame::json_schema,
            One(Code::WsTyping),
            "`from` is typing: show it for `expires` seconds unless another comes. `to` or \
             `group_id` names the conversation.",
        )
        .text(Fixed("typing"))
        .require(&["expires"])
        .omit(&["id", "edited_at", "on"]),
        Shape::new(
            "Refusal",
            Notice::json_schema,
            Refusal,
            "A frame refused: `code` is a code of the table or a plugin's own, and `content` \
             says why. It echoes the refused frame's `client_id`, except for a malformed \
             frame (400).",
        ),
    ]
}
