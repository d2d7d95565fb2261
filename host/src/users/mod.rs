//! Accounts: registration, login and tokens, profiles, deletion and email verification.
//!
//! The service knows no HTTP and no SQL: it takes plain values, returns domain types and
//! [`crate::Error`], and reaches storage through the traits of `store`.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde::Serialize;
use subtle::ConstantTimeEq;
use tokio::sync::{OnceCell, Semaphore};

use crate::bus::{Bus, Event};
use crate::config::{Config, RegistrationMode};
use crate::crypto::FieldCipher;
use crate::error::{Conflict, Error, Result};
use crate::groups::GroupService;
use crate::mail::Mailer;
use crate::store::{PendingCode, Stores};
use crate::tokens::{self, TokenKeys, TokenKind};
use crate::uploads::{ReceivedFile, Uploads};

pub mod moderation;
pub mod names;
pub mod rules;

/// A user's numeric id.
pub type UserId = i64;

/// The status every new account gets (the seed's).
const ACTIVE: &str = "active";
/// Length of an invite key (the seed's `key`).
pub const INVITE_KEY_LEN: usize = 16;

/// A stored account. Email and phone are sealed; see `crypto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Name as registered.
    pub username: String,
    /// bcrypt digest.
    pub password_digest: String,
    /// Sealed email, if verified.
    pub email_sealed: Option<String>,
    /// Blind index of the email.
    pub email_index: Option<String>,
    /// Sealed phone.
    pub phone_sealed: Option<String>,
    /// Avatar URL, empty for none.
    pub avatar: String,
    /// Account status (`active`).
    pub status: String,
    /// Incremented to revoke every token.
    pub token_version: i64,
    /// Creation time, unix milliseconds.
    pub created_at: i64,
    /// Last change, unix milliseconds.
    pub updated_at: i64,
}

/// What registration stores.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Name.
    pub username: String,
    /// bcrypt digest.
    pub password_digest: String,
    /// Status.
    pub status: String,
    /// Now, unix milliseconds.
    pub now: i64,
}

/// A profile update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    /// New sealed email and its blind index.
    pub email: Option<(String, String)>,
    /// New sealed phone.
    pub phone: Option<String>,
    /// New avatar URL.
    pub avatar: Option<String>,
    /// Now, unix milliseconds.
    pub now: i64,
}

/// A user as clients see it, in the seed's field names. Email and phone are filled only
/// for the user themself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Profile {
    /// Id.
    #[serde(rename = "ID")]
    pub id: UserId,
    /// RFC 3339 creation time.
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    /// RFC 3339 time of the last change.
    #[serde(rename = "UpdatedAt")]
    pub updated_at: String,
    /// Always null: deleted users are gone.
    #[serde(rename = "DeletedAt")]
    pub deleted_at: Option<String>,
    /// Name.
    #[serde(rename = "UserName")]
    pub username: String,
    /// Email, or "" when unset or not the caller's.
    #[serde(rename = "Email")]
    pub email: String,
    /// Avatar URL.
    #[serde(rename = "Avatar")]
    pub avatar: String,
    /// Phone, or "" when unset or not the caller's.
    #[serde(rename = "Phone")]
    pub phone: String,
    /// Status.
    #[serde(rename = "Status")]
    pub status: String,
}

/// A fresh pair of tokens, in the seed's field names.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Access token.
    #[serde(rename = "aToken")]
    pub access: String,
    /// Refresh token.
    #[serde(rename = "rToken")]
    pub refresh: String,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Their id.
    pub id: UserId,
}

/// What `PUT /user/update` may change.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    /// New email (needs `code`).
    pub email: Option<String>,
    /// Verification code for `email`.
    pub code: Option<String>,
    /// New phone.
    pub phone: Option<String>,
    /// New avatar image.
    pub avatar: Option<ReceivedFile>,
}

/// Formats unix milliseconds as RFC 3339 UTC.
pub fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Unix milliseconds now.
pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Settings the service needs from the configuration.
#[derive(Debug, Clone)]
struct Policy {
    bcrypt_cost: u32,
    registration: RegistrationMode,
    code_ttl_secs: u64,
    max_attempts: u32,
    resend_interval_secs: u64,
}

