//! Uploaded files and avatars on disk: naming, placing and finding them again.
//!
//! A received file is first streamed into `<uploads>/tmp` under a random name (by the API's
//! parameter reader), then renamed into its bucket under a fresh random name that keeps
//! only a known-safe extension. Nothing the client sent is ever used as a path: the name a
//! client asks for later is checked against the exact shape this module generates.
//!
//! [`Uploads::upload`] is the whole of `POST /user/upload`: the size cap, then the upload
//! chain of the current hooks snapshot (plugins may refuse the file or choose its
//! extension), then the quotas, then placing it. Files from `POST /user/upload` count
//! against the uploader's quotas (bytes per UTC day and in total), reserved in the store
//! just before the file is placed and given back if placing fails, so only stored files
//! count. An avatar passes the upload chain too ([`Uploads::screen_avatar`]); one replaced
//! by a new one is deleted. The name a file was uploaded under is kept beside it (cleaned,
//! see [`names`]) to be offered again when it is downloaded ([`served`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rand::RngCore;

use crate::config::UploadConfig;
use crate::error::{Error, Result};
use crate::plugins::chain::{UploadDecision, UploadInfo};
use crate::plugins::hooks::SharedHooks;
use crate::store::UploadStore;
use crate::users::{now_millis, UserId};

pub mod names;
mod served;

pub use served::ServedFile;

/// Bytes of a file's start kept for type checks.
pub const HEAD_BYTES: usize = 512;

/// A file received in a request, waiting in the temp folder; removed when dropped unless
/// it was placed.
#[derive(Debug)]
pub struct ReceivedFile {
    /// Where it waits.
    pub temp: tempfile::TempPath,
    /// The file name the client gave, if any (never used as a path).
    pub client_name: Option<String>,
    /// The content type the client claimed, if any.
    pub client_type: Option<String>,
    /// Its size in bytes.
    pub size: u64,
    /// Its first bytes, at most [`HEAD_BYTES`].
    pub head: Vec<u8>,
}

/// Where a placed file lives and under which URL prefix it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Files from `POST /user/upload`, served at `/upload/data/<name>`.
    Data,
    /// Avatars, served at `/upload/personal/<name>`.
    Personal,
}

impl Bucket {
    /// The folder name, which is also the URL segment.
    pub fn dir_name(self) -> &'static str {
        match self {
            Bucket::Data => "data",
            Bucket::Personal => "personal",
        }
    }

    /// The bucket named by a URL segment.
    pub fn from_segment(segment: &str) -> Option<Self> {
        match segment {
            "data" => Some(Bucket::Data),
            "personal" => Some(Bucket::Personal),
            _ => None,
        }
    }
}

/// Extensions kept as they are; anything else is stored as `.bin`, so an uploaded page or
/// script can never be served as one.
const SAFE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "bmp", "avif", "heic", "mp3", "ogg", "oga", "wav", "m4a",
    "aac", "opus", "flac", "amr", "mp4", "webm", "mov", "m4v", "pdf", "txt", "csv", "md", "zip",
    "gz", "tgz", "7z", "rar", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
];

/// How many bytes of uploads one user may store; 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    /// Bytes per day, counted by UTC day.
    pub per_day: u64,
    /// Bytes in all.
    pub total: u64,
}

/// Today's number for the daily quota: days since 1970-01-01, UTC.
pub fn utc_day(now_ms: i64) -> i64 {
    now_ms.div_euclid(86_400_000)
}

