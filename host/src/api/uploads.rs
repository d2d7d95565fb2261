//! `POST /user/upload` and serving placed files back at the URL it returned.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;

use crate::api::envelope::ok;
use crate::api::params::UploadForm;
use crate::error::{Error, Result};
use crate::uploads::Uploads;
use crate::users::Caller;

mod media;

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

/// `GET /upload/{bucket}/{name}` (and `HEAD`): the stored file, typed by its extension,
/// never sniffed and never run as a page, in byte ranges and with validators (see
/// [`media`]).
pub(super) async fn serve(
    State(uploads): State<Uploads>,
    Path((bucket, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response> {
    let served = uploads.open_served(&bucket, &name).await?;
    media::serve(&served, method, &headers).await
}