/// The account service.
#[derive(Clone)]
pub struct UserService {
    stores: Stores,
    keys: TokenKeys,
    cipher: Arc<FieldCipher>,
    mailer: Arc<Mailer>,
    uploads: Uploads,
    groups: GroupService,
    bus: Arc<dyn Bus>,
    policy: Policy,
    /// A digest to check against when the user does not exist, so a login costs the same
    /// time whether or not the name is registered.
    decoy: Arc<OnceCell<String>>,
    /// Permits for bcrypt work: a flood of logins queues here instead of taking every
    /// blocking thread and core from the rest of the server.
    bcrypt: Arc<Semaphore>,
}

impl std::fmt::Debug for UserService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserService").finish_non_exhaustive()
    }
}

/// What the account service works with besides storage.
#[derive(Clone)]
pub struct AccountTools {
    /// Signs and checks tokens.
    pub keys: TokenKeys,
    /// Seals email and phone.
    pub cipher: Arc<FieldCipher>,
    /// Sends verification codes.
    pub mailer: Arc<Mailer>,
    /// Places avatars.
    pub uploads: Uploads,
    /// Hands off a deleted user's groups.
    pub groups: GroupService,
    /// Closes a signed-out user's sockets everywhere.
    pub bus: Arc<dyn Bus>,
}

impl UserService {
    /// Builds the service.
    pub fn new(config: &Config, stores: Stores, tools: AccountTools) -> Self {
        Self {
            stores,
            keys: tools.keys,
            cipher: tools.cipher,
            mailer: tools.mailer,
            uploads: tools.uploads,
            groups: tools.groups,
            bus: tools.bus,
            policy: Policy {
                bcrypt_cost: config.auth.bcrypt_cost,
                registration: config.registration.mode,
                code_ttl_secs: config.email.code_ttl_secs,
                max_attempts: config.email.max_attempts,
                resend_interval_secs: config.email.resend_interval_secs,
            },
            decoy: Arc::new(OnceCell::new()),
            bcrypt: Arc::new(Semaphore::new(bcrypt_permits(
                config.throttle.bcrypt_concurrency,
            ))),
        }
    }

    /// Registers an account. In invite-only mode `key` must be an unused invite key.
    pub async fn register(&self, username: &str, password: &str, key: Option<&str>) -> Result<()> {
        rules::username(username)?;
        rules::password(password)?;
        let invite = match self.policy.registration {
            RegistrationMode::Open => None,
            RegistrationMode::InviteOnly => {
                let key = key
                    .filter(|k| !k.is_empty())
                    .ok_or(Error::InvalidInvite("registration needs an invite key"))?;
                if key.chars().count() != INVITE_KEY_LEN {
                    return Err(Error::InvalidInvite("an invite key has 16 characters"));
                }
                // Checked before the expensive hash; consumed atomically on insert.
                if !self.stores.invites.invite_usable(key).await? {
                    return Err(Error::InvalidInvite(
                        "the invite key is unknown or already used",
                    ));
                }
                Some(key)
            }
        };
        if self.stores.users.user_by_name(username).await?.is_some() {
            return Err(Error::Conflict(Conflict::Username));
        }
        let digest = hash_password(&self.bcrypt, password, self.policy.bcrypt_cost).await?;
        self.stores
            .users
            .create_user(
                NewUser {
                    username: username.to_owned(),
                    password_digest: digest,
                    status: ACTIVE.to_owned(),
                    now: now_millis(),
                },
                invite,
            )
            .await?;
        Ok(())
    }

    /// Checks a name and password and returns a new token pair.
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenPair> {
        if username.is_empty() {
            return Err(Error::invalid("username is required"));
        }
        if password.is_empty() {
            return Err(Error::invalid("password is required"));
        }
        let user = self.check_password(username, password).await?;
        moderation::refuse_banned(&user)?;
        self.issue(&user).await
    }

