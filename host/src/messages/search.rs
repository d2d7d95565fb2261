//! Searching the messages a user can see: the rules of a query, which conversations it may
//! look in, and the page of hits, newest first.
//!
//! A query is a few words; a message matches when it holds every one of them, anywhere in
//! its text and without regard to case, so a part of a word or a Chinese word in the
//! middle of a sentence is found alike. Where a search may look is decided here, never by
//! the store: the caller's private conversations, and the groups they are a member of now,
//! each from their history floor on (see `groups::history`). The store adds what it holds
//! itself: the messages the caller deleted for themselves are left out, and a recalled
//! message is gone from the table the store reads.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::groups::{GroupId, GroupService};
use crate::messages::Conversation;
use crate::store::{MessageStore, Page, SearchStore};
use crate::users::{rfc3339, Caller, UserId};

mod rules;

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// Hits per page when the request names no `limit`.
pub const DEFAULT_PAGE: u32 = 20;

/// The largest page a request may ask for.
pub const MAX_PAGE: u32 = 100;

/// How many groups' history floors are looked up at once.
const FLOOR_LOOKUPS: usize = 8;

/// Groups listed per look-up while the caller's groups are gathered.
const GROUPS_PER_LOOKUP: u32 = 1000;

/// A search as the client asked for it; [`SearchService::search`] checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// The words to find.
    pub text: String,
    /// Only the private conversation with this user.
    pub with: Option<UserId>,
    /// Only this group.
    pub group: Option<GroupId>,
    /// Only messages from this user.
    pub sender: Option<UserId>,
    /// Only messages sent at or after this time, unix seconds.
    pub since: Option<i64>,
    /// Only messages sent before this time, unix seconds.
    pub until: Option<i64>,
    /// Only messages with an id below this one (the cursor of the page before).
    pub before: Option<i64>,
    /// Hits per page.
    pub limit: Option<i64>,
}

/// Which private conversations a search looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direct {
    /// None of them.
    None,
    /// Every private conversation of the viewer.
    All,
    /// The viewer's conversation with this user.
    With(UserId),
}

/// The conversations a search may look in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The viewer's private conversations.
    pub direct: Direct,
    /// Groups, each with the id above which the viewer reads its history.
    pub groups: Vec<(GroupId, i64)>,
}

impl Scope {
    /// Whether there is nowhere to look.
    pub fn is_empty(&self) -> bool {
        self.direct == Direct::None && self.groups.is_empty()
    }
}

/// A checked search, as a [`SearchStore`] runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Who searches: their private conversations are the ones whose key holds them, and
    /// what they deleted for themselves is left out.
    pub viewer: UserId,
    /// Every one of these must be in the text, in any case (at least one, none empty).
    pub terms: Vec<String>,
    /// Where to look.
    pub scope: Scope,
    /// Only messages from this user.
    pub sender: Option<UserId>,
    /// Only messages sent at or after this time, unix milliseconds.
    pub since_ms: Option<i64>,
    /// Only messages sent before this time, unix milliseconds.
    pub until_ms: Option<i64>,
    /// Only messages with an id below this one.
    pub before_id: Option<i64>,
    /// Most hits.
    pub limit: u32,
}

/// A message a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Server id.
    pub id: i64,
    /// Its conversation.
    pub conversation: Conversation,
    /// Who sent it.
    pub sender: UserId,
    /// Its text as it is now.
    pub content: String,
    /// When it was sent, unix milliseconds.
    pub sent_at: i64,
    /// When it was last edited, unix milliseconds.
    pub edited_at: Option<i64>,
}

/// A hit as clients see it: the conversation is named as the search filters name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HitView {
    /// Server id, also the cursor: pass it as `before` for older hits.
    pub id: i64,
    /// The other user of a private conversation (null in a group).
    pub with: Option<UserId>,
    /// The group (null in a private conversation).
    pub group_id: Option<GroupId>,
    /// Who sent it.
    pub sender: UserId,
    /// The text.
    pub content: String,
    /// When it was sent, unix seconds (as in WebSocket frames).
    pub ts: i64,
    /// When it was sent, RFC 3339 with milliseconds.
    pub time: String,
    /// When it was last edited, unix seconds (null if never).
    pub edited_at: Option<i64>,
}

