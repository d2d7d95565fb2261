//! Group bans: a member removed by the owner or an admin may not come back until one of
//! them lifts the ban.
//!
//! The ban is written in the same transaction that removes the member, and the store's
//! `add_member` refuses a banned user in the transaction that would add them, so no way of
//! joining, today's or a later one, can let a banned user back in. A member who leaves on
//! their own is not banned.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::groups::{GroupId, GroupService, Role};
use crate::store::Page;
use crate::users::{rfc3339, Caller, UserId};

/// A user banned from a group, with their public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The banned user.
    pub user: UserId,
    /// Their name.
    pub username: String,
    /// Their avatar URL.
    pub avatar: String,
    /// The owner or admin who removed them.
    pub banned_by: UserId,
    /// When, unix milliseconds.
    pub banned_at: i64,
}

/// A ban as clients see it, in the style of a member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BanView {
    /// The banned user's id.
    #[serde(rename = "ID")]
    pub user: UserId,
    /// Their name.
    #[serde(rename = "UserName")]
    pub username: String,
    /// Their avatar.
    #[serde(rename = "Avatar")]
    pub avatar: String,
    /// Who removed them.
    pub banned_by: UserId,
    /// RFC 3339 time of the removal.
    #[serde(rename = "BannedAt")]
    pub banned_at: String,
}

impl From<&Ban> for BanView {
    fn from(b: &Ban) -> Self {
        BanView {
            user: b.user,
            username: b.username.clone(),
            avatar: b.avatar.clone(),
            banned_by: b.banned_by,
            banned_at: rfc3339(b.banned_at),
        }
    }
}

impl GroupService {
    /// The group's bans, for the owner and admins: all of them, earliest first, or with
    /// `page` a page of them by user id.
    pub async fn bans(
        &self,
        caller: Caller,
        group: GroupId,
        page: Option<Page>,
    ) -> Result<Vec<Ban>> {
        self.require_moderator(caller, group).await?;
        match page {
            None => self.store.bans(group).await,
            Some(page) => self.store.ban_page(group, page).await,
        }
    }

    /// The owner or an admin lifts a ban; the user may then join again.
    pub async fn unban(&self, caller: Caller, group: GroupId, target: UserId) -> Result<()> {
        self.require_moderator(caller, group).await?;
        if !self.store.unban(group, target).await? {
            return Err(Error::NotFound("that user is not banned from this group"));
        }
        Ok(())
    }

    async fn require_moderator(&self, caller: Caller, group: GroupId) -> Result<()> {
        self.existing(group).await?;
        match self.require_member(group, caller.id).await? {
            Role::Owner | Role::Admin => Ok(()),
            Role::Member => Err(Error::Forbidden(
                "only the owner and admins can see and lift bans",
            )),
        }
    }
}
