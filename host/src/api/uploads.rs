//! `POST /user/upload` and serving placed files back at the URL it returned.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

use crate::api::envelope::ok;
use crate::api::params::UploadForm;
use crate::error::{Error, Result};
use crate::uploads::Uploads;
use crate::users::Caller;

/// `POST /user/upload` (multipart `file`): `{"url": "/upload/data/<name>"}`. The size cap,
/// the upload plugins and the quotas are the upload service's ([`Uploads::upload`]).
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

/// `GET /upload/{bucket}/{name}`: the stored file, typed by its extension, never sniffed,
/// and never run as a page.
pub(super) async fn serve(
    State(uploads): State<Uploads>,
    Path((bucket, name)): Path<(String, String)>,
) -> Result<Response> {
    let served = uploads.open_served(&bucket, &name).await?;
    let mut response = Body::from_stream(ReaderStream::new(served.file)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&served.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(served.len));
    let disposition = if served.inline {
        "inline"
    } else {
        "attachment"
    };
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ),
        (header::CONTENT_DISPOSITION, disposition),
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Ok(response)
}
