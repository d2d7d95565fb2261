//! Groups: creation, joining and leaving, roles, the owner hand-off, bans and who reads
//! the history.
//!
//! Decisions that operators may want to change (who may join, who inherits a group) are
//! asked of a [`GroupPolicy`]; everything that must always hold (the size limit, bans, that
//! only members act on a group, what each role may do) is enforced here and in the store.

use std::sync::Arc;

use serde::Serialize;

use crate::bus::{Bus, Event};
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::store::{GroupStore, MessageStore, Page};
use crate::users::{now_millis, rfc3339, Caller, UserId};

/// Groups left per round when an account is deleted.
const LEAVE_BATCH: u32 = 100;

pub mod bans;
pub mod history;
mod moderation;
pub mod policy;
mod roles;

pub use bans::{Ban, BanView};
pub use history::HistoryVisibility;
pub use policy::{GroupPolicy, JoinDecision, OwnerHandoff, SeedPolicy};

/// A group's numeric id.
pub type GroupId = i64;

/// Longest group name, in characters.
const NAME_CHARS: usize = 64;
/// Longest description, in characters (the seed's cap).
const DESC_CHARS: usize = 100;
/// How often a leave is retried when the group changed under it.
const LEAVE_RETRIES: usize = 5;

/// A member's role, with the seed's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 0: a plain member.
    Member,
    /// 1: the owner.
    Owner,
    /// 2: an admin.
    Admin,
}

impl Role {
    /// The seed's number for the role.
    pub fn number(self) -> i64 {
        match self {
            Role::Member => 0,
            Role::Owner => 1,
            Role::Admin => 2,
        }
    }

    /// The role with this number.
    pub fn from_number(n: i64) -> Option<Self> {
        match n {
            0 => Some(Role::Member),
            1 => Some(Role::Owner),
            2 => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A stored group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Id.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// The owner's id.
    pub owner: UserId,
    /// Description.
    pub description: String,
    /// Most members allowed.
    pub size: i64,
    /// Members now.
    pub member_count: i64,
    /// What new members read of the earlier history.
    pub history: HistoryVisibility,
    /// Creation time, unix milliseconds.
    pub created_at: i64,
    /// Last change, unix milliseconds.
    pub updated_at: i64,
}

/// What creating a group stores.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// Name.
    pub name: String,
    /// Creator and owner.
    pub owner: UserId,
    /// Description.
    pub description: String,
    /// Most members allowed.
    pub size: i64,
    /// What new members read of the earlier history.
    pub history: HistoryVisibility,
    /// Now, unix milliseconds.
    pub now: i64,
}

/// A member of a group with their public profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user's id.
    pub user: UserId,
    /// Their name.
    pub username: String,
    /// Their avatar URL.
    pub avatar: String,
    /// Their role.
    pub role: Role,
    /// When they joined, unix milliseconds.
    pub joined_at: i64,
}

/// A group as clients see it, in the seed's field names plus `member_count` and
/// `history_visibility`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupView {
    /// Id.
    #[serde(rename = "ID")]
    pub id: GroupId,
    /// RFC 3339 creation time.
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    /// RFC 3339 time of the last change.
    #[serde(rename = "UpdatedAt")]
    pub updated_at: String,
    /// Always null.
    #[serde(rename = "DeletedAt")]
    pub deleted_at: Option<String>,
    /// Name.
    pub group_name: String,
    /// Owner's id.
    pub group_owner: UserId,
    /// Description.
    pub desc: String,
    /// Most members allowed.
    pub size: i64,
    /// Members now.
    pub member_count: i64,
    /// `all` or `joined`: what new members read of the earlier history.
    pub history_visibility: HistoryVisibility,
}

impl From<&Group> for GroupView {
    fn from(g: &Group) -> Self {
        GroupView {
            id: g.id,
            created_at: rfc3339(g.created_at),
            updated_at: rfc3339(g.updated_at),
            deleted_at: None,
            group_name: g.name.clone(),
            group_owner: g.owner,
            desc: g.description.clone(),
            size: g.size,
            member_count: g.member_count,
            history_visibility: g.history,
        }
    }
}

