//! Group member and ban lists in SQL, a page at a time.
//!
//! Pages walk a group's rows by user id, the second half of both tables' primary key
//! `(group_id, user_id)`: a page is one index range, and a cursor stays valid whoever joins,
//! leaves or is banned between two pages. The whole lists (`members`, `bans` in
//! `social.rs`) keep their earliest-first order.

use anyhow::Context;
use sqlx::FromRow;

use super::SqlStore;
use crate::error::Result;
use crate::groups::{Ban, GroupId, Member, Role};
use crate::store::Page;

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

impl SqlStore {
    /// See [`crate::store::GroupStore::member_page`].
    pub(super) async fn group_member_page(
        &self,
        group: GroupId,
        page: Page,
    ) -> Result<Vec<Member>> {
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT m.user_id, u.username, u.avatar, m.role, m.joined_at FROM group_members m \
             JOIN users u ON u.id = m.user_id WHERE m.group_id = ? AND m.user_id > ? \
             ORDER BY m.user_id LIMIT ?",
        )
        .bind(group)
        .bind(page.after)
        .bind(i64::from(page.limit))
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

    /// See [`crate::store::GroupStore::ban_page`].
    pub(super) async fn group_ban_page(&self, group: GroupId, page: Page) -> Result<Vec<Ban>> {
        let rows: Vec<BanRow> = sqlx::query_as(
            "SELECT b.user_id, u.username, u.avatar, b.banned_by, b.banned_at FROM group_bans b \
             JOIN users u ON u.id = b.user_id WHERE b.group_id = ? AND b.user_id > ? \
             ORDER BY b.user_id LIMIT ?",
        )
        .bind(group)
        .bind(page.after)
        .bind(i64::from(page.limit))
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
}
