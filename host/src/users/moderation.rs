//! What the operator does to accounts: finds them, bans and unbans them, deletes them.
//!
//! A ban is the account's status, `banned`. It is read with the account wherever a login
//! or a token is checked, so it holds on every node at once: the password check refuses
//! the login with [`Error::AccountBanned`] (only after the password matched, so a ban is
//! news only to who knows the password), and every token, access or refresh, is refused
//! the same way. Banning also revokes every token and closes the user's sockets on every
//! node (`Event::Revoked`, close code 1008), as a sign-out everywhere does. Unbanning
//! restores logins; the tokens revoked by the ban stay revoked.

use serde::Serialize;

use super::{now_millis, rules, User, UserId, UserService, ACTIVE};
use crate::error::{Error, Result};
use crate::store::moderation::UserQuery;
use crate::store::Page;

/// The status of a banned account.
pub const BANNED: &str = "banned";

/// Longest search text, in characters (an email address has at most 254).
const MAX_QUERY_CHARS: usize = 254;

const NO_SUCH_USER: Error = Error::NotFound("no user with this id");

/// An account as the operator sees it: no email or phone, which only their owner reads.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AccountView {
    /// Id.
    #[schema(value_type = i64)]
    pub id: UserId,
    /// Name as registered.
    pub name: String,
    /// `active` or `banned`.
    pub status: String,
    /// Whether the account is banned.
    pub banned: bool,
    /// Whether the account has a verified email address.
    pub has_email: bool,
    /// Avatar URL, "" for none.
    pub avatar: String,
    /// When it was registered, unix milliseconds.
    pub created_at: i64,
    /// When it last changed (profile or status), unix milliseconds.
    pub updated_at: i64,
}

impl From<&User> for AccountView {
    fn from(user: &User) -> Self {
        AccountView {
            id: user.id,
            name: user.username.clone(),
            status: user.status.clone(),
            banned: user.status == BANNED,
            has_email: user.email_index.is_some(),
            avatar: user.avatar.clone(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// Refuses a banned account (at login and at every token check).
pub(super) fn refuse_banned(user: &User) -> Result<()> {
    if user.status == BANNED {
        return Err(Error::AccountBanned);
    }
    Ok(())
}

impl UserService {
    /// A page of the accounts `query` finds: every account when it is empty; the account
    /// with that email address when it holds an `@` (emails are sealed, so only an exact
    /// address is found, through its blind index); otherwise the accounts whose name starts
    /// with it, without regard to case, and the account whose id it is, if it is a number.
    pub async fn find_accounts(&self, query: &str, page: Page) -> Result<Vec<AccountView>> {
        let query = query.trim();
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::invalid(format!(
                "q must be at most {MAX_QUERY_CHARS} characters long"
            )));
        }
        let query = if query.is_empty() {
            UserQuery::All
        } else if query.contains('@') {
            let address = rules::email(query)
                .map_err(|_| Error::invalid(format!("q {query:?} is not an email address")))?;
            UserQuery::EmailIndex(self.cipher.blind_index(&address))
        } else {
            UserQuery::Name {
                prefix: query.to_lowercase(),
                id: query.parse::<UserId>().ok().filter(|id| *id > 0),
            }
        };
        let users = self.stores.moderation.find_users(&query, page).await?;
        Ok(users.iter().map(AccountView::from).collect())
    }

    /// The account with this id.
    pub async fn account(&self, id: UserId) -> Result<AccountView> {
        Ok(AccountView::from(&self.stored(id).await?))
    }

    /// Bans an account: its logins and tokens are refused and its sockets close on every
    /// node. Banning a banned account changes nothing more.
    pub async fn ban(&self, id: UserId) -> Result<AccountView> {
        self.stored(id).await?;
        // The status first: a login that reads the account from now on is refused, and
        // one that read it before gets tokens of the version bumped next.
        if !self
            .stores
            .moderation
            .set_status(id, BANNED, now_millis())
            .await?
        {
            return Err(NO_SUCH_USER);
        }
        self.stores.users.bump_token_version(id).await?;
        self.stores.tokens.revoke_all_refresh(id).await?;
        self.close_sockets(id).await;
        self.account(id).await
    }

    /// Lifts a ban: the user may log in again (the tokens the ban revoked stay revoked).
    pub async fn unban(&self, id: UserId) -> Result<AccountView> {
        self.stored(id).await?;
        if !self
            .stores
            .moderation
            .set_status(id, ACTIVE, now_millis())
            .await?
        {
            return Err(NO_SUCH_USER);
        }
        self.account(id).await
    }

    /// Deletes an account as `/user/delete` does for its owner: the groups it owns pass to
    /// a successor (or are dissolved), then the account goes with its friendships, tokens,
    /// blocks and mutes, and its sockets close on every node. Its messages stay. Returns the
    /// account as it was.
    pub async fn delete_by_operator(&self, id: UserId) -> Result<AccountView> {
        let user = self.stored(id).await?;
        self.groups.leave_all(id).await?;
        if !self.stores.users.delete_user(id).await? {
            return Err(NO_SUCH_USER);
        }
        self.close_sockets(id).await;
        Ok(AccountView::from(&user))
    }

    async fn stored(&self, id: UserId) -> Result<User> {
        self.stores.users.user_by_id(id).await?.ok_or(NO_SUCH_USER)
    }
}