    /// Trades a refresh token for a new pair; the old refresh token stops working.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        let (user, claims) = self.verified(refresh_token, TokenKind::Refresh).await?;
        let jti = claims.jti.as_deref().unwrap_or_default();
        if !self.stores.tokens.consume_refresh(jti, user.id).await? {
            return Err(Error::InvalidToken(
                "the refresh token was already used or revoked",
            ));
        }
        self.issue(&user).await
    }

    /// Revokes every token of the caller.
    pub async fn logout(&self, caller: Caller) -> Result<()> {
        self.stores.users.bump_token_version(caller.id).await?;
        self.stores.tokens.revoke_all_refresh(caller.id).await?;
        self.close_sockets(caller.id).await;
        Ok(())
    }

    /// Closes every socket of `user` on every node (their tokens no longer hold).
    async fn close_sockets(&self, user: UserId) {
        if let Err(err) = self.bus.publish(Event::Revoked { user }).await {
            tracing::warn!(error = %err, user, "closing a signed-out user's sockets failed");
        }
    }

    /// The caller behind an access token, checked against the stored token version.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        let (user, _) = self.verified(token, TokenKind::Access).await?;
        Ok(Caller { id: user.id })
    }

    /// The user of an access token and when it expires (unix seconds): sockets close then
    /// unless the client renews them with a fresh token.
    pub async fn authenticate_until(&self, token: &str) -> Result<(Caller, i64)> {
        let (user, claims) = self.verified(token, TokenKind::Access).await?;
        Ok((Caller { id: user.id }, claims.exp))
    }

    /// A token's claims and its user, who must still exist at the token's version.
    async fn verified(&self, token: &str, kind: TokenKind) -> Result<(User, tokens::Claims)> {
        let claims = self.keys.verify(token, kind)?;
        let user = self
            .stores
            .users
            .user_by_id(claims.user()?)
            .await?
            .ok_or(Error::InvalidToken("the token's user no longer exists"))?;
        moderation::refuse_banned(&user)?;
        if user.token_version != claims.ver {
            return Err(Error::InvalidToken("the token has been revoked"));
        }
        Ok((user, claims))
    }

    /// The caller's own profile, with email and phone.
    pub async fn me(&self, caller: Caller) -> Result<Profile> {
        let user = self.existing(caller.id).await?;
        self.profile(&user, true)
    }

    /// A user's public profile, by id or by name.
    pub async fn find(&self, caller: Caller, info: &str) -> Result<Profile> {
        let info = info.trim();
        if info.is_empty() {
            return Err(Error::invalid("info is required: a user id or a username"));
        }
        let by_id = match info.parse::<UserId>() {
            Ok(id) => self.stores.users.user_by_id(id).await?,
            Err(_) => None,
        };
        let user = match by_id {
            Some(user) => user,
            None => self
                .stores
                .users
                .user_by_name(info)
                .await?
                .ok_or(Error::UserNotFound)?,
        };
        self.profile(&user, user.id == caller.id)
    }

    /// Deletes the caller's account after checking their name and password again.
    pub async fn delete(&self, caller: Caller, username: &str, password: &str) -> Result<()> {
        if username.is_empty() || password.is_empty() {
            return Err(Error::invalid("username and password are required"));
        }
        let me = self.existing(caller.id).await?;
        if me.username.to_lowercase() != username.to_lowercase() {
            return Err(Error::Forbidden("you can delete only your own account"));
        }
        self.check_password(username, password).await?;
        // Groups first, so each owned group passes to a successor by the group policy.
        self.groups.leave_all(caller.id).await?;
        if !self.stores.users.delete_user(caller.id).await? {
            return Err(Error::UserNotFound);
        }
        self.close_sockets(caller.id).await;
        Ok(())
    }

    /// Mails a 6-digit code to `email` for the caller, unless one was sent too recently.
    ///
    /// The answer never tells whether the address belongs to another account. If it does,
    /// a code is stored all the same but never mailed, and its digest is of a secret no one
    /// learns, so no code matches it; the address's owner is mailed a notice instead. Both
    /// paths store a code and send one mail, so the resend throttles and every later answer
    /// are alike.
    pub async fn send_email_code(&self, caller: Caller, email: &str) -> Result<()> {
        let normalized = rules::email(email)?;
        let index = self.cipher.blind_index(&normalized);
        let me = self.existing(caller.id).await?;
        let taken = self
            .owner_of_email(&index)
            .await?
            .is_some_and(|owner| owner != me.id);
        let now = tokens::now();
        let interval = i64::try_from(self.policy.resend_interval_secs).unwrap_or(i64::MAX);
        if let Some(sent) = self.stores.codes.last_sent_to(&index, me.id).await? {
            if sent > now - interval {
                return Err(Error::RateLimited {
                    retry_after: u64::try_from(sent + interval - now).unwrap_or(1).max(1),
                });
            }
        }
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let code_digest = if taken {
            let unguessable = hex::encode(rand::rngs::OsRng.gen::<[u8; 32]>());
            self.code_digest(me.id, &unguessable)
        } else {
            self.code_digest(me.id, &code)
        };
        let pending = PendingCode {
            user: me.id,
            email_index: index,
            code_digest,
            expires_at: now + i64::try_from(self.policy.code_ttl_secs).unwrap_or(i64::MAX / 2),
            attempts: 0,
            sent_at: now,
        };
        if !self.stores.codes.put_code(&pending, now - interval).await? {
            let retry_after = match self.stores.codes.code_for(me.id).await? {
                Some(old) => u64::try_from(old.sent_at + interval - now).unwrap_or(1),
                None => 1,
            };
            return Err(Error::RateLimited {
                retry_after: retry_after.max(1),
            });
        }
        let sent = if taken {
            self.mailer.send_address_notice(&normalized).await
        } else {
            self.mailer
                .send_code(&normalized, &code, self.policy.code_ttl_secs)
                .await
        };
        if let Err(err) = sent {
            // A code that never arrived must not block the next try.
            self.stores.codes.delete_code(me.id).await?;
            return Err(Error::Internal(err));
        }
        Ok(())
    }

    /// Applies a profile update; returns the new avatar URL when one was uploaded.
    pub async fn update(&self, caller: Caller, update: ProfileUpdate) -> Result<Option<String>> {
        let me = self.existing(caller.id).await?;
        // Everything that can be refused is checked before the code is used up and before
        // a file is placed, so a refusal costs neither.
        let email =
            match (update.email.as_deref(), update.code.as_deref()) {
                (None, None) => None,
                (Some(_), None) | (Some(_), Some("")) => return Err(Error::invalid(
                    "verification_code is required with email (request one with /user/emailCheck)",
                )),
                (None, Some(_)) => {
                    return Err(Error::invalid("email is required with verification_code"))
                }
                (Some(email), Some(code)) => Some((rules::email(email)?, code.trim())),
            };
        let phone = match update.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(phone) => Some(rules::phone(phone)?),
            None => None,
        };
        if let Some(file) = &update.avatar {
            self.uploads.check_avatar(file)?;
        }
        if email.is_none() && phone.is_none() && update.avatar.is_none() {
            return Err(Error::invalid(
                "nothing to update: send email with verification_code, phone or avatar",
            ));
        }
        let mut change = ProfileChange::default();
        if let Some((normalized, code)) = email {
            let index = self.cipher.blind_index(&normalized);
            self.check_code(me.id, &index, code).await?;
            change.email = Some((self.cipher.seal(&normalized), index));
        }
        change.phone = phone.map(|p| self.cipher.seal(&p));
        let avatar_url = match update.avatar {
            Some(file) => Some(self.uploads.place_avatar(file).await?),
            None => None,
        };
        change.avatar = avatar_url.clone();
        change.now = now_millis();
        if let Err(err) = self.stores.users.update_profile(me.id, change).await {
            // The new avatar file is shown by no one.
            if let Some(url) = &avatar_url {
                self.uploads.discard_avatar(url).await;
            }
            return Err(err);
        }
        if avatar_url.is_some() {
            // Avatar files get fresh names and only their account shows them, so the
            // replaced one is shown by no one any more.
            self.uploads.discard_avatar(&me.avatar).await;
        }
        Ok(avatar_url)
    }

    /// Creates `count` invite keys.
    pub async fn issue_invites(&self, count: usize) -> Result<Vec<String>> {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            let key: String = (0..INVITE_KEY_LEN)
                .map(|_| ALPHABET[rand::rngs::OsRng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            self.stores
                .invites
                .create_invite(&key, now_millis())
                .await?;
            keys.push(key);
        }
        Ok(keys)
    }

    async fn check_code(&self, user: UserId, index: &str, code: &str) -> Result<()> {
        let Some(pending) = self.stores.codes.code_for(user).await? else {
            return Err(Error::VerificationFailed(
                "no verification code was sent to this address, or it was already used",
            ));
        };
        if pending.email_index != index {
            return Err(Error::VerificationFailed(
                "the verification code was sent to a different address",
            ));
        }
        // A void code (expired, or too many wrong tries) stays stored until a new one
        // replaces it: its send time is what holds the resend throttle.
        if pending.expires_at < tokens::now() {
            return Err(Error::VerificationFailed(
                "the verification code has expired",
            ));
        }
        if pending.attempts >= self.policy.max_attempts {
            return Err(Error::TooManyAttempts);
        }
        let given = self.code_digest(user, code);
        if !bool::from(given.as_bytes().ct_eq(pending.code_digest.as_bytes())) {
            let attempts = self.stores.codes.record_wrong_attempt(user).await?;
            if attempts >= self.policy.max_attempts {
                return Err(Error::TooManyAttempts);
            }
            return Err(Error::VerificationFailed("the verification code is wrong"));
        }
        // Deleting the row is the one atomic step that makes the code single-use.
        if !self.stores.codes.take_code(user, &given).await? {
            return Err(Error::VerificationFailed(
                "the verification code was already used",
            ));
        }
        Ok(())
    }

    fn code_digest(&self, user: UserId, code: &str) -> String {
        self.cipher.digest("email-code", &format!("{user}:{code}"))
    }

    async fn owner_of_email(&self, index: &str) -> Result<Option<UserId>> {
        self.stores.users.user_by_email_index(index).await
    }

    async fn existing(&self, id: UserId) -> Result<User> {
        self.stores
            .users
            .user_by_id(id)
            .await?
            .ok_or(Error::InvalidToken("the token's user no longer exists"))
    }

    async fn check_password(&self, username: &str, password: &str) -> Result<User> {
        let user = self.stores.users.user_by_name(username).await?;
        let digest = match &user {
            Some(user) => user.password_digest.clone(),
            None => self.decoy_digest().await?,
        };
        let matches = verify_password(&self.bcrypt, password, digest).await?;
        match user {
            Some(user) if matches => Ok(user),
            _ => Err(Error::BadCredentials),
        }
    }

    async fn decoy_digest(&self) -> Result<String> {
        let cost = self.policy.bcrypt_cost;
        self.decoy
            .get_or_try_init(|| hash_password(&self.bcrypt, "decoy password for timing", cost))
            .await
            .cloned()
    }

    async fn issue(&self, user: &User) -> Result<TokenPair> {
        let access = self.keys.access(user.id, user.token_version)?;
        let refresh = self.keys.refresh(user.id, user.token_version)?;
        self.stores
            .tokens
            .save_refresh(&refresh.jti, user.id, refresh.expires_at)
            .await?;
        Ok(TokenPair {
            access,
            refresh: refresh.token,
        })
    }

    fn profile(&self, user: &User, own: bool) -> Result<Profile> {
        let open = |sealed: &Option<String>| -> Result<String> {
            match sealed {
                Some(value) if own => self.cipher.open(value).map_err(Error::Internal),
                _ => Ok(String::new()),
            }
        };
        Ok(Profile {
            id: user.id,
            created_at: rfc3339(user.created_at),
            updated_at: rfc3339(user.updated_at),
            deleted_at: None,
            username: user.username.clone(),
            email: open(&user.email_sealed)?,
            avatar: user.avatar.clone(),
            phone: open(&user.phone_sealed)?,
            status: user.status.clone(),
        })
    }
}