/// The upload service: the upload folders of one data directory, the quotas, and the
/// hooks snapshot whose upload chain decides about each file.
#[derive(Clone)]
pub struct Uploads {
    root: PathBuf,
    /// Cap for `POST /user/upload`.
    pub max_bytes: u64,
    /// Cap for avatars.
    pub avatar_max_bytes: u64,
    quota: Quota,
    ledger: Arc<dyn UploadStore>,
    /// Most pixels an image may declare (`uploads.max_image_pixels`).
    max_image_pixels: u64,
    /// Where the upload chain comes from.
    hooks: SharedHooks,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads")
            .field("root", &self.root)
            .field("max_bytes", &self.max_bytes)
            .field("avatar_max_bytes", &self.avatar_max_bytes)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl Uploads {
    /// Creates the folders under `<data_dir>/uploads` and removes temp files older than an
    /// hour (left by a crash; younger ones may belong to another process on shared storage).
    /// Quotas are counted in `ledger`.
    pub fn open(
        data_dir: &Path,
        config: &UploadConfig,
        ledger: Arc<dyn UploadStore>,
    ) -> anyhow::Result<Self> {
        let root = data_dir.join("uploads");
        let tmp = root.join("tmp");
        for dir in [&tmp, &root.join("data"), &root.join("personal")] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let stale = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in std::fs::read_dir(&tmp)
            .with_context(|| format!("reading {}", tmp.display()))?
            .flatten()
        {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < stale);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            root,
            max_bytes: config.max_bytes,
            avatar_max_bytes: config.avatar_max_bytes,
            quota: Quota {
                per_day: config.quota_bytes_per_day,
                total: config.quota_bytes_total,
            },
            ledger,
            max_image_pixels: config.max_image_pixels,
            hooks: SharedHooks::default(),
        })
    }

    /// The service asking the upload chain of `hooks`, the snapshot the plugins swap
    /// (until then, an empty one: every file is accepted as it is).
    pub fn with_hooks(mut self, hooks: SharedHooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// Where received files wait.
    pub fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Takes a file from `POST /user/upload` by `user` and returns its URL. The host's
    /// size cap applies first; then the upload chain decides (reject, or choose the
    /// extension the file is stored and served with); then the caller's quotas
    /// ([`Error::QuotaExceeded`]). The stored name stays the host's random one whatever a
    /// plugin answers.
    pub async fn upload(&self, user: UserId, file: ReceivedFile) -> Result<String> {
        self.check_upload_size(&file)?;
        // Taken once: the upload runs through one version of the chain from start to end.
        let hooks = self.hooks.load();
        let decision = hooks
            .check_upload(&UploadInfo::of(&file, user), &file.head)
            .await;
        let (extension, uploaded_as) = match decision {
            UploadDecision::Reject(reason) => return Err(Error::UploadRejected(reason)),
            UploadDecision::Accept { name, content_type } => (
                name.as_deref()
                    .map(safe_extension)
                    .or_else(|| content_type.as_deref().and_then(extension_for_type)),
                // A plugin's new name is the name the file goes by from now on.
                name.or_else(|| file.client_name.clone()),
            ),
        };
        self.place_upload(user, file, extension, uploaded_as.as_deref())
            .await
    }

    /// Runs an avatar by `user` past the upload chain, which may refuse it
    /// ([`Error::UploadRejected`]). Its stored type is always the image type the host reads
    /// from its first bytes, whatever a plugin answers.
    pub async fn screen_avatar(&self, user: UserId, file: &ReceivedFile) -> Result<()> {
        let hooks = self.hooks.load();
        match hooks
            .check_upload(&UploadInfo::of(file, user), &file.head)
            .await
        {
            UploadDecision::Reject(reason) => Err(Error::UploadRejected(reason)),
            UploadDecision::Accept { .. } => Ok(()),
        }
    }

    /// Refuses a file from `POST /user/upload` that is over the cap, or an image that
    /// declares more pixels than allowed.
    fn check_upload_size(&self, file: &ReceivedFile) -> Result<()> {
        if file.size > self.max_bytes {
            return Err(Error::UploadTooLarge {
                limit: self.max_bytes,
            });
        }
        crate::images::check_pixels(file, self.max_image_pixels)
    }

    /// Places a file from `POST /user/upload` by `user` (already within the cap) and
    /// returns its URL, if it fits in their quotas. It keeps `extension` (chosen by the
    /// upload chain, already allowlisted) or else the safe extension of the client's file
    /// name, and remembers `uploaded_as`, the name it came under, cleaned.
    async fn place_upload(
        &self,
        user: UserId,
        file: ReceivedFile,
        extension: Option<&'static str>,
        uploaded_as: Option<&str>,
    ) -> Result<String> {
        if file.size == 0 {
            return Err(Error::invalid("the file is empty"));
        }
        let extension = extension
            .or_else(|| file.client_name.as_deref().map(safe_extension))
            .unwrap_or("bin");
        let (size, day) = (file.size, utc_day(now_millis()));
        self.ledger
            .reserve_upload(user, size, day, self.quota)
            .await?;
        let placed = self
            .place_named(file, extension, uploaded_as.and_then(names::clean), user)
            .await;
        if placed.is_err() {
            // Only stored files count.
            if let Err(err) = self.ledger.release_upload(user, size, day).await {
                tracing::warn!(
                    error = %err,
                    user,
                    "giving back the quota of a failed upload failed"
                );
            }
        }
        placed
    }

    /// Places an avatar, which must be a PNG, JPEG, GIF or WebP image by its content, and
    /// returns its URL.
    pub async fn place_avatar(&self, file: ReceivedFile) -> Result<String> {
        let extension = self.check_avatar(&file)?;
        self.place(file, Bucket::Personal, extension).await
    }

    /// Deletes the avatar file behind `url` (a URL [`Uploads::place_avatar`] returned);
    /// the caller makes sure no account shows it any more. Anything else, such as the empty
    /// default, is left alone; a failure is logged, since the new avatar is in place anyway.
    pub async fn discard_avatar(&self, url: &str) {
        let Some(name) = url.strip_prefix("/upload/personal/") else {
            return;
        };
        let Some(path) = self.resolve(Bucket::Personal, name) else {
            return;
        };
        if let Err(err) = tokio::fs::remove_file(&path).await {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(
                    error = %err,
                    file = %path.display(),
                    "deleting a replaced avatar failed"
                );
            }
        }
    }

    /// Checks an avatar's size and type without placing it; returns its extension.
    pub fn check_avatar(&self, file: &ReceivedFile) -> Result<&'static str> {
        if file.size == 0 {
            return Err(Error::invalid("the file is empty"));
        }
        if file.size > self.avatar_max_bytes {
            return Err(Error::UploadTooLarge {
                limit: self.avatar_max_bytes,
            });
        }
        let extension = image_extension(&file.head).ok_or_else(|| {
            Error::UploadRejected("avatar must be a PNG, JPEG, GIF or WebP image".to_owned())
        })?;
        crate::images::check_pixels(file, self.max_image_pixels)?;
        Ok(extension)
    }

    /// Places a file in the data bucket, its name saved first: a file is never served
    /// without the name it came under (a name saved for a file that then failed to be
    /// placed names nothing, and its random name never comes again).
    async fn place_named(
        &self,
        file: ReceivedFile,
        extension: &str,
        uploaded_as: Option<String>,
        user: UserId,
    ) -> Result<String> {
        let name = fresh_name(extension);
        if let Some(uploaded_as) = uploaded_as {
            self.ledger
                .save_upload_name(&name, &uploaded_as, user, now_millis())
                .await?;
        }
        self.place_as(file, Bucket::Data, name).await
    }

    async fn place(&self, file: ReceivedFile, bucket: Bucket, extension: &str) -> Result<String> {
        self.place_as(file, bucket, fresh_name(extension)).await
    }

    async fn place_as(&self, file: ReceivedFile, bucket: Bucket, name: String) -> Result<String> {
        if file.size == 0 {
            return Err(Error::invalid("the file is empty"));
        }
        let target = self.root.join(bucket.dir_name()).join(&name);
        let temp = file.temp;
        tokio::task::spawn_blocking(move || temp.persist(&target))
            .await
            .map_err(|e| Error::Internal(anyhow::Error::new(e).context("placing an upload")))?
            .map_err(|e| {
                Error::Internal(anyhow::Error::new(e.error).context("placing an upload"))
            })?;
        Ok(format!("/upload/{}/{name}", bucket.dir_name()))
    }

    /// The file behind a served name, if the name has the shape this module generates and
    /// the file exists.
    pub fn resolve(&self, bucket: Bucket, name: &str) -> Option<PathBuf> {
        let (stem, extension) = name.split_once('.')?;
        let stem_ok = stem.len() == 32
            && stem
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        let ext_ok = extension == "bin" || SAFE_EXTENSIONS.contains(&extension);
        if !(stem_ok && ext_ok) {
            return None;
        }
        let path = self.root.join(bucket.dir_name()).join(name);
        path.is_file().then_some(path)
    }
}

