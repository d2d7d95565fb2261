//! `POST /user/upload` and serving placed files back at the URL it returned.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::openapi::schemas::Envelope;
use crate::api::params::UploadForm;
use crate::error::{Error, Result};
use crate::uploads::Uploads;
use crate::users::Caller;

mod media;

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(upload, serve))]
pub(super) struct Api;

/// A file as a multipart form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct FileUpload {
    /// The file; its part's file name is kept, cleaned, to be offered again on download.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// The bytes of a stored file, of the type its extension names.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct FileBytes(Vec<u8>);

/// Where a stored file is served.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Uploaded {
    /// The file's URL on this server: `/upload/data/<name>`.
    url: String,
}

/// `POST /user/upload` (multipart `file`): `{"url": "/upload/data/<name>"}`. The size cap,
/// the upload plugins and the quotas are the upload service's ([`Uploads::upload`]).
#[utoipa::path(
    post,
    path = "/user/upload",
    tag = "uploads",
    summary = "Upload a file",
    description = "The file passes the size cap (`uploads.max_bytes`), the upload plugins (which may refuse it or choose \
        its extension) and the caller's quotas (bytes per UTC day and in all). It is stored under a fresh random name \
        that keeps only a known-safe extension (else `.bin`).",
    security(("bearer" = [])),
    request_body(content((FileUpload = "multipart/form-data")), description = "The file in the field `file`"),
    responses((status = 200, description = "The file's URL", body = Envelope<Uploaded>)),
)]
pub(super) async fn upload(
    State(uploads): State<Uploads>,
    caller: Caller,
    UploadForm(mut params): UploadForm,
) -> Result<Response> {
    let file = params.take_file("file").ok_or_else(|| {
        Error::invalid("file is required: send it as multipart/form-data field \"file\"")
    })?;
    let url = uploads.upload(caller.id, file).await?;
    Ok(ok(serde_json::json!({ "url": url })))
}

/// `GET /upload/{bucket}/{name}` (and `HEAD`): the stored file, typed by its extension,
/// never sniffed and never run as a page, in byte ranges and with validators (see
/// [`media`]).
#[utoipa::path(
    get,
    path = "/upload/{bucket}/{name}",
    tag = "uploads",
    summary = "A stored file (also HEAD)",
    description = "The file, typed by its extension and never sniffed or run as a page: `inline` for images, audio, \
        video and PDF, else `attachment` under the name it was uploaded as. One byte range is served (206); a request \
        for several ranges, or whose `If-Range` no longer names the file, gets the whole file (200). Validators and \
        conditional requests follow RFC 9110: `If-Match` before `If-Unmodified-Since`, `If-None-Match` before \
        `If-Modified-Since`. No token is needed: the random name is the secret.",
    params(
        ("bucket" = String, Path, pattern = "^(data|personal)$", description = "`data`: files from /user/upload; `personal`: avatars"),
        ("name" = String, Path, description = "The stored name, as in the file's URL"),
        ("Range" = Option<String>, Header, nullable = false, description = "One range of bytes, e.g. `bytes=0-1023`"),
        ("If-Range" = Option<String>, Header, nullable = false, description = "The range only if the file still has this `ETag` (compared strongly) or exactly this `Last-Modified`"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "304 if the file has one of these entity tags (compared weakly), or `*`"),
        ("If-Modified-Since" = Option<String>, Header, nullable = false, description = "304 if the file has not changed since (ignored with `If-None-Match`)"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "412 unless the file has one of these entity tags (compared strongly), or `*`"),
        ("If-Unmodified-Since" = Option<String>, Header, nullable = false, description = "412 if the file changed since (ignored with `If-Match`)"),
    ),
    responses(
        (status = 200, description = "The whole file (no body for HEAD)", body = FileBytes, content_type = "*/*", headers(
            ("Content-Length" = u64, description = "The file's size in bytes"),
            ("Accept-Ranges", description = "`bytes`"),
            ("ETag", description = "The file's strong entity tag"),
            ("Last-Modified", description = "When the file was stored, an HTTP date"),
            ("Content-Disposition", description = "`inline` (images, audio, video, PDF) or `attachment`, with the name it was uploaded as when it has one"),
            ("Cache-Control", description = "`private, max-age=31536000, immutable`: a stored file never changes"),
            ("X-Content-Type-Options", description = "`nosniff`"),
            ("Content-Security-Policy", description = "`default-src 'none'; sandbox`"),
        )),
        (status = 206, description = "The one range of bytes asked for", body = FileBytes, content_type = "*/*", headers(
            ("Content-Range", description = "`bytes <first>-<last>/<size>`"),
            ("Content-Length" = u64, description = "The range's length in bytes"),
            ("Accept-Ranges", description = "`bytes`"),
            ("ETag", description = "The file's strong entity tag"),
            ("Last-Modified", description = "When the file was stored, an HTTP date"),
            ("Content-Disposition", description = "As for 200"),
            ("Cache-Control", description = "As for 200"),
            ("X-Content-Type-Options", description = "`nosniff`"),
            ("Content-Security-Policy", description = "`default-src 'none'; sandbox`"),
        )),
        (status = 304, description = "Not modified: `If-None-Match` names the file's tag, or it has not changed since `If-Modified-Since`; no body", headers(
            ("ETag", description = "The file's strong entity tag"),
            ("Last-Modified", description = "When the file was stored, an HTTP date"),
        )),
        (status = 412, description = "Precondition failed: `If-Match` does not name the file's tag, or it changed since `If-Unmodified-Since`; no body", headers(
            ("ETag", description = "The file's strong entity tag"),
            ("Last-Modified", description = "When the file was stored, an HTTP date"),
        )),
        (status = 416, description = "The range is not within the file; no envelope", headers(
            ("Content-Range", description = "`bytes */<size>`"),
            ("ETag", description = "The file's strong entity tag"),
            ("Last-Modified", description = "When the file was stored, an HTTP date"),
        )),
    ),
)]
pub(super) async fn serve(
    State(uploads): State<Uploads>,
    Path((bucket, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response> {
    let served = uploads.open_served(&bucket, &name).await?;
    media::serve(&served, method, &headers).await
}
