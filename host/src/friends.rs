//! Friends: the seed's one-way friend list (owner → target), with each friend's public
//! profile.

use std::sync::Arc;

use serde::Serialize;

use crate::blocks::BlockService;
use crate::error::{Error, Result};
use crate::store::{FriendStore, Page, UserStore};
use crate::users::{now_millis, rfc3339, Caller, UserId};

/// A friend-list entry with the friend's public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    /// Row id.
    pub id: i64,
    /// Whose list it is on.
    pub owner: UserId,
    /// The friend.
    pub target: UserId,
    /// The seed's `Type` (1).
    pub kind: i64,
    /// Added at, unix milliseconds.
    pub created_at: i64,
    /// Changed at, unix milliseconds.
    pub updated_at: i64,
    /// The friend's name.
    pub target_name: String,
    /// The friend's avatar.
    pub target_avatar: String,
}

/// A friend's public profile inside a list entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FriendProfile {
    /// Id.
    #[serde(rename = "ID")]
    pub id: UserId,
    /// Name.
    #[serde(rename = "UserName")]
    pub username: String,
    /// Avatar URL.
    #[serde(rename = "Avatar")]
    pub avatar: String,
}

/// A list entry as clients see it: the seed's fields plus `friend`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FriendView {
    /// Row id.
    #[serde(rename = "ID")]
    pub id: i64,
    /// RFC 3339.
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    /// RFC 3339.
    #[serde(rename = "UpdatedAt")]
    pub updated_at: String,
    /// Always null.
    #[serde(rename = "DeletedAt")]
    pub deleted_at: Option<String>,
    /// The caller.
    pub owner_id: UserId,
    /// The friend.
    pub target_id: UserId,
    /// The seed's type (1).
    #[serde(rename = "Type")]
    pub kind: i64,
    /// The friend's public profile.
    pub friend: FriendProfile,
}

impl From<&Friend> for FriendView {
    fn from(f: &Friend) -> Self {
        FriendView {
            id: f.id,
            created_at: rfc3339(f.created_at),
            updated_at: rfc3339(f.updated_at),
            deleted_at: None,
            owner_id: f.owner,
            target_id: f.target,
            kind: f.kind,
            friend: FriendProfile {
                id: f.target,
                username: f.target_name.clone(),
                avatar: f.target_avatar.clone(),
            },
        }
    }
}

/// The friend service.
#[derive(Clone)]
pub struct FriendService {
    friends: Arc<dyn FriendStore>,
    users: Arc<dyn UserStore>,
    blocks: BlockService,
    /// Where a changed list is announced: the facts this node keeps, and the bus.
    announce: Option<(Arc<crate::facts::Facts>, Arc<dyn crate::bus::Bus>)>,
    /// The most friends per user, and how to count them (`None`: no cap).
    max: Option<(u64, Arc<dyn crate::store::counts::ListCounts>)>,
}

impl std::fmt::Debug for FriendService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FriendService").finish_non_exhaustive()
    }
}

impl FriendService {
    /// Builds the service; `blocks` refuses requests between users who block each other.
    pub fn new(
        friends: Arc<dyn FriendStore>,
        users: Arc<dyn UserStore>,
        blocks: BlockService,
    ) -> Self {
        Self {
            friends,
            users,
            blocks,
            announce: None,
            max: None,
        }
    }

    /// The service announcing every change of a list, so that each node forgets the copy
    /// it keeps for the message filters' context (see `friendships`).
    pub fn announcing(
        mut self,
        facts: Arc<crate::facts::Facts>,
        bus: Arc<dyn crate::bus::Bus>,
    ) -> Self {
        self.announce = Some((facts, bus));
        self
    }

    /// The service refusing to add friends past `max` per user, counted by `counts`.
    pub fn with_max(mut self, max: u64, counts: Arc<dyn crate::store::counts::ListCounts>) -> Self {
        self.max = Some((max, counts));
        self
    }

    /// Forgets `owner`'s list on this node at once, and tells every node.
    async fn changed(&self, owner: UserId) {
        let Some((facts, bus)) = &self.announce else {
            return;
        };
        let event = crate::bus::Event::FriendsChanged { user: owner };
        facts.apply(&event);
        if let Err(err) = bus.publish(event).await {
            tracing::warn!(error = %err, owner, "announcing a friend list change failed");
        }
    }

    /// Puts `target` on the caller's list.
    pub async fn add(&self, caller: Caller, target: UserId) -> Result<()> {
        if target == caller.id {
            return Err(Error::invalid("you cannot add yourself as a friend"));
        }
        if self.users.user_by_id(target).await?.is_none() {
            return Err(Error::UserNotFound);
        }
        self.blocks.check_pair(caller.id, target).await?;
        if let Some((max, counts)) = &self.max {
            // Two adds at once may pass the bound by one; it bounds, not counts exactly.
            if counts.friend_count(caller.id).await? >= *max {
                return Err(Error::ListFull(format!(
                    "your friend list holds {max} users, the most allowed: remove one first"
                )));
            }
        }
        self.friends
            .add_friend(caller.id, target, now_millis())
            .await?;
        self.changed(caller.id).await;
        Ok(())
    }

    /// A page of the caller's list, oldest first.
    pub async fn list(&self, caller: Caller, page: Page) -> Result<Vec<Friend>> {
        self.friends.friends(caller.id, page).await
    }

    /// Takes `target` off the caller's list.
    pub async fn delete(&self, caller: Caller, target: UserId) -> Result<()> {
        if self.friends.delete_friend(caller.id, target).await? {
            self.changed(caller.id).await;
            Ok(())
        } else {
            Err(Error::NotFriend)
        }
    }
}