/// How many bcrypt computations may run at once: `configured`, or one per core for 0.
fn bcrypt_permits(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Runs `work` on the blocking pool once a bcrypt permit is free, so hashing never stalls
/// the async workers and at most the permitted number of hashes run at once. The permit
/// goes with the work: a request given up mid-hash still holds it until the hash ends.
async fn bcrypt_work<T: Send + 'static>(
    permits: &Arc<Semaphore>,
    what: &'static str,
    work: impl FnOnce() -> bcrypt::BcryptResult<T> + Send + 'static,
) -> Result<T> {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| Error::Internal(anyhow::Error::new(e).context("the bcrypt permits")))?;
    tokio::task::spawn_blocking(move || {
        let done = work();
        drop(permit);
        done
    })
    .await
    .map_err(|e| Error::Internal(anyhow::Error::new(e).context(what)))?
    .map_err(|e| Error::Internal(anyhow::Error::new(e).context(what)))
}

async fn hash_password(permits: &Arc<Semaphore>, password: &str, cost: u32) -> Result<String> {
    let password = password.to_owned();
    bcrypt_work(permits, "hashing a password", move || {
        bcrypt::hash(password, cost)
    })
    .await
}

async fn verify_password(permits: &Arc<Semaphore>, password: &str, digest: String) -> Result<bool> {
    let password = password.to_owned();
    bcrypt_work(permits, "checking a password", move || {
        bcrypt::verify(password, &digest)
    })
    .await
}
