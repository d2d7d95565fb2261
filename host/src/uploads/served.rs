//! Finding a placed file again to serve it: its path, type, validators and download name.
//!
//! The HTTP side (ranges, conditional requests, headers) is the API's; this module only
//! says which file a URL names and what is known about it.

use std::path::PathBuf;
use std::time::SystemTime;

use super::{names, Bucket, Uploads};
use crate::error::{Error, Result};

/// A stored file, found to be served.
#[derive(Debug, Clone)]
pub struct ServedFile {
    /// Where it is.
    pub path: PathBuf,
    /// The name it is served under (`<32 hex digits>.<extension>`).
    pub name: String,
    /// Its length in bytes.
    pub len: u64,
    /// When it was placed (files never change once placed).
    pub modified: Option<SystemTime>,
    /// The content type its extension names (text with `charset=utf-8`); never sniffed
    /// from its content.
    pub content_type: String,
    /// Whether a browser may show it in place (images, audio, video, PDF) rather than
    /// download it.
    pub inline: bool,
    /// The name to offer a download under: the name it was uploaded under (see
    /// [`names::download_name`]), when one was kept.
    pub file_name: Option<String>,
}

impl Uploads {
    /// Finds the file served at `/upload/<segment>/<name>`; [`Error::NotFound`] unless
    /// the bucket exists, the name has the shape this module generates and the file is
    /// there.
    pub async fn open_served(&self, segment: &str, name: &str) -> Result<ServedFile> {
        let not_found = || Error::NotFound("no such file");
        let bucket = Bucket::from_segment(segment).ok_or_else(not_found)?;
        let path = self.resolve(bucket, name).ok_or_else(not_found)?;
        let meta = tokio::fs::metadata(&path).await.map_err(|_| not_found())?;
        let mime = mime_guess::from_path(&path).first_or_octet_stream();
        let inline = matches!(mime.type_().as_str(), "image" | "audio" | "video")
            || mime.essence_str() == "application/pdf";
        let content_type = match mime.type_().as_str() {
            "text" => format!("{}; charset=utf-8", mime.essence_str()),
            _ => mime.essence_str().to_owned(),
        };
        // Only files from `POST /user/upload` keep the name they came with; an avatar is
        // only ever shown.
        let file_name = match bucket {
            Bucket::Data => self.ledger.upload_name(name).await?.map(|uploaded| {
                let extension = name.rsplit_once('.').map_or("bin", |(_, ext)| ext);
                names::download_name(&uploaded, extension)
            }),
            Bucket::Personal => None,
        };
        Ok(ServedFile {
            path,
            name: name.to_owned(),
            len: meta.len(),
            modified: meta.modified().ok(),
            content_type,
            inline,
            file_name,
        })
    }
}
