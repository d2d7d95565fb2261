//! Changes to sent messages and the live signals of a conversation: edit, recall, delete
//! for me, reactions, read and delivery receipts, typing.
//!
//! Each change is checked against what the caller may see (a message of a conversation of
//! theirs, above their history floor in a group), applied to the store, then announced on
//! the bus as an [`Event::Change`], which every node passes to the sockets of the
//! conversation that should hear it ([`Audience`]). Read positions and typing are not
//! messages: they are announced, and read positions kept as read cursors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::messages::Conversation;
use crate::users::UserId;

mod moderation;
mod service;

pub use moderation::OPERATOR;

/// Most different emoji one user may put on one message.
pub const MAX_REACTIONS_PER_USER: usize = 10;
/// Longest reaction, in bytes (an emoji with skin tone and joiners fits).
pub const MAX_EMOJI_BYTES: usize = 32;
/// How long a typing notice holds, in seconds, unless renewed.
pub const TYPING_EXPIRES_SECS: u64 = 5;

/// Which sockets of a conversation hear a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    /// Every socket of the conversation (both users', or the group's).
    Everyone,
    /// Only this user's sockets of it (their other devices).
    Only(UserId),
    /// Everyone's but this user's.
    AllBut(UserId),
}

impl Audience {
    /// Whether `user`'s sockets hear it.
    pub fn includes(self, user: UserId) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Only(only) => user == only,
            Audience::AllBut(but) => user != but,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A message's text was replaced (after the filters).
    Edited {
        /// The message.
        id: i64,
        /// Its sender.
        by: UserId,
        /// The new text.
        content: String,
        /// When, unix milliseconds.
        at: i64,
    },
    /// A message was removed for everyone.
    Recalled {
        /// The message.
        id: i64,
        /// Who removed it.
        by: UserId,
    },
    /// A message was hidden from `by` only.
    Hidden {
        /// The message.
        id: i64,
        /// Who hid it.
        by: UserId,
    },
    /// A reaction was added or taken back.
    Reacted {
        /// The message.
        id: i64,
        /// Who reacted.
        by: UserId,
        /// The emoji.
        emoji: String,
        /// Added (true) or taken back.
        on: bool,
    },
    /// `by` has read the conversation up to message `up_to`.
    Read {
        /// The reader.
        by: UserId,
        /// The newest message read.
        up_to: i64,
    },
    /// `by`'s device received message `id`.
    Delivered {
        /// The recipient.
        by: UserId,
        /// The message.
        id: i64,
    },
    /// `by` is typing.
    Typing {
        /// Who types.
        by: UserId,
    },
}

/// The reactions to one message: each emoji with who put it there, oldest first.
pub type Tally = BTreeMap<String, Vec<UserId>>;

/// Which conversations a socket may change messages in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Exactly this one (a group socket, or a socket bound to one peer).
    Conversation(Conversation),
    /// Any private conversation of the user (an inbox socket).
    AnyDirect,
}

/// A reaction must be one short emoji-like string: no letters, digits or spaces.
pub(super) fn check_emoji(emoji: &str) -> Result<()> {
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_BYTES {
        return Err(Error::invalid(format!(
            "a reaction is one emoji of at most {MAX_EMOJI_BYTES} bytes"
        )));
    }
    if emoji
        .chars()
        .any(|c| c.is_alphanumeric() || c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            "a reaction is an emoji, not text: no letters, digits or spaces",
        ));
    }
    Ok(())
}
