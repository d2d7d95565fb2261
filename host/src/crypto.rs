//! Private data at rest and the server's secrets.
//!
//! Email and phone are sealed with AES-256-CBC (random IV, PKCS#7) and then authenticated
//! with HMAC-SHA256 over key id, IV and ciphertext (encrypt-then-MAC). A sealed value reads
//! `v1.<key id>.<base64(iv | ciphertext | tag)>`, so old keys can keep opening old values after
//! a rotation. Unique lookups (one account per email) go through a keyed blind index instead
//! of the clear text. Secrets that are not configured are generated once into
//! `<data_dir>/secrets/` with mode 0600.

use std::collections::HashMap;
use std::path::Path;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::config::SecurityConfig;

type HmacSha256 = Hmac<Sha256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

const IV_LEN: usize = 16;
const TAG_LEN: usize = 32;
const FORMAT: &str = "v1";

/// The two keys derived from one configured data key.
#[derive(Clone)]
struct KeyPair {
    enc: [u8; 32],
    mac: [u8; 32],
}

impl KeyPair {
    fn derive(master: &[u8; 32]) -> Self {
        Self {
            enc: hmac32(master, b"confab field encryption v1"),
            mac: hmac32(master, b"confab field authentication v1"),
        }
    }
}

/// Seals and opens private fields, and computes their blind index.
#[derive(Clone)]
pub struct FieldCipher {
    keys: HashMap<u32, KeyPair>,
    active: u32,
    index_key: [u8; 32],
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldCipher")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl FieldCipher {
    /// Builds the cipher from configuration, generating missing keys into `secrets_dir`.
    pub fn load(config: &SecurityConfig, secrets_dir: &Path) -> anyhow::Result<Self> {
        let active_key = if config.data_key.is_empty() {
            secret_file(secrets_dir, "data.key")?
        } else {
            decode_key(&config.data_key).context("security.data_key")?
        };
        let index_key = if config.index_key.is_empty() {
            secret_file(secrets_dir, "index.key")?
        } else {
            decode_key(&config.index_key).context("security.index_key")?
        };
        let mut keys = HashMap::new();
        keys.insert(config.data_key_id, KeyPair::derive(&active_key));
        for retired in &config.retired_data_keys {
            let (id, key) = retired
                .split_once(':')
                .context("security.retired_data_keys entries look like \"<id>:<base64 key>\"")?;
            let id: u32 = id
                .trim()
                .parse()
                .context("security.retired_data_keys: the id must be a number")?;
            if id == config.data_key_id {
                anyhow::bail!("security.retired_data_keys repeats the active key id {id}");
            }
            let key = decode_key(key).context("security.retired_data_keys")?;
            keys.insert(id, KeyPair::derive(&key));
        }
        Ok(Self {
            keys,
            active: config.data_key_id,
            index_key,
        })
    }

    /// Seals `plain` with the active key.
    pub fn seal(&self, plain: &str) -> String {
        let pair = self
            .keys
            .get(&self.active)
            .expect("the active key is inserted by FieldCipher::load");
        let mut iv = [0u8; IV_LEN];
        rand::thread_rng().fill_bytes(&mut iv);
        let ciphertext = Aes256CbcEnc::new(&pair.enc.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plain.as_bytes());
        let tag = tag(&pair.mac, self.active, &iv, &ciphertext);
        let mut blob = Vec::with_capacity(IV_LEN + ciphertext.len() + TAG_LEN);
        blob.extend_from_slice(&iv);
        blob.extend_from_slice(&ciphertext);
        blob.extend_from_slice(&tag);
        format!("{FORMAT}.{}.{}", self.active, B64.encode(blob))
    }

    /// Opens a value sealed by [`FieldCipher::seal`] with any known key.
    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!("sealed value has an unknown format");
        };
        // Only the spelling `seal` writes: `parse` alone would also take "+1" and "01".
        let kid: u32 = kid
            .parse()
            .ok()
            .filter(|id: &u32| id.to_string() == kid)
            .context("sealed value has a bad key id")?;
        let pair = self
            .keys
            .get(&kid)
            .with_context(|| format!("no key with id {kid} is configured"))?;
        let blob = B64.decode(body).context("sealed value is not base64")?;
        if blob.len() < IV_LEN + 16 + TAG_LEN {
            anyhow::bail!("sealed value is too short");
        }
        let (iv, rest) = blob.split_at(IV_LEN);
        let (ciphertext, given_tag) = rest.split_at(rest.len() - TAG_LEN);
        mac_for(&pair.mac, kid, iv, ciphertext)
            .verify_slice(given_tag)
            .map_err(|_| anyhow::anyhow!("sealed value failed authentication"))?;
        let iv: [u8; IV_LEN] = iv.try_into().expect("split at IV_LEN");
        let plain = Aes256CbcDec::new(&pair.enc.into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|_| anyhow::anyhow!("sealed value has bad padding"))?;
        String::from_utf8(plain).context("sealed value is not UTF-8")
    }

    /// The blind index of a value: equal inputs give equal indexes, and the index reveals
    /// nothing without the index key.
    pub fn blind_index(&self, value: &str) -> String {
        hex::encode(hmac32(&self.index_key, value.as_bytes()))
    }

    /// A keyed digest for short-lived secrets such as verification codes, so the database
    /// never holds a usable code.
    pub fn digest(&self, context: &str, value: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.index_key).expect("HMAC takes any key");
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

