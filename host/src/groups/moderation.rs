//! What the operator does to groups: dissolves them, whoever is in them.

use super::{Group, GroupId, GroupService};
use crate::error::{Error, Result};

impl GroupService {
    /// Dissolves a group with its members, bans and mutes, as an owner leaving alone
    /// would, and closes every member's sockets of it on every node (`Event::Removed`).
    /// Its messages stay in the history, readable by no one through the group. Returns
    /// the group as it was and how many members it had.
    pub async fn dissolve_by_operator(&self, group: GroupId) -> Result<(Group, usize)> {
        let found = self
            .store
            .group(group)
            .await?
            .ok_or(Error::NotFound("no group with this id"))?;
        let members: Vec<_> = self
            .store
            .members(group)
            .await?
            .into_iter()
            .map(|m| m.user)
            .collect();
        self.store.dissolve(group).await?;
        let count = members.len();
        self.announce_removed(group, members).await;
        Ok((found, count))
    }
}