/// A member as clients see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct MemberView {
    /// The user's id.
    #[serde(rename = "ID")]
    pub user: UserId,
    /// Their name.
    #[serde(rename = "UserName")]
    pub username: String,
    /// Their avatar.
    #[serde(rename = "Avatar")]
    pub avatar: String,
    /// 1 owner, 2 admin, 0 member.
    pub role: i64,
    /// RFC 3339 time they joined.
    #[serde(rename = "JoinedAt")]
    pub joined_at: String,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        MemberView {
            user: m.user,
            username: m.username.clone(),
            avatar: m.avatar.clone(),
            role: m.role.number(),
            joined_at: rfc3339(m.joined_at),
        }
    }
}

/// Limits and defaults of group creation.
#[derive(Debug, Clone, Copy)]
pub struct GroupLimits {
    /// Size given when the client gives none.
    pub default_size: i64,
    /// Largest size a client may ask for.
    pub max_size: i64,
    /// What new members of a new group read of the earlier history, until the owner or an
    /// admin changes it.
    pub history: HistoryVisibility,
}

/// The group service.
#[derive(Clone)]
pub struct GroupService {
    store: Arc<dyn GroupStore>,
    messages: Arc<dyn MessageStore>,
    policy: Arc<dyn GroupPolicy>,
    limits: GroupLimits,
    bus: Arc<dyn Bus>,
    facts: Arc<Facts>,
    /// Most groups one user may belong to, and how to count them (`None`: no cap).
    max_joined: Option<(u64, Arc<dyn crate::store::counts::ListCounts>)>,
}

