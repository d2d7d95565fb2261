//! Blocks between users and mutes in groups: who may not message whom.
//!
//! A block runs both ways: while `a` blocks `b`, neither sends the other a private message
//! or a friend request ([`Error::Blocked`], 30040). A muted group member's messages are
//! refused until the mute ends ([`Error::Muted`], 30041), and a group muted as a whole
//! hears only its owner and admins ([`Error::GroupMuted`], 30041).
//!
//! The message path asks these rules on every message, so they are answered from memory:
//! each node keeps every list it has read (a user's blocks, a group's mutes) in
//! [`Facts`], and every change is announced on the bus so each node forgets its copy. A
//! mute's end needs no announcement: the copy holds the time, which is compared with the
//! clock on each message.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::bus::{Bus, Event};
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::groups::{GroupId, Role};
use crate::store::{BlockStore, GroupStore, UserStore};
use crate::users::{now_millis, rfc3339, Caller, UserId};

pub mod cache;
mod mutes;

pub use cache::{ListCache, Weigh};
pub use mutes::{MuteFor, MAX_MUTES_PER_GROUP, MAX_MUTE_SECS};

/// Most users one user may block: a bound on what one account can make every node keep.
pub const MAX_BLOCKS: u32 = 1000;

/// A blocked user with their public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The blocked user.
    pub user: UserId,
    /// Their name.
    pub username: String,
    /// Their avatar URL.
    pub avatar: String,
    /// When they were blocked, unix milliseconds.
    pub blocked_at: i64,
}

/// A block as clients see it, in the style of a group ban.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BlockView {
    /// The blocked user's id.
    #[serde(rename = "ID")]
    pub user: UserId,
    /// Their name.
    #[serde(rename = "UserName")]
    pub username: String,
    /// Their avatar.
    #[serde(rename = "Avatar")]
    pub avatar: String,
    /// RFC 3339 time of the block.
    #[serde(rename = "BlockedAt")]
    pub blocked_at: String,
}

impl From<&Block> for BlockView {
    fn from(b: &Block) -> Self {
        BlockView {
            user: b.user,
            username: b.username.clone(),
            avatar: b.avatar.clone(),
            blocked_at: rfc3339(b.blocked_at),
        }
    }
}

/// A muted group member with their public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mute {
    /// The muted user.
    pub user: UserId,
    /// Their name.
    pub username: String,
    /// Their avatar URL.
    pub avatar: String,
    /// The owner or admin who muted them.
    pub muted_by: UserId,
    /// When, unix milliseconds.
    pub muted_at: i64,
    /// When the mute ends, unix milliseconds.
    pub until: i64,
}

/// A mute as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MuteView {
    /// The muted user's id.
    #[serde(rename = "ID")]
    pub user: UserId,
    /// Their name.
    #[serde(rename = "UserName")]
    pub username: String,
    /// Their avatar.
    #[serde(rename = "Avatar")]
    pub avatar: String,
    /// Who muted them.
    pub muted_by: UserId,
    /// RFC 3339 time of the mute.
    #[serde(rename = "MutedAt")]
    pub muted_at: String,
    /// RFC 3339 time the mute ends.
    #[serde(rename = "MutedUntil")]
    pub muted_until: String,
}

impl From<&Mute> for MuteView {
    fn from(m: &Mute) -> Self {
        MuteView {
            user: m.user,
            username: m.username.clone(),
            avatar: m.avatar.clone(),
            muted_by: m.muted_by,
            muted_at: rfc3339(m.muted_at),
            muted_until: rfc3339(m.until),
        }
    }
}

/// What is muted in one group: what the message path needs, kept per node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMutes {
    /// The whole group is muted but its owner and admins.
    pub all: bool,
    /// Muted members and when each mute ends, unix milliseconds.
    pub members: HashMap<UserId, i64>,
}

impl Weigh for GroupMutes {
    fn weight(&self) -> usize {
        self.members.len() + 1
    }
}

/// The block and mute service.
#[derive(Clone)]
pub struct BlockService {
    store: Arc<dyn BlockStore>,
    users: Arc<dyn UserStore>,
    groups: Arc<dyn GroupStore>,
    facts: Arc<Facts>,
    bus: Arc<dyn Bus>,
}

impl std::fmt::Debug for BlockService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockService").finish_non_exhaustive()
    }
}