/// A fresh random name with `extension`.
fn fresh_name(extension: &str) -> String {
    let mut id = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut id);
    format!("{}.{extension}", hex::encode(id))
}

/// The extension kept for a client's file name: a known-safe one in lower case, else `bin`.
pub fn safe_extension(client_name: &str) -> &'static str {
    let Some((_, ext)) = client_name.rsplit_once('.') else {
        return "bin";
    };
    let ext = ext.to_ascii_lowercase();
    SAFE_EXTENSIONS
        .iter()
        .find(|safe| **safe == ext)
        .copied()
        .unwrap_or("bin")
}

/// The safe extension for a content type, if it has one on the allowlist.
pub fn extension_for_type(content_type: &str) -> Option<&'static str> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    mime_guess::get_mime_extensions_str(essence)?
        .iter()
        .find_map(|ext| SAFE_EXTENSIONS.iter().find(|safe| *safe == ext).copied())
}

/// The extension of an image recognised by its magic bytes.
pub fn image_extension(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpg")
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some("gif")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    /// Counts nothing: these tests are not about quotas.
    struct NoLedger;

    #[async_trait]
    impl UploadStore for NoLedger {
        async fn reserve_upload(&self, _: UserId, _: u64, _: i64, _: Quota) -> Result<()> {
            Ok(())
        }
        async fn release_upload(&self, _: UserId, _: u64, _: i64) -> Result<()> {
            Ok(())
        }
        async fn save_upload_name(&self, _: &str, _: &str, _: UserId, _: i64) -> Result<()> {
            Ok(())
        }
        async fn upload_name(&self, _: &str) -> Result<Option<String>> {
            Ok(None)
        }
    }

    #[test]
    fn extensions_are_allowlisted() {
        assert_eq!(safe_extension("photo.JPG"), "jpg");
        assert_eq!(safe_extension("../../etc/passwd"), "bin");
        assert_eq!(safe_extension("page.html"), "bin");
        assert_eq!(safe_extension("x.svg"), "bin");
        assert_eq!(safe_extension("noext"), "bin");
        assert_eq!(safe_extension("archive.tar.gz"), "gz");
        assert_eq!(extension_for_type("image/png"), Some("png"));
        assert_eq!(extension_for_type("text/plain; charset=utf-8"), Some("txt"));
        assert_eq!(extension_for_type("text/html"), None);
        assert_eq!(extension_for_type("nonsense"), None);
    }

    #[test]
    fn only_generated_names_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = UploadConfig {
            max_bytes: 10,
            avatar_max_bytes: 10,
            ..UploadConfig::default()
        };
        let uploads = Uploads::open(dir.path(), &config, Arc::new(NoLedger)).expect("open");
        let name = "0123456789abcdef0123456789abcdef.png";
        std::fs::write(dir.path().join("uploads/data").join(name), b"x").expect("write");
        assert!(uploads.resolve(Bucket::Data, name).is_some());
        assert!(uploads.resolve(Bucket::Personal, name).is_none());
        for bad in [
            "../secrets/jwt.key",
            "0123456789abcdef0123456789ABCDEF.png",
            "x.png",
            "",
        ] {
            assert!(uploads.resolve(Bucket::Data, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn days_turn_at_utc_midnight() {
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(86_399_999), 0);
        assert_eq!(utc_day(86_400_000), 1);
        assert_eq!(utc_day(-1), -1);
    }

    #[test]
    fn images_by_magic() {
        assert_eq!(image_extension(b"\x89PNG\r\n\x1a\nrest"), Some("png"));
        assert_eq!(image_extension(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(image_extension(b"MZ\x90\0"), None);
    }

    /// A file received into `uploads`' temp folder.
    fn received(uploads: &Uploads, name: &str, content: &[u8]) -> ReceivedFile {
        let temp = tempfile::NamedTempFile::new_in(uploads.temp_dir())
            .expect("temp file")
            .into_temp_path();
        std::fs::write(&temp, content).expect("write");
        ReceivedFile {
            temp,
            client_name: Some(name.to_owned()),
            client_type: None,
            size: content.len() as u64,
            head: content[..content.len().min(HEAD_BYTES)].to_vec(),
        }
    }

    #[tokio::test]
    async fn an_upload_is_capped_then_placed_under_a_fresh_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = UploadConfig {
            max_bytes: 10,
            ..UploadConfig::default()
        };
        // An empty hooks snapshot: no plugin decides, as with plugins turned off.
        let uploads = Uploads::open(dir.path(), &config, Arc::new(NoLedger))
            .expect("open")
            .with_hooks(SharedHooks::default());
        let big = received(&uploads, "big.txt", b"more than ten bytes");
        assert!(matches!(
            uploads.upload(1, big).await,
            Err(Error::UploadTooLarge { limit: 10 })
        ));
        let url = uploads
            .upload(1, received(&uploads, "../Notes.TXT", b"hello"))
            .await
            .expect("placed");
        let name = url
            .strip_prefix("/upload/data/")
            .expect("in the data bucket");
        assert!(name.ends_with(".txt"), "{name}");
        let served = uploads.open_served("data", name).await.expect("served");
        assert_eq!(served.len, 5);
        assert_eq!(served.content_type, "text/plain; charset=utf-8");
        assert!(!served.inline);
        assert!(matches!(
            uploads.open_served("personal", name).await,
            Err(Error::NotFound(_))
        ));
    }
}
