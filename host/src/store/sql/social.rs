//! Friends and groups in SQL.
//!
//! Every change to a group's membership also keeps `chat_groups.member_count` right, in
//! the same transaction; the size limit is one conditional UPDATE of that count, which
//! both dialects run atomically (SQLite has one writer; InnoDB locks the row). A join and
//! a ban of the same group both lock that row first, so they never interleave.

use anyhow::Context;
use async_trait::async_trait;
use sqlx::{Any, FromRow, Transaction};

use super::accounts::is_unique_violation;
use super::{Dialect, SqlStore};
use crate::error::{Error, Result};
use crate::friends::Friend;
use crate::groups::{Ban, Group, GroupId, HistoryVisibility, Member, NewGroup, Role};
use crate::store::{FriendStore, GroupStore, Page};
use crate::users::UserId;

#[derive(FromRow)]
struct GroupRow {
    id: i64,
    name: String,
    owner_id: i64,
    description: String,
    size: i64,
    member_count: i64,
    history_visibility: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<GroupRow> for Group {
    type Error = Error;

    fn try_from(r: GroupRow) -> Result<Self> {
        let history = HistoryVisibility::parse(&r.history_visibility).with_context(|| {
            format!(
                "stored history visibility {:?} is unknown",
                r.history_visibility
            )
        })?;
        Ok(Group {
            id: r.id,
            name: r.name,
            owner: r.owner_id,
            description: r.description,
            size: r.size,
            member_count: r.member_count,
            history,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn groups(rows: Vec<GroupRow>) -> Result<Vec<Group>> {
    rows.into_iter().map(Group::try_from).collect()
}

#[derive(FromRow)]
struct MemberRow {
    user_id: i64,
    username: String,
    avatar: String,
    role: i64,
    joined_at: i64,
}

#[derive(FromRow)]
struct BanRow {
    user_id: i64,
    username: String,
    avatar: String,
    banned_by: i64,
    banned_at: i64,
}

#[derive(FromRow)]
struct FriendRow {
    id: i64,
    owner_id: i64,
    target_id: i64,
    kind: i64,
    created_at: i64,
    updated_at: i64,
    username: String,
    avatar: String,
}

const GROUP_COLUMNS: &str = "g.id, g.name, g.owner_id, g.description, g.size, g.member_count, \
     g.history_visibility, g.created_at, g.updated_at";

impl SqlStore {
    /// The id of the row the transaction inserted last.
    pub(super) async fn last_insert_id(&self, tx: &mut Transaction<'_, Any>) -> Result<i64> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT last_insert_rowid()",
            Dialect::Mysql => "SELECT CAST(LAST_INSERT_ID() AS SIGNED)",
        };
        let (id,): (i64,) = sqlx::query_as(sql).fetch_one(&mut **tx).await?;
        Ok(id)
    }
}

#[async_trait]
impl FriendStore for SqlStore {
    async fn add_friend(&self, owner: UserId, target: UserId, now: i64) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO friends (owner_id, target_id, kind, created_at, updated_at) \
             VALUES (?, ?, 1, ?, ?)",
        )
        .bind(owner)
        .bind(target)
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(err) if is_unique_violation(&err) => Err(Error::FriendExists),
            Err(err) => Err(err.into()),
        }
    }

    async fn friends(&self, owner: UserId, page: Page) -> Result<Vec<Friend>> {
        let rows: Vec<FriendRow> = sqlx::query_as(
            "SELECT f.id, f.owner_id, f.target_id, f.kind, f.created_at, f.updated_at, \
             u.username, u.avatar FROM friends f JOIN users u ON u.id = f.target_id \
             WHERE f.owner_id = ? AND f.id > ? ORDER BY f.id LIMIT ?",
        )
        .bind(owner)
        .bind(page.after)
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Friend {
                id: r.id,
                owner: r.owner_id,
                target: r.target_id,
                kind: r.kind,
                created_at: r.created_at,
                updated_at: r.updated_at,
                target_name: r.username,
                target_avatar: r.avatar,
            })
            .collect())
    }

    async fn delete_friend(&self, owner: UserId, target: UserId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM friends WHERE owner_id = ? AND target_id = ?")
            .bind(owner)
            .bind(target)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn create_group(&self, group: NewGroup) -> Result<Group> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO chat_groups (name, owner_id, description, size, member_count, \
             history_visibility, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
        )
        .bind(&group.name)
        .bind(group.owner)
        .bind(&group.description)
        .bind(group.size)
        .bind(group.history.as_str())
        .bind(group.now)
        .bind(group.now)
        .execute(&mut *tx)
        .await?;
        let id = self.last_insert_id(&mut tx).await?;
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, role, joined_at, join_point) \
             VALUES (?, ?, ?, ?, 0)",
        )
        .bind(id)
        .bind(group.owner)
        .bind(Role::Owner.number())
        .bind(group.now)
        .execute(&mut *tx)
        .await?;
        let row: GroupRow = sqlx::query_as(&format!(
            "SELECT {GROUP_COLUMNS} FROM chat_groups g WHERE g.id = ?"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn group(&self, id: GroupId) -> Result<Option<Group>> {
        let row: Option<GroupRow> = sqlx::query_as(&format!(
            "SELECT {GROUP_COLUMNS} FROM chat_groups g WHERE g.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.map(Group::try_from).transpose()
    }

    async fn groups_owned(&self, user: UserId, page: Page) -> Result<Vec<Group>> {
        let rows: Vec<GroupRow> = sqlx::query_as(&format!(
            "SELECT {GROUP_COLUMNS} FROM chat_groups g WHERE g.owner_id = ? AND g.id > ? \
             ORDER BY g.id LIMIT ?"
        ))
        .bind(user)
        .bind(page.after)
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await?;
        groups(rows)
    }

    async fn groups_joined(&self, user: UserId, page: Page) -> Result<Vec<Group>> {
        let rows: Vec<GroupRow> = sqlx::query_as(&format!(
            "SELECT {GROUP_COLUMNS} FROM chat_groups g JOIN group_members m ON m.group_id = g.id \
             WHERE m.user_id = ? AND g.id > ? ORDER BY g.id LIMIT ?"
        ))
        .bind(user)
        .bind(page.after)
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await?;
        groups(rows)
    }

    async fn members(&self, group: GroupId) -> Result<Vec<Member>> {
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT m.user_id, u.username, u.avatar, m.role, m.joined_at FROM group_members m \
             JOIN users u ON u.id = m.user_id WHERE m.group_id = ? \
             ORDER BY m.joined_at, m.user_id",
        )
        .bind(group)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Member {
                    user: r.user_id,
                    username: r.username,
                    avatar: r.avatar,
                    role: Role::from_number(r.role)
                        .with_context(|| format!("stored role {} is unknown", r.role))?,
                    joined_at: r.joined_at,
                })
            })
            .collect()
    }

    async fn member_page(&self, group: GroupId, page: Page) -> Result<Vec<Member>> {
        self.group_member_page(group, page).await
    }

    async fn role_of(&self, group: GroupId, user: UserId) -> Result<Option<Role>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT role FROM group_members WHERE group_id = ? AND user_id = ?")
                .bind(group)
                .bind(user)
                .fetch_optional(&self.read)
                .await?;
        match row {
            None => Ok(None),
            Some((n,)) => Ok(Some(
                Role::from_number(n).with_context(|| format!("stored role {n} is unknown"))?,
            )),
        }
    }

    async fn add_member(
        &self,
        group: GroupId,
        user: UserId,
        join_point: i64,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let reserved = sqlx::query(
            "UPDATE chat_groups SET member_count = member_count + 1, updated_at = ? \
             WHERE id = ? AND member_count < size",
        )
        .bind(now)
        .bind(group)
        .execute(&mut *tx)
        .await?;
        if reserved.rows_affected() != 1 {
            let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM chat_groups WHERE id = ?")
                .bind(group)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match exists {
                Some(_) => Error::GroupFull,
                None => Error::NoGroup("no such group"),
            });
        }
        // Inserted only if no ban exists. On MySQL the ban is read with a locking read
        // (INSERT ... SELECT), so it sees a ban committed while this waited for the row.
        let from = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Mysql => " FROM DUAL",
        };
        let inserted = sqlx::query(&format!(
            "INSERT INTO group_members (group_id, user_id, role, joined_at, join_point) \
             SELECT ?, ?, ?, ?, ?{from} WHERE NOT EXISTS \
             (SELECT 1 FROM group_bans WHERE group_id = ? AND user_id = ?)"
        ))
        .bind(group)
        .bind(user)
        .bind(Role::Member.number())
        .bind(now)
        .bind(join_point)
        .bind(group)
        .bind(user)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => {}
            // Dropping the transaction rolls the reserved seat back.
            Ok(_) => return Err(Error::Banned),
            Err(err) if is_unique_violation(&err) => return Err(Error::AlreadyMember),
            Err(err) => return Err(err.into()),
        }
        tx.commit().await?;
        Ok(())
    }

    async fn join_point(&self, group: GroupId, user: UserId) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT join_point FROM group_members WHERE group_id = ? AND user_id = ?",
        )
        .bind(group)
        .bind(user)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(point,)| point))
    }

    async fn set_history(
        &self,
        group: GroupId,
        history: HistoryVisibility,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE chat_groups SET history_visibility = ?, updated_at = ? WHERE id = ?",
        )
        .bind(history.as_str())
        .bind(now)
        .bind(group)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_member(&self, group: GroupId, user: UserId, now: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let removed = sqlx::query(
            "DELETE FROM group_members WHERE group_id = ? AND user_id = ? AND role <> ?",
        )
        .bind(group)
        .bind(user)
        .bind(Role::Owner.number())
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE chat_groups SET member_count = member_count - 1, updated_at = ? WHERE id = ?",
        )
        .bind(now)
        .bind(group)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ban_member(&self, group: GroupId, user: UserId, by: UserId, now: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        // The group's row first, as a join takes it: a join and a ban then run one after
        // the other instead of deadlocking on each other's rows.
        let locked = sqlx::query("UPDATE chat_groups SET updated_at = ? WHERE id = ?")
            .bind(now)
            .bind(group)
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() != 1 {
            return Ok(false);
        }
        let removed = sqlx::query(
            "DELETE FROM group_members WHERE group_id = ? AND user_id = ? AND role <> ?",
        )
        .bind(group)
        .bind(user)
        .bind(Role::Owner.number())
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE chat_groups SET member_count = member_count - 1 WHERE id = ?")
            .bind(group)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM group_bans WHERE group_id = ? AND user_id = ?")
            .bind(group)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO group_bans (group_id, user_id, banned_by, banned_at) VALUES (?, ?, ?, ?)",
        )
        .bind(group)
        .bind(user)
        .bind(by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn is_banned(&self, group: GroupId, user: UserId) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT user_id FROM group_bans WHERE group_id = ? AND user_id = ?")
                .bind(group)
                .bind(user)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.is_some())
    }

    async fn bans(&self, group: GroupId) -> Result<Vec<Ban>> {
        let rows: Vec<BanRow> = sqlx::query_as(
            "SELECT b.user_id, u.username, u.avatar, b.banned_by, b.banned_at FROM group_bans b \
             JOIN users u ON u.id = b.user_id WHERE b.group_id = ? \
             ORDER BY b.banned_at, b.user_id",
        )
        .bind(group)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Ban {
                user: r.user_id,
                username: r.username,
                avatar: r.avatar,
                banned_by: r.banned_by,
                banned_at: r.banned_at,
            })
            .collect())
    }

    async fn ban_page(&self, group: GroupId, page: Page) -> Result<Vec<Ban>> {
        self.group_ban_page(group, page).await
    }

    async fn unban(&self, group: GroupId, user: UserId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM group_bans WHERE group_id = ? AND user_id = ?")
            .bind(group)
            .bind(user)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_role(&self, group: GroupId, user: UserId, role: Role, now: i64) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let changed = sqlx::query(
            "UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ? AND role <> ?",
        )
        .bind(role.number())
        .bind(group)
        .bind(user)
        .bind(Role::Owner.number())
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE chat_groups SET updated_at = ? WHERE id = ?")
            .bind(now)
            .bind(group)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn hand_off(
        &self,
        group: GroupId,
        owner: UserId,
        successor: UserId,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let moved = sqlx::query(
            "UPDATE chat_groups SET owner_id = ?, member_count = member_count - 1, updated_at = ? \
             WHERE id = ? AND owner_id = ?",
        )
        .bind(successor)
        .bind(now)
        .bind(group)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Ok(false);
        }
        let promoted = sqlx::query(
            "UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ? AND user_id <> ?",
        )
        .bind(Role::Owner.number())
        .bind(group)
        .bind(successor)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if promoted.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM group_members WHERE group_id = ? AND user_id = ?")
            .bind(group)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn dissolve_if_alone(&self, group: GroupId, owner: UserId) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let gone = sqlx::query(
            "DELETE FROM chat_groups WHERE id = ? AND owner_id = ? AND member_count <= 1",
        )
        .bind(group)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if gone.rows_affected() != 1 {
            return Ok(false);
        }
        for table in [
            "group_members",
            "group_bans",
            "group_mutes",
            "group_mute_all",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE group_id = ?"))
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn dissolve(&self, group: GroupId) -> Result<()> {
        let mut tx = self.write.begin().await?;
        for table in [
            "group_members",
            "group_bans",
            "group_mutes",
            "group_mute_all",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE group_id = ?"))
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM chat_groups WHERE id = ?")
            .bind(group)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