impl BlockService {
    /// Builds the service. `facts` is where the lists are kept (the one the bus keeps
    /// current, shared with the chat); changes are announced on `bus`.
    pub fn new(
        store: Arc<dyn BlockStore>,
        users: Arc<dyn UserStore>,
        groups: Arc<dyn GroupStore>,
        facts: Arc<Facts>,
        bus: Arc<dyn Bus>,
    ) -> Self {
        Self {
            store,
            users,
            groups,
            facts,
            bus,
        }
    }

    /// The caller blocks `target`; blocking someone already blocked changes nothing.
    pub async fn block(&self, caller: Caller, target: UserId) -> Result<()> {
        if target == caller.id {
            return Err(Error::invalid("you cannot block yourself"));
        }
        if self.users.user_by_id(target).await?.is_none() {
            return Err(Error::UserNotFound);
        }
        let stored = self
            .store
            .block(caller.id, target, now_millis(), MAX_BLOCKS)
            .await?;
        if !stored {
            return Err(Error::invalid(format!(
                "you can block at most {MAX_BLOCKS} users: unblock someone first"
            )));
        }
        self.announce(Event::BlocksChanged { user: caller.id })
            .await;
        Ok(())
    }

    /// The caller lifts their block of `target`.
    pub async fn unblock(&self, caller: Caller, target: UserId) -> Result<()> {
        if !self.store.unblock(caller.id, target).await? {
            return Err(Error::NotFound("that user is not on your block list"));
        }
        self.announce(Event::BlocksChanged { user: caller.id })
            .await;
        Ok(())
    }

    /// The users the caller blocks, earliest first (at most [`MAX_BLOCKS`]).
    pub async fn blocks(&self, caller: Caller) -> Result<Vec<Block>> {
        self.store.blocks(caller.id).await
    }

    /// Whether `from` may send `to` a private message or a friend request: not while
    /// either blocks the other.
    pub async fn check_pair(&self, from: UserId, to: UserId) -> Result<()> {
        if self.blocked_by(to).await?.contains(&from) {
            return Err(Error::Blocked("this user has blocked you"));
        }
        if self.blocked_by(from).await?.contains(&to) {
            return Err(Error::Blocked(
                "you have blocked this user: unblock them first",
            ));
        }
        Ok(())
    }

    /// Whether `sender`, a member, may send to `group`: not while muted there, and not
    /// as a plain member while the whole group is muted.
    pub async fn check_group(&self, sender: UserId, group: GroupId) -> Result<()> {
        let mutes = self.group_mutes(group).await?;
        if let Some(&until) = mutes.members.get(&sender) {
            if until > now_millis() {
                return Err(Error::Muted { until });
            }
        }
        // Roles are read only in a group muted as a whole, where plain members' messages
        // are refused anyway.
        if mutes.all {
            let role = self.groups.role_of(group, sender).await?;
            if !matches!(role, Some(Role::Owner | Role::Admin)) {
                return Err(Error::GroupMuted);
            }
        }
        Ok(())
    }

    /// The ids `user` blocks: from memory when kept, else from the store.
    async fn blocked_by(&self, user: UserId) -> Result<Arc<HashSet<UserId>>> {
        if let Some(list) = self.facts.blocks.get(&user) {
            return Ok(list);
        }
        let epoch = self.facts.blocks.epoch();
        let list: Arc<HashSet<UserId>> =
            Arc::new(self.store.blocked_ids(user).await?.into_iter().collect());
        self.facts.blocks.remember(user, list.clone(), epoch);
        Ok(list)
    }

    /// What is muted in `group`: from memory when kept, else from the store.
    async fn group_mutes(&self, group: GroupId) -> Result<Arc<GroupMutes>> {
        if let Some(mutes) = self.facts.mutes.get(&group) {
            return Ok(mutes);
        }
        let epoch = self.facts.mutes.epoch();
        let mutes = Arc::new(self.store.group_mutes(group, now_millis()).await?);
        self.facts.mutes.remember(group, mutes.clone(), epoch);
        Ok(mutes)
    }

    /// Forgets what `event` changes on this node at once, and tells every node.
    async fn announce(&self, event: Event) {
        self.facts.apply(&event);
        if let Err(err) = self.bus.publish(event).await {
            tracing::warn!(error = %err, "announcing a block or mute change failed");
        }
    }
}

#[cfg(test)]
mod tests;
