//! The storage trait of blocks between users and mutes in groups.

use async_trait::async_trait;

use crate::blocks::{Block, GroupMutes, Mute};
use crate::error::Result;
use crate::groups::GroupId;
use crate::users::UserId;

/// Who blocks whom, and who is muted in which group.
#[async_trait]
pub trait BlockStore: Send + Sync {
    /// `blocker` blocks `blocked`, unless that would take `blocker` past `limit` blocks:
    /// true if the block is stored (or already was), false if the limit refused it. The
    /// limit holds however many blocks are asked for at once.
    async fn block(&self, blocker: UserId, blocked: UserId, now: i64, limit: u32) -> Result<bool>;
    /// Lifts a block; false if there was none.
    async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<bool>;
    /// The ids `blocker` blocks.
    async fn blocked_ids(&self, blocker: UserId) -> Result<Vec<UserId>>;
    /// The users `blocker` blocks with their profiles, earliest first.
    async fn blocks(&self, blocker: UserId) -> Result<Vec<Block>>;
    /// Mutes `user` in `group` until `until` (unix milliseconds), replacing any mute they
    /// had there, unless the group would then hold more than `limit` mutes that have not
    /// ended at `now`: true if stored, false if the limit refused it. Mutes that have ended
    /// are forgotten on the way.
    async fn mute(
        &self,
        group: GroupId,
        user: UserId,
        until: i64,
        by: UserId,
        now: i64,
        limit: u32,
    ) -> Result<bool>;
    /// Lifts a mute that has not ended at `now`; false if there was none.
    async fn unmute(&self, group: GroupId, user: UserId, now: i64) -> Result<bool>;
    /// Mutes (`on`) or unmutes the whole group but its owner and admins; changing nothing
    /// is not an error.
    async fn set_mute_all(&self, group: GroupId, on: bool, by: UserId, now: i64) -> Result<()>;
    /// What is muted in the group at `now`: the whole group or not, and who until when.
    async fn group_mutes(&self, group: GroupId, now: i64) -> Result<GroupMutes>;
    /// The group's mutes that have not ended at `now`, with the muted users' profiles,
    /// earliest first.
    async fn mutes(&self, group: GroupId, now: i64) -> Result<Vec<Mute>>;
}
