//! Who reads a group's history from before they joined, and where each member's reading
//! starts.
//!
//! A membership remembers its join point: the id of the group's last message when the
//! member joined. In a group whose history shows [`HistoryVisibility::Joined`], a member
//! reads only the messages with a larger id; with [`HistoryVisibility::All`], everything.
//! Message ids only grow, so the bound is one comparison in every history query, wherever
//! the history is stored.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::groups::{GroupId, GroupService, Role};
use crate::messages::Conversation;
use crate::users::{now_millis, Caller, UserId};

/// What a group's new members may read of the messages sent before they joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HistoryVisibility {
    /// Everything the group has kept.
    All,
    /// Only the messages sent after they joined.
    Joined,
}

impl HistoryVisibility {
    /// The stored and wire name: `all` or `joined`.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryVisibility::All => "all",
            HistoryVisibility::Joined => "joined",
        }
    }

    /// The visibility with this name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "all" => Some(HistoryVisibility::All),
            "joined" => Some(HistoryVisibility::Joined),
            _ => None,
        }
    }
}

impl GroupService {
    /// The owner or an admin sets what new members may read of the history.
    pub async fn set_history(
        &self,
        caller: Caller,
        group: GroupId,
        history: HistoryVisibility,
    ) -> Result<()> {
        self.existing(group).await?;
        match self.require_member(group, caller.id).await? {
            Role::Owner | Role::Admin => {}
            Role::Member => {
                return Err(Error::Forbidden(
                    "only the owner and admins can change the history visibility",
                ))
            }
        }
        if !self.store.set_history(group, history, now_millis()).await? {
            return Err(Error::NoGroup("no such group"));
        }
        Ok(())
    }

    /// The message id above which `user` reads `group`'s history: 0 when the group shows
    /// everything, else their join point. Fails with [`Error::NoGroup`] for a non-member.
    pub async fn history_floor(&self, group: GroupId, user: UserId) -> Result<i64> {
        let found = self.existing(group).await?;
        let join_point = self
            .store
            .join_point(group, user)
            .await?
            .ok_or(Error::NoGroup("not a member of this group"))?;
        Ok(match found.history {
            HistoryVisibility::All => 0,
            HistoryVisibility::Joined => join_point,
        })
    }

    /// The id of the group's newest message, which a member joining now is shown the
    /// messages after (0 when the group has none).
    pub(super) async fn current_join_point(&self, group: GroupId) -> Result<i64> {
        let newest = self
            .messages
            .before(&Conversation::Group(group), i64::MAX, 0, 1)
            .await?;
        Ok(newest.last().map_or(0, |m| m.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in [HistoryVisibility::All, HistoryVisibility::Joined] {
            assert_eq!(HistoryVisibility::parse(v.as_str()), Some(v));
            assert_eq!(
                serde_json::to_value(v).expect("json"),
                serde_json::json!(v.as_str())
            );
        }
        assert_eq!(HistoryVisibility::parse("All"), None);
        assert_eq!(HistoryVisibility::parse(""), None);
    }
}