impl HitView {
    /// `hit` as `viewer` sees it.
    pub fn new(hit: &Hit, viewer: UserId) -> Self {
        let (with, group_id) = match hit.conversation {
            Conversation::Direct(a, b) => (Some(if a == viewer { b } else { a }), None),
            Conversation::Group(group) => (None, Some(group)),
        };
        Self {
            id: hit.id,
            with,
            group_id,
            sender: hit.sender,
            content: hit.content.clone(),
            ts: hit.sent_at / 1000,
            time: rfc3339(hit.sent_at),
            edited_at: hit.edited_at.map(|at| at / 1000),
        }
    }
}

/// A page of hits and, when older ones remain, the `before` of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The hits, newest first.
    pub hits: Vec<Hit>,
    /// The cursor of the next page.
    pub next_before: Option<i64>,
}

/// The search service.
#[derive(Clone)]
pub struct SearchService {
    store: Arc<dyn SearchStore>,
    messages: Arc<dyn MessageStore>,
    groups: GroupService,
}

impl std::fmt::Debug for SearchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchService").finish_non_exhaustive()
    }
}

impl SearchService {
    /// Searches `store`; `messages` is the history it indexes, waited for before each
    /// search, and `groups` says who reads which group from where.
    pub fn new(
        store: Arc<dyn SearchStore>,
        messages: Arc<dyn MessageStore>,
        groups: GroupService,
    ) -> Self {
        Self {
            store,
            messages,
            groups,
        }
    }

    /// A page of the messages the caller can see that hold every word of the request.
    /// Errors: [`Error::Invalid`] for a bad request, [`Error::NoGroup`] for a `group` the
    /// caller is not a member of.
    pub async fn search(&self, caller: Caller, request: SearchRequest) -> Result<Found> {
        let mut query = rules::check(caller.id, &request)?;
        query.scope = match (request.with, request.group) {
            (Some(peer), _) => Scope {
                direct: Direct::With(peer),
                groups: Vec::new(),
            },
            (None, Some(group)) => Scope {
                direct: Direct::None,
                groups: vec![(group, self.groups.history_floor(group, caller.id).await?)],
            },
            (None, None) => Scope {
                direct: Direct::All,
                groups: self.visible_groups(caller).await?,
            },
        };
        let limit = query.limit;
        // One more than the page, to know whether older hits remain.
        query.limit = limit + 1;
        // A message acknowledged a moment ago is found too.
        self.messages.settle().await?;
        let mut hits = self.store.search(&query).await?;
        let more = hits.len() > limit as usize;
        hits.truncate(limit as usize);
        let next_before = if more {
            hits.last().map(|h| h.id)
        } else {
            None
        };
        Ok(Found { hits, next_before })
    }

    /// The caller's groups, each with the id above which they read it.
    async fn visible_groups(&self, caller: Caller) -> Result<Vec<(GroupId, i64)>> {
        let mut ids = Vec::new();
        let mut page = Page::first(GROUPS_PER_LOOKUP);
        loop {
            let groups = self.groups.joined(caller, page).await?;
            let full = groups.len() == GROUPS_PER_LOOKUP as usize;
            ids.extend(groups.iter().map(|g| g.id));
            match (full, groups.last()) {
                (true, Some(last)) => page.after = last.id,
                _ => break,
            }
        }
        let floors = futures::stream::iter(ids)
            .map(|group| async move {
                match self.groups.history_floor(group, caller.id).await {
                    Ok(floor) => Ok(Some((group, floor))),
                    // Left or dissolved since it was listed: nothing to read there.
                    Err(Error::NoGroup(_)) => Ok(None),
                    Err(err) => Err(err),
                }
            })
            .buffered(FLOOR_LOOKUPS)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(floors.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_names_the_other_side_of_a_private_conversation() {
        let hit = Hit {
            id: 9,
            conversation: Conversation::direct(4, 7),
            sender: 4,
            content: "hi".to_owned(),
            sent_at: 0,
            edited_at: None,
        };
        assert_eq!(HitView::new(&hit, 4).with, Some(7));
        assert_eq!(HitView::new(&hit, 7).with, Some(4));
        let in_group = Hit {
            conversation: Conversation::Group(3),
            ..hit
        };
        let view = HitView::new(&in_group, 4);
        assert_eq!((view.with, view.group_id), (None, Some(3)));
        assert_eq!(view.time, "1970-01-01T00:00:00.000Z");
    }
}
