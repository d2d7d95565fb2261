//! Sealed private fields (`v1.<key id>.<base64(iv | ciphertext | tag)>`): what `seal`
//! writes opens to the same text; a value authenticated as the format describes opens
//! exactly when its key id is one `seal` would write, its padding is valid and its text
//! is UTF-8, to the text an independent decryption finds; and a value opens only in the
//! one spelling `seal` writes.

use std::path::Path;
use std::sync::OnceLock;

use aes::cipher::{BlockDecrypt, KeyInit};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::SecurityConfig;
use crate::crypto::FieldCipher;

/// The id of the active data key.
const ACTIVE_ID: u32 = 2;
/// The id of a retired data key that still opens old values.
const RETIRED_ID: u32 = 1;
const ACTIVE_KEY: [u8; 32] = [0x42; 32];
const RETIRED_KEY: [u8; 32] = [0x17; 32];
const INDEX_KEY: [u8; 32] = [0x99; 32];

/// The first byte picks the contract: any text opened, any text sealed, or an
/// authenticated value with a chosen key id, IV and ciphertext (`<key id>.<iv | ciphertext>`).
pub fn sealed_field(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => opens_only_as_sealed(rest),
        1 => seals_and_opens(rest),
        _ => opens_when_authenticated(rest),
    }
}

fn cipher() -> &'static FieldCipher {
    static CIPHER: OnceLock<FieldCipher> = OnceLock::new();
    CIPHER.get_or_init(|| {
        let config = SecurityConfig {
            data_key: B64.encode(ACTIVE_KEY),
            data_key_id: ACTIVE_ID,
            retired_data_keys: vec![format!("{RETIRED_ID}:{}", B64.encode(RETIRED_KEY))],
            index_key: B64.encode(INDEX_KEY),
        };
        // Every key is configured, so nothing is generated into the folder.
        FieldCipher::load(&config, Path::new("/nonexistent")).expect("the fixed keys load")
    })
}

fn opens_only_as_sealed(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plain) = cipher().open(text) {
        let kid = text.split('.').nth(1).unwrap_or_default();
        assert!(
            canonical_id(kid).is_some(),
            "{text:?} opens with key id {kid:?}"
        );
        let resealed = cipher().seal(&plain);
        assert_eq!(cipher().open(&resealed).ok(), Some(plain));
    }
}

fn seals_and_opens(data: &[u8]) {
    let plain = String::from_utf8_lossy(data);
    let sealed = cipher().seal(&plain);
    assert!(
        sealed.starts_with("v1.2."),
        "sealed under another key: {sealed}"
    );
    assert!(!plain.is_empty() || sealed.len() > 8, "nothing sealed");
    assert_eq!(cipher().open(&sealed).ok().as_deref(), Some(&*plain));
    let index = cipher().blind_index(&plain);
    assert_eq!(index.len(), 64, "index {index}");
    assert_eq!(index, cipher().blind_index(&plain), "the index changed");
}

fn opens_when_authenticated(data: &[u8]) {
    let Some(dot) = data.iter().position(|b| *b == b'.') else {
        return;
    };
    let Ok(kid_text) = std::str::from_utf8(&data[..dot]) else {
        return;
    };
    let payload = &data[dot + 1..];
    let kid = kid_text.parse::<u32>().unwrap_or(0);
    let master = if kid == RETIRED_ID {
        RETIRED_KEY
    } else {
        ACTIVE_KEY
    };
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&derive(&master, b"confab field authentication v1"))
            .expect("HMAC takes any key");
    mac.update(b"v1");
    mac.update(&kid.to_be_bytes());
    mac.update(payload);
    let mut blob = payload.to_vec();
    blob.extend_from_slice(&mac.finalize().into_bytes());
    let sealed = format!("v1.{kid_text}.{}", B64.encode(&blob));

    let known = matches!(canonical_id(kid_text), Some(RETIRED_ID | ACTIVE_ID));
    let expected = known
        .then(|| decrypt(&derive(&master, b"confab field encryption v1"), payload))
        .flatten();
    assert_eq!(cipher().open(&sealed).ok(), expected, "{sealed}");
}

/// The key id `seal` writes as `text`: decimal digits without a leading zero.
fn canonical_id(text: &str) -> Option<u32> {
    text.parse::<u32>().ok().filter(|id| id.to_string() == text)
}

fn derive(master: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// AES-256-CBC with PKCS#7 padding, block by block, then UTF-8.
fn decrypt(key: &[u8; 32], payload: &[u8]) -> Option<String> {
    const BLOCK: usize = 16;
    if payload.len() < 2 * BLOCK || !payload.len().is_multiple_of(BLOCK) {
        return None;
    }
    let aes = aes::Aes256::new(key.into());
    let mut plain = Vec::with_capacity(payload.len() - BLOCK);
    for pair in payload.windows(2 * BLOCK).step_by(BLOCK) {
        let (previous, block) = pair.split_at(BLOCK);
        let mut block = aes::Block::clone_from_slice(block);
        aes.decrypt_block(&mut block);
        plain.extend(block.iter().zip(previous).map(|(b, p)| b ^ p));
    }
    let pad = usize::from(*plain.last()?);
    if pad == 0
        || pad > BLOCK
        || !plain[plain.len() - pad..]
            .iter()
            .all(|b| usize::from(*b) == pad)
    {
        return None;
    }
    plain.truncate(plain.len() - pad);
    String::from_utf8(plain).ok()
}
