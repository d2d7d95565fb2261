//! Conversation lists and presence: what a client shows before it opens a conversation.
//!
//! A user's conversations are their friends (the private conversation with each) and the
//! groups they belong to. The list is worked out when asked, never kept: each
//! conversation's newest message comes from the history's `(conversation, id)` index, so
//! sending a message writes nothing for the list. The work is one index seek per friend
//! and group, then a few more for each conversation of the page returned.
//!
//! The list is ordered by newest message, newest first; conversations without messages
//! follow, by id. Each entry has a cursor that orders the whole list as one descending
//! number: the newest message's id when there is one, else a negative number made from the
//! conversation's kind and id. A page is the entries whose cursor is below the previous
//! page's last, so paging stays stable while messages arrive (a conversation that moves to
//! the top is on the first page, not twice on later ones).

use std::sync::Arc;

use crate::error::Result;
use crate::friends::Friend;
use crate::groups::{Group, HistoryVisibility};
use crate::messages::Conversation;
use crate::presence::Presence;
use crate::store::conversations::{ConversationStore, Readable, Summary};
use crate::store::{FriendStore, GroupStore, MessageStore, Page};
use crate::users::{Caller, UserId};

pub mod mentions;
pub mod view;

pub use mentions::{Mention, Mentions, MAX_MENTIONS};

/// The largest page of the conversation list, and the page when `limit` is not given.
pub const MAX_PAGE: u32 = 100;

/// Unread messages and mentions are counted up to this many in each conversation.
pub const COUNT_CAP: u32 = 999;

/// Friends or groups read from their stores at once while gathering the list.
const GATHER_PAGE: u32 = 1000;

/// Which kind of conversation an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The private conversation with a friend.
    Friend,
    /// A group the user belongs to.
    Group,
}

/// One conversation of a user's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// A friend or a group.
    pub kind: Kind,
    /// The friend's user id or the group's id.
    pub id: i64,
    /// The friend's user name or the group's name.
    pub name: String,
    /// The newest message, unread count and mentions.
    pub summary: Summary,
    /// Where the entry is in the list (see the module's documentation).
    pub cursor: i64,
}

/// A conversation found while gathering, before its summary is read.
struct Found {
    kind: Kind,
    id: i64,
    name: String,
    readable: Readable,
}

impl Found {
    fn friend(user: UserId, friend: &Friend) -> Self {
        Self {
            kind: Kind::Friend,
            id: friend.target,
            name: friend.target_name.clone(),
            readable: Readable {
                conversation: Conversation::direct(user, friend.target),
                floor: 0,
            },
        }
    }

    fn group(group: &Group, floor: i64) -> Self {
        Self {
            kind: Kind::Group,
            id: group.id,
            name: group.name.clone(),
            readable: Readable {
                conversation: Conversation::Group(group.id),
                floor,
            },
        }
    }

    /// The entry's cursor given its newest message id (0 for none).
    fn cursor(&self, newest: i64) -> i64 {
        if newest > 0 {
            return newest;
        }
        let kind = match self.kind {
            Kind::Friend => 0,
            Kind::Group => 1,
        };
        // Below every message id, and descending as the id grows: small ids first.
        self.id
            .saturating_mul(2)
            .saturating_add(kind)
            .saturating_neg()
    }
}

/// The conversation list and presence service.
#[derive(Clone)]
pub struct ConversationService {
    friends: Arc<dyn FriendStore>,
    groups: Arc<dyn GroupStore>,
    messages: Arc<dyn MessageStore>,
    store: Arc<dyn ConversationStore>,
    presence: Arc<dyn Presence>,
}

impl std::fmt::Debug for ConversationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationService")
            .finish_non_exhaustive()
    }
}

