//! The rules a user name, password, email address and phone number must follow.
//!
//! Each rule returns a plain English reason that reaches the client as the envelope's
//! `error`, so a form can show it as is.

use crate::error::{Error, Result};

/// Shortest and longest user name, in characters.
pub const USERNAME_CHARS: (usize, usize) = (3, 32);
/// Shortest and longest password, in bytes (bcrypt reads at most 72).
pub const PASSWORD_BYTES: (usize, usize) = (8, 72);

/// A user name: 3–32 letters, digits, `_`, `-` or `.`, not all digits (so that `/user/find`
/// can tell a name from an id).
pub fn username(name: &str) -> Result<()> {
    let count = name.chars().count();
    let (min, max) = USERNAME_CHARS;
    if count < min || count > max {
        return Err(Error::invalid(format!(
            "username must be {min} to {max} characters long"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(Error::invalid(format!(
            "username may contain only letters, digits, '_', '-' and '.', not {bad:?}"
        )));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid("username cannot be only digits"));
    }
    Ok(())
}

/// A password: 8–72 bytes, not only white space.
pub fn password(password: &str) -> Result<()> {
    let (min, max) = PASSWORD_BYTES;
    if password.len() < min {
        return Err(Error::invalid(format!(
            "password must be at least {min} characters long"
        )));
    }
    if password.len() > max {
        return Err(Error::invalid(format!(
            "password must be at most {max} bytes long"
        )));
    }
    if password.trim().is_empty() {
        return Err(Error::invalid("password cannot be only white space"));
    }
    Ok(())
}

/// An email address as lettre would send to it, at most 254 characters. Returns the form
/// used for the unique index (trimmed, lower case).
pub fn email(address: &str) -> Result<String> {
    let address = address.trim();
    if address.is_empty() {
        return Err(Error::invalid("email is required"));
    }
    if address.len() > 254 {
        return Err(Error::invalid("email must be at most 254 characters long"));
    }
    let parsed: lettre::Address = address
        .parse()
        .map_err(|_| Error::invalid(format!("{address:?} is not a valid email address")))?;
    if !parsed.domain().contains('.') {
        return Err(Error::invalid(format!(
            "{address:?} is not a valid email address: the domain needs a dot"
        )));
    }
    Ok(address.to_lowercase())
}

/// A phone number: an optional leading `+`, then digits with optional spaces or dashes; 5 to
/// 20 digits. Returns it with the separators removed.
pub fn phone(number: &str) -> Result<String> {
    let number = number.trim();
    let (plus, rest) = match number.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", number),
    };
    if rest.is_empty()
        || !rest
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return Err(Error::invalid(
            "phone may contain only digits, spaces, dashes and a leading '+'",
        ));
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    if !(5..=20).contains(&digits.len()) {
        return Err(Error::invalid("phone must have 5 to 20 digits"));
    }
    Ok(format!("{plus}{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "bob_1", "李小龙abc", "a.b-c", "abc"] {
            assert!(username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "12345",
            "has space",
            "semi;colon",
            "",
            &"x".repeat(33),
        ] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("correct horse").is_ok());
        assert!(password("short").is_err());
        assert!(password("        ").is_err());
        assert!(password(&"x".repeat(73)).is_err());
    }

    #[test]
    fn emails_and_phones() {
        assert_eq!(
            email(" Alice@Example.COM ").expect("ok"),
            "alice@example.com"
        );
        assert!(email("nobody").is_err());
        assert!(email("a@localhost").is_err());
        assert_eq!(phone("+86 138-0013-8000").expect("ok"), "+8613800138000");
        assert!(phone("call me").is_err());
        assert!(phone("123").is_err());
    }
}
