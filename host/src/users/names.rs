//! When two user names are the same name to a reader: the key that names which only look
//! alike share.
//!
//! `аdmin` with a Cyrillic `а`, `ａｄｍｉｎ` in full-width letters and `ADMIN` are all
//! `admin` on screen. Each name gets a key: its NFKC form (which folds full-width and other
//! compatibility characters), in lower case, reduced to its confusables skeleton (Unicode
//! Technical Standard #39, which maps each character to the prototype it can be mistaken
//! for: Cyrillic `а` to Latin `a`, `0` to `o`, `m` to `rn`), lower-cased again. The store
//! keeps the key's digest in a column with a unique index, so a name whose key is taken
//! is refused when it is inserted, in the same statement, with no race.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// The key of `name` among look-alikes, as stored: the SHA-256 of its skeleton, in hex
/// (a digest keeps the column one width, whatever a name expands to).
pub fn look_alike_key(name: &str) -> String {
    hex::encode(Sha256::digest(skeleton(name).as_bytes()))
}

/// The skeleton of `name`: NFKC, lower case, confusables prototypes, lower case.
fn skeleton(name: &str) -> String {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    unicode_security::skeleton(&folded)
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_only_look_alike_share_a_key() {
        let admin = look_alike_key("admin");
        for twin in [
            "аdmin",      // Cyrillic а
            "ａｄｍｉｎ", // full-width
            "ADMIN",
            "Admin",
            "αdmin", // Greek α
            "adrnin",
            "\u{0430}\u{0501}min", // Cyrillic а and ԁ
        ] {
            assert_eq!(look_alike_key(twin), admin, "{twin}");
        }
        assert_eq!(look_alike_key("b0b"), look_alike_key("bob"));
        assert_eq!(look_alike_key("a1ice"), look_alike_key("alice"));
    }

    #[test]
    fn different_names_keep_different_keys() {
        for (a, b) in [
            ("admin", "admins"),
            ("alice", "bob"),
            ("alice_1", "alice_2"),
            ("李小龙", "李小虎"),
        ] {
            assert_ne!(look_alike_key(a), look_alike_key(b), "{a} {b}");
        }
        // The characters of generated suffixes never stand for each other.
        let hex = "0123456789abcdef";
        for (i, a) in hex.chars().enumerate() {
            for b in hex.chars().skip(i + 1) {
                assert_ne!(
                    skeleton(&a.to_string()),
                    skeleton(&b.to_string()),
                    "{a} {b}"
                );
            }
        }
    }

    /// Accounts stored before the look-alike key existed get it when the store starts.
    #[tokio::test]
    async fn older_accounts_get_their_key_at_start() {
        use crate::config::DatabaseConfig;
        use crate::error::{Conflict, Error};
        use crate::store::{SqlStore, Stores};
        use crate::users::NewUser;

        let dir = tempfile::tempdir().expect("tempdir");
        let sql = SqlStore::connect(&DatabaseConfig::default(), dir.path())
            .await
            .expect("SQLite");
        sql.migrate().await.expect("migrate");
        let new_user = |name: &str| NewUser {
            username: name.to_owned(),
            password_digest: "x".to_owned(),
            status: "active".to_owned(),
            now: 0,
        };
        let stores = Stores::from_sql(sql.clone());
        for name in ["admin", "bob"] {
            stores
                .users
                .create_user(new_user(name), None)
                .await
                .expect("user");
        }
        sqlx::query("UPDATE users SET name_skeleton = NULL")
            .execute(sql.pool())
            .await
            .expect("as before the key");
        sql.migrate().await.expect("start again");
        let refused = stores.users.create_user(new_user("аdmin"), None).await;
        assert!(
            matches!(refused, Err(Error::Conflict(Conflict::LookAlike))),
            "{refused:?}"
        );
    }

    #[test]
    fn keys_have_one_width() {
        assert_eq!(look_alike_key("a").len(), 64);
        assert_eq!(look_alike_key(&"\u{FDFA}".repeat(32)).len(), 64);
    }
}
