//! The plugin upload of `POST /admin/plugins` and `PUT /admin/plugins/{name}`: a
//! multipart form with the manifest and the component, each part under its own cap.

use axum::extract::Request;
use axum::http::{header, HeaderMap};

use crate::api::params::{multipart, multipart_error};
use crate::error::{Error, Result};

/// A plugin upload: its manifest and its component, as a multipart form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct PluginUpload {
    /// The manifest, TOML text (at most 64 KiB).
    #[schema(content_media_type = "application/toml")]
    manifest: String,
    /// The WebAssembly component (at most 32 MiB).
    #[schema(format = Binary, content_media_type = "application/wasm")]
    wasm: String,
}

/// The largest plugin component an upload may carry, in bytes.
const MAX_WASM_BYTES: u64 = 32 * 1024 * 1024;
/// The largest manifest an upload may carry, in bytes.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Room for the multipart framing around the two parts.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;
const UPLOAD_HINT: &str = "send multipart/form-data with the parts \"manifest\" (the TOML \
                           text) and \"wasm\" (the component)";

/// The two parts of a plugin upload.
pub(super) struct Upload {
    /// The manifest's TOML text.
    pub(super) manifest: String,
    /// The component.
    pub(super) wasm: Vec<u8>,
}

/// Reads a plugin upload into memory, each part under its own cap. The runtime needs the
/// whole component to compile it, so there is nothing to gain from a temp file.
pub(super) async fn read_upload(request: Request) -> Result<Upload> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let is_multipart = content_type
        .split(';')
        .next()
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !is_multipart {
        return Err(Error::invalid(UPLOAD_HINT));
    }
    let boundary = multer::parse_boundary(&content_type)
        .map_err(|_| Error::invalid("multipart/form-data needs a boundary in its Content-Type"))?;
    let whole = MAX_WASM_BYTES + MAX_MANIFEST_BYTES + MULTIPART_OVERHEAD;
    if content_length(request.headers()).is_some_and(|n| n > whole) {
        return Err(Error::BodyTooLarge {
            limit: MAX_WASM_BYTES,
        });
    }
    let mut form = multipart(request.into_body(), boundary, whole);
    let failed = |err: multer::Error| {
        multipart_error(err, || Error::BodyTooLarge {
            limit: MAX_WASM_BYTES,
        })
    };
    let mut manifest = None;
    let mut wasm = None;
    while let Some(mut field) = form.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or_default().to_owned();
        let (slot, limit) = match name.as_str() {
            "manifest" => (&mut manifest, MAX_MANIFEST_BYTES),
            "wasm" => (&mut wasm, MAX_WASM_BYTES),
            other => {
                return Err(Error::invalid(format!(
                    "unexpected part {other:?}: {UPLOAD_HINT}"
                )))
            }
        };
        if slot.is_some() {
            return Err(Error::invalid(format!("the part {name:?} appears twice")));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(failed)? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(Error::BodyTooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        *slot = Some(bytes);
    }
    let manifest = manifest.ok_or_else(|| {
        Error::invalid(format!("the part \"manifest\" is missing: {UPLOAD_HINT}"))
    })?;
    let manifest = String::from_utf8(manifest)
        .map_err(|_| Error::invalid("the manifest is not valid UTF-8"))?;
    let wasm = wasm
        .filter(|w| !w.is_empty())
        .ok_or_else(|| Error::invalid(format!("the part \"wasm\" is missing: {UPLOAD_HINT}")))?;
    Ok(Upload { manifest, wasm })
}

/// The request's declared body length, if it gives a readable one.
pub(super) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}
