//! The group-policy seam: who may join, and who becomes owner when the owner leaves.
//!
//! The host asks a [`GroupPolicy`] and nothing else for these two decisions; the default,
//! [`SeedPolicy`], is the seed's behaviour. The interface is deliberately narrow (plain
//! data in, a small verdict out) so a WebAssembly plugin can implement it.

use async_trait::async_trait;

use crate::groups::{Group, Member, Role};
use crate::users::UserId;

/// May a user join a group?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinDecision {
    /// Yes.
    Allow,
    /// No: the group is full (code 30008).
    Full,
    /// No, for this reason (code 30013).
    Deny(String),
}

/// What happens to a group whose owner leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerHandoff {
    /// This remaining member becomes the owner.
    NewOwner(UserId),
    /// The group is dissolved.
    Dissolve,
}

/// The two group decisions.
#[async_trait]
pub trait GroupPolicy: Send + Sync {
    /// Whether `user` may join `group`, which has `member_count` members now. The size
    /// limit is enforced atomically by the store whatever this answers.
    async fn on_join(&self, group: &Group, user: UserId, member_count: i64) -> JoinDecision;

    /// Who takes over `group` when its owner leaves; `remaining` are the other members,
    /// earliest-joined first (never empty: a lone owner's group is dissolved without
    /// asking).
    async fn on_owner_leave(&self, group: &Group, remaining: &[Member]) -> OwnerHandoff;
}

/// The seed's rules: join while not full; hand a group to its earliest-joined admin, else
/// to its earliest-joined member.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeedPolicy;

#[async_trait]
impl GroupPolicy for SeedPolicy {
    async fn on_join(&self, group: &Group, _user: UserId, member_count: i64) -> JoinDecision {
        if member_count >= group.size {
            JoinDecision::Full
        } else {
            JoinDecision::Allow
        }
    }

    async fn on_owner_leave(&self, _group: &Group, remaining: &[Member]) -> OwnerHandoff {
        seed_successor(remaining).map_or(OwnerHandoff::Dissolve, OwnerHandoff::NewOwner)
    }
}

/// The earliest-joined admin, else the earliest-joined member.
pub fn seed_successor(remaining: &[Member]) -> Option<UserId> {
    remaining
        .iter()
        .find(|m| m.role == Role::Admin)
        .or_else(|| remaining.first())
        .map(|m| m.user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(user: UserId, role: Role, joined_at: i64) -> Member {
        Member {
            user,
            username: format!("u{user}"),
            avatar: String::new(),
            role,
            joined_at,
        }
    }

    #[test]
    fn an_admin_wins_over_earlier_members() {
        let remaining = [
            member(2, Role::Member, 10),
            member(3, Role::Admin, 20),
            member(4, Role::Admin, 30),
        ];
        assert_eq!(seed_successor(&remaining), Some(3));
    }

    #[test]
    fn without_admins_the_earliest_member_wins() {
        let remaining = [member(5, Role::Member, 10), member(2, Role::Member, 20)];
        assert_eq!(seed_successor(&remaining), Some(5));
        assert_eq!(seed_successor(&[]), None);
    }
}
