//! The conversation list and the presence list as clients see them.

use serde::Serialize;

use crate::conversations::{Entry, Kind};
use crate::friends::Friend;
use crate::store::conversations::LastMessage;
use crate::users::{rfc3339, UserId};

/// A conversation of `GET /chat/conversations`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ConversationView {
    /// `friend` or `group`.
    pub kind: &'static str,
    /// The friend's user id or the group's id.
    pub id: i64,
    /// The friend's user name or the group's name.
    pub name: String,
    /// The newest message the caller may read, or null.
    pub last_message: Option<LastMessageView>,
    /// Messages from others the caller has not read (at most 999, `COUNT_CAP`).
    pub unread: u32,
    /// Unread messages of a group that mention the caller (at most
    /// 999, `COUNT_CAP`; always 0 for a friend).
    pub mentions: u32,
}

/// A conversation's newest message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LastMessageView {
    /// Server id.
    pub id: i64,
    /// Its sender's user id.
    pub sender: UserId,
    /// Its text.
    pub content: String,
    /// When it was sent, RFC 3339.
    pub time: String,
    /// When it was sent, unix seconds (as `ts` in frames).
    pub ts: i64,
}

impl From<&LastMessage> for LastMessageView {
    fn from(m: &LastMessage) -> Self {
        Self {
            id: m.id,
            sender: m.sender,
            content: m.content.clone(),
            time: rfc3339(m.sent_at),
            ts: m.sent_at.div_euclid(1000),
        }
    }
}

impl From<&Entry> for ConversationView {
    fn from(e: &Entry) -> Self {
        Self {
            kind: match e.kind {
                Kind::Friend => "friend",
                Kind::Group => "group",
            },
            id: e.id,
            name: e.name.clone(),
            last_message: e.summary.last.as_ref().map(LastMessageView::from),
            unread: e.summary.unread,
            mentions: e.summary.mentions,
        }
    }
}

/// A friend of `GET /friend/presence`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PresenceView {
    /// The friend's user id.
    pub user_id: UserId,
    /// Their user name.
    pub username: String,
    /// Whether they hold a socket on any node.
    pub online: bool,
}

impl PresenceView {
    /// The view of a friend-list entry and its online state.
    pub fn new(friend: &Friend, online: bool) -> Self {
        Self {
            user_id: friend.target,
            username: friend.target_name.clone(),
            online,
        }
    }
}
