//! JSON Web Tokens: issuing and checking access (aToken) and refresh (rToken) tokens.
//!
//! Both are HS256 with a `typ` claim, so a refresh token never passes as an access token
//! (the seed's hole), and a `ver` claim holding the user's token version, so bumping the
//! version revokes every token of that user. A refresh token also has a `jti` that the store
//! remembers until it is used once (rotation).

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::users::UserId;

const ISSUER: &str = "confab";

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// An aToken: authenticates requests.
    Access,
    /// An rToken: buys a new pair once.
    Refresh,
}

/// The claims of both kinds of token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id as a string, as the seed's clients read it.
    pub user_id: String,
    /// The token kind.
    pub typ: TokenKind,
    /// The user's token version when the token was issued.
    pub ver: i64,
    /// Unique id of a refresh token; absent on access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Issuer, always `confab`.
    pub iss: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expiry, unix seconds.
    pub exp: i64,
}

impl Claims {
    /// The numeric user id, or an error for a token without a usable subject.
    pub fn user(&self) -> Result<UserId> {
        self.user_id
            .parse::<UserId>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or(Error::InvalidToken("the token names no user"))
    }
}

/// A freshly issued refresh token and the facts the store keeps about it.
#[derive(Debug, Clone)]
pub struct IssuedRefresh {
    /// The encoded token.
    pub token: String,
    /// Its unique id.
    pub jti: String,
    /// Its expiry, unix seconds.
    pub expires_at: i64,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_ttl: i64,
    refresh_ttl: i64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from a secret and the two lifetimes in seconds.
    pub fn new(secret: &[u8], access_ttl_secs: u64, refresh_ttl_secs: u64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl: i64::try_from(access_ttl_secs).unwrap_or(i64::MAX / 2),
            refresh_ttl: i64::try_from(refresh_ttl_secs).unwrap_or(i64::MAX / 2),
        }
    }

    /// An access token for `user` at token version `ver`.
    pub fn access(&self, user: UserId, ver: i64) -> Result<String> {
        let now = now();
        self.sign(&Claims {
            user_id: user.to_string(),
            typ: TokenKind::Access,
            ver,
            jti: None,
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.access_ttl,
        })
    }

    /// A refresh token for `user` with a fresh random id.
    pub fn refresh(&self, user: UserId, ver: i64) -> Result<IssuedRefresh> {
        let now = now();
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let jti = hex::encode(id);
        let expires_at = now + self.refresh_ttl;
        let token = self.sign(&Claims {
            user_id: user.to_string(),
            typ: TokenKind::Refresh,
            ver,
            jti: Some(jti.clone()),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: expires_at,
        })?;
        Ok(IssuedRefresh {
            token,
            jti,
            expires_at,
        })
    }

    /// Checks signature, issuer, expiry and kind; the caller still checks the version.
    pub fn verify(&self, token: &str, kind: TokenKind) -> Result<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = 5;
        let data = decode::<Claims>(token, &self.decoding, &validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind;
            match err.kind() {
                ErrorKind::ExpiredSignature => Error::InvalidToken("the token has expired"),
                ErrorKind::InvalidSignature => {
                    Error::InvalidToken("the token's signature is invalid")
                }
                _ => Error::InvalidToken("the token is malformed"),
            }
        })?;
        if data.claims.typ != kind {
            return Err(Error::InvalidToken(match kind {
                TokenKind::Access => "a refresh token cannot be used as an access token",
                TokenKind::Refresh => "an access token cannot be used as a refresh token",
            }));
        }
        if kind == TokenKind::Refresh && data.claims.jti.is_none() {
            return Err(Error::InvalidToken("the refresh token has no id"));
        }
        data.claims.user()?;
        Ok(data.claims)
    }

    fn sign(&self, claims: &Claims) -> Result<String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| Error::Internal(anyhow::Error::new(e).context("signing a token")))
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", 60, 600)
    }

    #[test]
    fn kinds_do_not_mix() {
        let k = keys();
        let access = k.access(7, 0).expect("access");
        let refresh = k.refresh(7, 0).expect("refresh");
        assert_eq!(
            k.verify(&access, TokenKind::Access)
                .expect("ok")
                .user()
                .expect("uid"),
            7
        );
        assert!(k.verify(&refresh.token, TokenKind::Access).is_err());
        assert!(k.verify(&access, TokenKind::Refresh).is_err());
        let claims = k
            .verify(&refresh.token, TokenKind::Refresh)
            .expect("refresh ok");
        assert_eq!(claims.jti.as_deref(), Some(refresh.jti.as_str()));
    }

    #[test]
    fn other_secrets_and_garbage_fail() {
        let other = TokenKeys::new(b"another secret entirely, 32 bytes", 60, 600);
        let token = other.access(1, 0).expect("sign");
        assert!(matches!(
            keys().verify(&token, TokenKind::Access),
            Err(Error::InvalidToken(_))
        ));
        assert!(keys().verify("not.a.token", TokenKind::Access).is_err());
        assert!(keys().verify("", TokenKind::Access).is_err());
    }
}