fn mac_for(key: &[u8; 32], kid: u32, iv: &[u8], ciphertext: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    mac.update(FORMAT.as_bytes());
    mac.update(&kid.to_be_bytes());
    mac.update(iv);
    mac.update(ciphertext);
    mac
}

fn tag(key: &[u8; 32], kid: u32, iv: &[u8], ciphertext: &[u8]) -> [u8; 32] {
    mac_for(key, kid, iv, ciphertext)
        .finalize()
        .into_bytes()
        .into()
}

fn hmac32(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn decode_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = B64
        .decode(text.trim())
        .context("the key is not valid base64")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the key must be exactly 32 bytes (44 base64 characters)"))
}

/// Reads a 32-byte secret from `<dir>/<name>`, creating it with fresh random bytes and mode
/// 0600 the first time.
pub fn secret_file(dir: &Path, name: &str) -> anyhow::Result<[u8; 32]> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => decode_key(&text).with_context(|| format!("secret file {}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut key);
            write_private(&path, B64.encode(key).as_bytes())?;
            Ok(key)
        }
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a file readable only by its owner; fails if it already exists, so two processes
/// racing on first start never end with different secrets.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(contents)
                .with_context(|| format!("writing {}", path.display()))?;
            file.sync_all()
                .with_context(|| format!("syncing {}", path.display()))?;
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(dir: &Path) -> FieldCipher {
        FieldCipher::load(&SecurityConfig::default(), dir).expect("cipher")
    }

    #[test]
    fn seal_then_open_round_trips_with_a_fresh_iv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = cipher(dir.path());
        let a = c.seal("alice@example.com");
        let b = c.seal("alice@example.com");
        assert_ne!(a, b, "each value gets its own IV");
        assert!(!a.contains("alice"));
        assert_eq!(c.open(&a).expect("opens"), "alice@example.com");
        assert_eq!(c.open(&c.seal("")).expect("empty opens"), "");
    }

    #[test]
    fn tampering_is_detected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = cipher(dir.path());
        let sealed = c.seal("13800138000");
        let (head, body) = sealed.rsplit_once('.').expect("format");
        let mut blob = B64.decode(body).expect("b64");
        blob[20] ^= 1;
        let forged = format!("{head}.{}", B64.encode(blob));
        assert!(c.open(&forged).is_err());
        assert!(c.open("v1.9.AAAA").is_err());
        assert!(c.open("plain text").is_err());
    }

    #[test]
    fn a_value_opens_only_with_the_key_id_as_sealed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = cipher(dir.path());
        let sealed = c.seal("x");
        let body = sealed.strip_prefix("v1.1.").expect("sealed with key 1");
        // The tag covers the key id as a number, so these spellings used to open too.
        for kid in ["01", "+1", "001"] {
            let respelled = format!("v1.{kid}.{body}");
            assert!(c.open(&respelled).is_err(), "{respelled} opens");
        }
        assert_eq!(c.open(&sealed).expect("opens"), "x");
    }

    #[test]
    fn secrets_are_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = secret_file(dir.path(), "x.key").expect("generate");
        let second = secret_file(dir.path(), "x.key").expect("read back");
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("x.key"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn retired_keys_still_open_old_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old_key = B64.encode([7u8; 32]);
        let new_key = B64.encode([9u8; 32]);
        let old = FieldCipher::load(
            &SecurityConfig {
                data_key: old_key.clone(),
                data_key_id: 1,
                ..SecurityConfig::default()
            },
            dir.path(),
        )
        .expect("old");
        let sealed = old.seal("bob@example.com");
        let rotated = FieldCipher::load(
            &SecurityConfig {
                data_key: new_key,
                data_key_id: 2,
                retired_data_keys: vec![format!("1:{old_key}")],
                ..SecurityConfig::default()
            },
            dir.path(),
        )
        .expect("rotated");
        assert_eq!(rotated.open(&sealed).expect("old value"), "bob@example.com");
        assert!(rotated.seal("x").starts_with("v1.2."));
        assert_eq!(
            old.blind_index("bob@example.com"),
            rotated.blind_index("bob@example.com")
        );
    }
}