impl ConversationService {
    /// Builds the service. `messages` is waited on ([`MessageStore::settle`]) before the
    /// list is read, so every acknowledged message is in it.
    pub fn new(
        friends: Arc<dyn FriendStore>,
        groups: Arc<dyn GroupStore>,
        messages: Arc<dyn MessageStore>,
        store: Arc<dyn ConversationStore>,
        presence: Arc<dyn Presence>,
    ) -> Self {
        Self {
            friends,
            groups,
            messages,
            store,
            presence,
        }
    }

    /// Up to `limit` conversations of the caller after the entry with cursor `after`
    /// (from the start when `None`), newest first, and the cursor of the next page when
    /// more remain.
    pub async fn list(
        &self,
        caller: Caller,
        after: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<Entry>, Option<i64>)> {
        let found = self.gather(caller.id).await?;
        self.messages.settle().await?;
        let readables: Vec<Readable> = found.iter().map(|f| f.readable).collect();
        let newest = self.store.newest(&readables).await?;
        let mut ordered: Vec<(Found, i64, i64)> = found
            .into_iter()
            .zip(newest)
            .map(|(found, newest)| {
                let cursor = found.cursor(newest);
                (found, newest, cursor)
            })
            .filter(|(_, _, cursor)| after.is_none_or(|after| *cursor < after))
            .collect();
        ordered.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.2));
        let more = ordered.len() > limit as usize;
        ordered.truncate(limit as usize);
        let page: Vec<(Readable, i64)> = ordered
            .iter()
            .map(|(found, newest, _)| (found.readable, *newest))
            .collect();
        let summaries = self.store.summaries(caller.id, &page, COUNT_CAP).await?;
        let entries: Vec<Entry> = ordered
            .into_iter()
            .zip(summaries)
            .map(|((found, _, cursor), summary)| Entry {
                kind: found.kind,
                id: found.id,
                name: found.name,
                summary,
                cursor,
            })
            .collect();
        let next = if more {
            entries.last().map(|e| e.cursor)
        } else {
            None
        };
        Ok((entries, next))
    }

    /// Every friend and group of `user`, each with what they may read of it.
    async fn gather(&self, user: UserId) -> Result<Vec<Found>> {
        let mut found = Vec::new();
        let mut after = 0;
        loop {
            let page = Page {
                after,
                limit: GATHER_PAGE,
            };
            let friends = self.friends.friends(user, page).await?;
            found.extend(friends.iter().map(|f| Found::friend(user, f)));
            match friends.last() {
                Some(last) if friends.len() == GATHER_PAGE as usize => after = last.id,
                _ => break,
            }
        }
        let mut after = 0;
        loop {
            let page = Page {
                after,
                limit: GATHER_PAGE,
            };
            let groups = self.groups.groups_joined(user, page).await?;
            for group in &groups {
                if let Some(floor) = self.floor(group, user).await? {
                    found.push(Found::group(group, floor));
                }
            }
            match groups.last() {
                Some(last) if groups.len() == GATHER_PAGE as usize => after = last.id,
                _ => break,
            }
        }
        Ok(found)
    }

    /// The id above which `user` reads `group`, as `GroupService::history_floor` has it,
    /// from the group already read; `None` when they left it meanwhile.
    async fn floor(&self, group: &Group, user: UserId) -> Result<Option<i64>> {
        match group.history {
            HistoryVisibility::All => Ok(Some(0)),
            HistoryVisibility::Joined => self.groups.join_point(group.id, user).await,
        }
    }

    /// A page of the caller's friend list, oldest first as in `/friend/list`, each friend
    /// with whether they hold a socket on any node.
    pub async fn presence(&self, caller: Caller, page: Page) -> Result<Vec<(Friend, bool)>> {
        let friends = self.friends.friends(caller.id, page).await?;
        let ids: Vec<UserId> = friends.iter().map(|f| f.target).collect();
        let online = self.presence.online(&ids).await?;
        Ok(friends
            .into_iter()
            .map(|friend| {
                let on = online.contains(&friend.target);
                (friend, on)
            })
            .collect())
    }
}
