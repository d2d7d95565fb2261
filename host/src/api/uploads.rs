//! `POST /user/upload` and serving placed files back at the URL it returned.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

use crate::api::envelope::ok;
use crate::api::params::UploadForm;
use crate::error::{Error, Result};
use crate::plugins::chain::{UploadDecision, UploadInfo};
use crate::plugins::Plugins;
use crate::uploads::{extension_for_type, safe_extension, Bucket, Uploads};
use crate::users::Caller;

/// `POST /user/upload` (multipart `file`): `{"url": "/upload/data/<name>"}`.
///
/// The host's size cap applies first; then the upload plugins decide (reject, or choose
/// the extension the file is stored and served with); then the caller's quotas. The stored
/// name stays the host's random one whatever a plugin answers.
pub(super) async fn upload(
    State(uploads): State<Uploads>,
    State(plugins): State<Plugins>,
    caller: Caller,
    UploadForm(mut params): UploadForm,
) -> Result<Response> {
    let file = params.take_file("file").ok_or_else(|| {
        Error::invalid("file is required: send it as multipart/form-data field \"file\"")
    })?;
    uploads.check_upload_size(&file)?;
    let info = UploadInfo::of(&file, caller.id);
    let extension = match plugins.check_upload(&info, &file.head).await {
        UploadDecision::Reject(reason) => return Err(Error::UploadRejected(reason)),
        UploadDecision::Accept { name, content_type } => name
            .as_deref()
            .map(safe_extension)
            .or_else(|| content_type.as_deref().and_then(extension_for_type)),
    };
    let url = uploads.place_upload(caller.id, file, extension).await?;
    Ok(ok(serde_json::json!({ "url": url })))
}

/// `GET /upload/{bucket}/{name}`: the stored file, typed by its extension, never sniffed.
pub(super) async fn serve(
    State(uploads): State<Uploads>,
    Path((bucket, name)): Path<(String, String)>,
) -> Result<Response> {
    let not_found = || Error::NotFound("no such file");
    let bucket = Bucket::from_segment(&bucket).ok_or_else(not_found)?;
    let path = uploads.resolve(bucket, &name).ok_or_else(not_found)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| not_found())?;
    let len = file
        .metadata()
        .await
        .map_err(|e| Error::Internal(anyhow::Error::new(e).context("reading file metadata")))?
        .len();
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let inline = matches!(mime.type_().as_str(), "image" | "audio" | "video")
        || mime.essence_str() == "application/pdf";
    let mut response = Body::from_stream(ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    let content_type = match mime.type_().as_str() {
        "text" => format!("{}; charset=utf-8", mime.essence_str()),
        _ => mime.essence_str().to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(if inline { "inline" } else { "attachment" }),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(response)
}