impl std::fmt::Debug for GroupService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupService")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl GroupService {
    /// Builds the service around a store and a policy; membership losses are announced
    /// on `bus`, so the leaver's group sockets close at once on every node. `messages` is
    /// the history, read for the point from which a joining member reads it.
    pub fn new(
        store: Arc<dyn GroupStore>,
        messages: Arc<dyn MessageStore>,
        policy: Arc<dyn GroupPolicy>,
        limits: GroupLimits,
        bus: Arc<dyn Bus>,
    ) -> Self {
        Self {
            store,
            messages,
            policy,
            limits,
            bus,
            facts: Arc::new(Facts::default()),
            max_joined: None,
        }
    }

    /// The facts this service keeps in memory (memberships), shared with the chat.
    pub fn facts(&self) -> &Arc<Facts> {
        &self.facts
    }

    async fn announce_removed(&self, group: GroupId, users: impl IntoIterator<Item = UserId>) {
        for user in users {
            // This node stops counting them as a member at once; the others when the
            // event reaches them.
            self.facts.members.forget(&(group, user));
            if let Err(err) = self.bus.publish(Event::Removed { group, user }).await {
                tracing::warn!(error = %err, group, user, "announcing a membership loss failed");
            }
        }
    }

    /// Creates a group owned by the caller, who becomes its first member.
    pub async fn create(
        &self,
        caller: Caller,
        name: &str,
        description: &str,
        size: Option<i64>,
    ) -> Result<Group> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::invalid("group_name is required"));
        }
        if name.chars().count() > NAME_CHARS {
            return Err(Error::invalid(format!(
                "group_name must be at most {NAME_CHARS} characters long"
            )));
        }
        if description.chars().count() > DESC_CHARS {
            return Err(Error::invalid(format!(
                "desc must be at most {DESC_CHARS} characters long"
            )));
        }
        let size = size.unwrap_or(self.limits.default_size);
        if size < 1 || size > self.limits.max_size {
            return Err(Error::invalid(format!(
                "size must be between 1 and {}",
                self.limits.max_size
            )));
        }
        self.check_joined(caller.id).await?;
        self.store
            .create_group(NewGroup {
                name: name.to_owned(),
                owner: caller.id,
                description: description.to_owned(),
                size,
                history: self.limits.history,
                now: now_millis(),
            })
            .await
    }

    /// Adds the caller to a group, if they are not banned from it, the policy allows and
    /// it is not full.
    pub async fn join(&self, caller: Caller, group: GroupId) -> Result<()> {
        let found = self.existing(group).await?;
        if self.store.role_of(group, caller.id).await?.is_some() {
            return Err(Error::AlreadyMember);
        }
        // Asked first so a banned user hears why, whatever else would refuse them; the
        // store refuses them again in the transaction that would add them.
        if self.store.is_banned(group, caller.id).await? {
            return Err(Error::Banned);
        }
        self.check_joined(caller.id).await?;
        match self
            .policy
            .on_join(&found, caller.id, found.member_count)
            .await
        {
            JoinDecision::Allow => {}
            JoinDecision::Full => return Err(Error::GroupFull),
            JoinDecision::Deny(reason) => return Err(Error::PolicyDenied(reason)),
        }
        let join_point = self.current_join_point(group).await?;
        self.store
            .add_member(group, caller.id, join_point, now_millis())
            .await
    }

    /// Groups the caller owns.
    pub async fn mine(&self, caller: Caller, page: Page) -> Result<Vec<Group>> {
        self.store.groups_owned(caller.id, page).await
    }

    /// Groups the caller is a member of, owned ones included.
    pub async fn joined(&self, caller: Caller, page: Page) -> Result<Vec<Group>> {
        self.store.groups_joined(caller.id, page).await
    }

    /// The members of a group the caller belongs to: all of them, earliest-joined first,
    /// or with `page` a page of them by user id.
    pub async fn members(
        &self,
        caller: Caller,
        group: GroupId,
        page: Option<Page>,
    ) -> Result<Vec<Member>> {
        self.existing(group).await?;
        self.require_member(group, caller.id).await?;
        match page {
            None => self.store.members(group).await,
            Some(page) => self.store.member_page(group, page).await,
        }
    }

    /// Whether `user` is a member of `group`: from memory when known, else from the store.
    pub async fn is_member(&self, group: GroupId, user: UserId) -> Result<bool> {
        let fact = (group, user);
        if self.facts.members.contains(&fact) {
            return Ok(true);
        }
        let epoch = self.facts.members.epoch();
        let member = self.store.role_of(group, user).await?.is_some();
        if member {
            self.facts.members.remember(fact, epoch);
        }
        Ok(member)
    }

    /// The caller leaves a group. An owner's group goes to the successor the policy names,
    /// or is dissolved when the owner was alone.
    pub async fn leave(&self, caller: Caller, group: GroupId) -> Result<()> {
        self.existing(group).await?;
        self.require_member(group, caller.id).await?;
        self.leave_unchecked(group, caller.id).await
    }

    /// Removes `user` from every group, handing off the groups they own (account deletion).
    pub async fn leave_all(&self, user: UserId) -> Result<()> {
        // Leaving takes each group off the list, so the first page is always what is left.
        let mut previous = None;
        loop {
            let groups = self
                .store
                .groups_joined(user, Page::first(LEAVE_BATCH))
                .await?;
            let Some(first) = groups.first().map(|g| g.id) else {
                return Ok(());
            };
            if previous == Some(first) {
                return Err(
                    anyhow::anyhow!("leaving group {first} did not take it off the list").into(),
                );
            }
            previous = Some(first);
            for group in groups {
                self.leave_unchecked(group.id, user).await?;
            }
        }
    }

    /// The owner makes a member an admin (`Role::Admin`) or a plain member again.
    pub async fn set_role(
        &self,
        caller: Caller,
        group: GroupId,
        target: UserId,
        role: Role,
    ) -> Result<()> {
        if role == Role::Owner {
            return Err(Error::invalid(
                "role must be 2 (admin) or 0 (member); ownership passes only when the owner leaves",
            ));
        }
        let found = self.existing(group).await?;
        self.require_member(group, caller.id).await?;
        if found.owner != caller.id {
            return Err(Error::Forbidden("only the group owner can change roles"));
        }
        if target == caller.id {
            return Err(Error::Forbidden("the owner's own role cannot change"));
        }
        self.require_target(group, target).await?;
        if !self
            .store
            .set_role(group, target, role, now_millis())
            .await?
        {
            return Err(Error::NoGroup("that user is not a member of this group"));
        }
        self.announce_role(group, target).await;
        Ok(())
    }

    /// The owner removes anyone else; an admin removes plain members only. The removed
    /// user is banned from the group until the owner or an admin lifts the ban.
    pub async fn remove(&self, caller: Caller, group: GroupId, target: UserId) -> Result<()> {
        if target == caller.id {
            return Err(Error::invalid(
                "to leave a group yourself, use DELETE /group/delete",
            ));
        }
        self.existing(group).await?;
        let my_role = self.require_member(group, caller.id).await?;
        let their_role = self.require_target(group, target).await?;
        let allowed = match my_role {
            Role::Owner => true,
            Role::Admin => their_role == Role::Member,
            Role::Member => false,
        };
        if !allowed {
            return Err(Error::Forbidden(match my_role {
                Role::Admin => "an admin cannot remove the owner or another admin",
                _ => "only the owner and admins can remove members",
            }));
        }
        if !self
            .store
            .ban_member(group, target, caller.id, now_millis())
            .await?
        {
            return Err(Error::NoGroup("that user is not a member of this group"));
        }
        self.announce_removed(group, [target]).await;
        Ok(())
    }

    async fn leave_unchecked(&self, group: GroupId, user: UserId) -> Result<()> {
        for _ in 0..LEAVE_RETRIES {
            let Some(found) = self.store.group(group).await? else {
                return Ok(());
            };
            if found.owner != user {
                if self.store.remove_member(group, user, now_millis()).await? {
                    self.announce_removed(group, [user]).await;
                }
                return Ok(());
            }
            let remaining: Vec<Member> = self
                .store
                .members(group)
                .await?
                .into_iter()
                .filter(|m| m.user != user)
                .collect();
            let handed = if remaining.is_empty() {
                self.store.dissolve_if_alone(group, user).await?
            } else {
                let successor = match self.policy.on_owner_leave(&found, &remaining).await {
                    OwnerHandoff::NewOwner(id) if remaining.iter().any(|m| m.user == id) => id,
                    OwnerHandoff::NewOwner(id) => {
                        tracing::warn!(
                            group,
                            successor = id,
                            "the group policy named a non-member; using the default successor"
                        );
                        policy::seed_successor(&remaining).unwrap_or(id)
                    }
                    OwnerHandoff::Dissolve => {
                        self.store.dissolve(group).await?;
                        let everyone = remaining.iter().map(|m| m.user).chain([user]);
                        self.announce_removed(group, everyone.collect::<Vec<_>>())
                            .await;
                        return Ok(());
                    }
                };
                let handed = self
                    .store
                    .hand_off(group, user, successor, now_millis())
                    .await?;
                if handed {
                    self.announce_role(group, successor).await;
                }
                handed
            };
            if handed {
                self.announce_removed(group, [user]).await;
                return Ok(());
            }
            // The group changed between reading and writing (a join, a leave): decide again.
        }
        Err(Error::Internal(anyhow::anyhow!(
            "group {group} kept changing while its owner left"
        )))
    }

    async fn existing(&self, group: GroupId) -> Result<Group> {
        self.store
            .group(group)
            .await?
            .ok_or(Error::NoGroup("no such group"))
    }

    async fn require_target(&self, group: GroupId, user: UserId) -> Result<Role> {
        self.store
            .role_of(group, user)
            .await?
            .ok_or(Error::NoGroup("that user is not a member of this group"))
    }

    /// The service refusing to let a user belong to more than `max` groups, counted by
    /// `counts`.
    pub fn with_max_joined(
        mut self,
        max: u64,
        counts: Arc<dyn crate::store::counts::ListCounts>,
    ) -> Self {
        self.max_joined = Some((max, counts));
        self
    }

    /// Refuses a user who belongs to as many groups as allowed (a bound on what one
    /// account can make the server keep and list; two joins at once may pass it by one).
    async fn check_joined(&self, user: UserId) -> Result<()> {
        let Some((max, counts)) = &self.max_joined else {
            return Ok(());
        };
        if counts.joined_count(user).await? >= *max {
            return Err(Error::ListFull(format!(
                "you belong to {max} groups, the most allowed: leave one first"
            )));
        }
        Ok(())
    }

    /// The member's role in the group, or [`Error::NoGroup`] for a non-member.
    pub async fn role_of(&self, group: GroupId, user: UserId) -> Result<Role> {
        self.require_member(group, user).await
    }

    async fn require_member(&self, group: GroupId, user: UserId) -> Result<Role> {
        self.store
            .role_of(group, user)
            .await?
            .ok_or(Error::NoGroup("not a member of this group"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseConfig;
    use crate::store::{SqlStore, Stores};
    use crate::users::NewUser;
    use async_trait::async_trait;

    /// A policy that refuses one user and always names a fixed successor.
    struct Custom {
        banned: UserId,
        heir: OwnerHandoff,
    }

    #[async_trait]
    impl GroupPolicy for Custom {
        async fn on_join(&self, _group: &Group, user: UserId, _count: i64) -> JoinDecision {
            if user == self.banned {
                JoinDecision::Deny("banned by the test policy".to_owned())
            } else {
                JoinDecision::Allow
            }
        }

        async fn on_owner_leave(&self, _group: &Group, _remaining: &[Member]) -> OwnerHandoff {
            self.heir
        }
    }

    async fn setup() -> (tempfile::TempDir, Stores, Vec<Caller>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let sql = SqlStore::connect(&DatabaseConfig::default(), dir.path())
            .await
            .expect("connect");
        sql.migrate().await.expect("migrate");
        let stores = Stores::from_sql(sql);
        let mut users = Vec::new();
        for name in ["owner", "first", "second", "banned"] {
            let user = stores
                .users
                .create_user(
                    NewUser {
                        username: name.to_owned(),
                        password_digest: "x".to_owned(),
                        status: "active".to_owned(),
                        now: 0,
                    },
                    None,
                )
                .await
                .expect("user");
            users.push(Caller { id: user.id });
        }
        (dir, stores, users)
    }

    fn service(stores: &Stores, policy: Custom) -> GroupService {
        GroupService::new(
            stores.groups.clone(),
            stores.messages.clone(),
            Arc::new(policy),
            GroupLimits {
                default_size: 10,
                max_size: 10,
                history: HistoryVisibility::Joined,
            },
            Arc::new(crate::bus::LocalBus::default()),
        )
    }

    #[tokio::test]
    async fn the_policy_decides_joins_and_successors() {
        let (_dir, stores, u) = setup().await;
        let groups = service(
            &stores,
            Custom {
                banned: u[3].id,
                heir: OwnerHandoff::NewOwner(u[2].id),
            },
        );
        let g = groups.create(u[0], "g", "", None).await.expect("create");
        groups.join(u[1], g.id).await.expect("first joins");
        groups.join(u[2], g.id).await.expect("second joins");
        let denied = groups.join(u[3], g.id).await;
        assert!(
            matches!(&denied, Err(Error::PolicyDenied(r)) if r == "banned by the test policy"),
            "{denied:?}"
        );
        // The default would pick the earliest member; this policy names the second.
        groups.leave(u[0], g.id).await.expect("owner leaves");
        let after = stores.groups.group(g.id).await.expect("g").expect("g");
        assert_eq!(after.owner, u[2].id);
    }

    #[tokio::test]
    async fn a_non_member_successor_falls_back_and_dissolve_is_obeyed() {
        let (_dir, stores, u) = setup().await;
        let groups = service(
            &stores,
            Custom {
                banned: 0,
                heir: OwnerHandoff::NewOwner(u[3].id),
            },
        );
        let g = groups.create(u[0], "g", "", None).await.expect("create");
        groups.join(u[1], g.id).await.expect("join");
        groups.join(u[2], g.id).await.expect("join");
        groups.leave(u[0], g.id).await.expect("leave");
        let after = stores.groups.group(g.id).await.expect("g").expect("g");
        assert_eq!(after.owner, u[1].id, "the seed's successor, not a stranger");

        let dissolver = service(
            &stores,
            Custom {
                banned: 0,
                heir: OwnerHandoff::Dissolve,
            },
        );
        dissolver.leave(u[1], g.id).await.expect("leave");
        assert_eq!(stores.groups.group(g.id).await.expect("gone"), None);
    }
}
