//! Request parameters from wherever the client put them: the query string, a urlencoded
//! form, a JSON object or a multipart form, on every route.
//!
//! The seed's clients send the same parameter in different places and spellings, so
//! handlers ask for a value by its names (`&["username", "user_name"]`) and never look at
//! the body themselves.
//!
//! Bodies are capped while they are read, before anything is kept: at
//! `server.max_body_bytes`, plus the file's own cap on the two routes that take a file
//! ([`UploadForm`], [`AvatarForm`]). That holds for multipart bodies too, even one whose
//! boundary never comes, which the parser would otherwise hold in memory whole. Only those
//! two routes accept file parts here (the plugin upload reads its own two parts), streamed
//! to the upload temp folder and never held in memory; anywhere else a file part is refused
//! as soon as its headers are read, before anything is written. A body that comes too
//! slowly fails with 408 (see `api::serve`).

use std::collections::HashMap;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use futures::StreamExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::api::serve::BodyTimeout;
use crate::api::AppState;
use crate::error::{Error, Result};
use crate::uploads::{ReceivedFile, HEAD_BYTES};

/// Most fields accepted in one multipart form.
const MAX_FIELDS: usize = 64;
/// Most files accepted in one multipart form.
const MAX_FILES: usize = 4;

/// The parameters of one request.
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, Value>,
    files: HashMap<String, ReceivedFile>,
}

impl Params {
    /// The first of `names` that is present, as text. Numbers become their decimal text;
    /// `null` counts as absent; other JSON types are an error.
    pub fn text(&self, names: &[&str]) -> Result<Option<String>> {
        for name in names {
            match self.values.get(*name) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => return Ok(Some(s.clone())),
                Some(Value::Number(n)) => return Ok(Some(n.to_string())),
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "{name} must be a string, not {}",
                        json_type(other)
                    )))
                }
            }
        }
        Ok(None)
    }

    /// Like [`Params::text`], but an absent or empty value is an error naming the first name.
    pub fn required(&self, names: &[&str]) -> Result<String> {
        match self.text(names)? {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(Error::invalid(format!("{} is required", names[0]))),
        }
    }

    /// An optional whole number, given as a JSON number or as decimal text.
    pub fn int(&self, names: &[&str]) -> Result<Option<i64>> {
        match self.text(names)? {
            None => Ok(None),
            Some(text) if text.trim().is_empty() => Ok(None),
            Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
                Error::invalid(format!("{} must be a whole number, not {text:?}", names[0]))
            }),
        }
    }

    /// A required id: a positive whole number.
    pub fn id(&self, names: &[&str]) -> Result<i64> {
        match self.int(names)? {
            Some(id) if id > 0 => Ok(id),
            Some(id) => Err(Error::invalid(format!(
                "{} must be a positive id, not {id}",
                names[0]
            ))),
            None => Err(Error::invalid(format!("{} is required", names[0]))),
        }
    }

    /// The uploaded file in field `name`, taken out of the parameters.
    pub fn take_file(&mut self, name: &str) -> Option<ReceivedFile> {
        self.files.remove(name)
    }

    fn insert_pairs(&mut self, pairs: Vec<(String, String)>) {
        for (key, value) in pairs {
            self.values.insert(key, Value::String(value));
        }
    }

    /// Adds the pairs of a query string; a repeated name keeps its last value.
    pub(crate) fn add_query(&mut self, query: &str) -> Result<()> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| Error::invalid(format!("malformed query string: {e}")))?;
        self.insert_pairs(pairs);
        Ok(())
    }

    /// Adds the pairs of an `application/x-www-form-urlencoded` body.
    pub(crate) fn add_form(&mut self, body: &[u8]) -> Result<()> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| Error::invalid(format!("malformed form body: {e}")))?;
        self.insert_pairs(pairs);
        Ok(())
    }

    /// Adds the members of a JSON body, which is an object or nothing but whitespace.
    pub(crate) fn add_json(&mut self, body: &[u8]) -> Result<()> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid(format!("invalid JSON body: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::invalid(format!(
                "the JSON body must be an object, not {}",
                json_type(&value)
            )));
        };
        self.values.extend(map);
        Ok(())
    }

    /// Every value read so far, by name.
    pub(crate) fn values(&self) -> &HashMap<String, Value> {
        &self.values
    }

    /// Every file received so far, by field name.
    pub(crate) fn files(&self) -> &HashMap<String, ReceivedFile> {
        &self.files
    }
}

/// What a multipart form may hold, and where its files wait.
#[derive(Debug, Clone)]
pub(crate) struct FormLimits {
    /// Most bytes of all text fields together.
    pub(crate) text_bytes: u64,
    /// Most bytes of one file; 0: the form may carry no file, and a file part is refused.
    pub(crate) file_bytes: u64,
    /// The folder of the files' temporary copies.
    pub(crate) temp_dir: PathBuf,
}

impl FormLimits {
    /// Most bytes of the whole body: the text fields' cap (which the framing fits in), and
    /// the file's when the form may carry one.
    pub(crate) fn whole_bytes(&self) -> u64 {
        self.text_bytes.saturating_add(self.file_bytes)
    }

    /// The answer to a body over [`FormLimits::whole_bytes`].
    fn too_large(&self) -> Error {
        if self.file_bytes > 0 {
            Error::UploadTooLarge {
                limit: self.file_bytes,
            }
        } else {
            Error::BodyTooLarge {
                limit: self.text_bytes,
            }
        }
    }
}

/// How a JSON value's type is named in error messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl FromRequest<AppState> for Params {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        read_params(req, state, 0).await
    }
}

/// The parameters of `POST /user/upload`, whose form may carry a file of up to
/// `uploads.max_bytes`.
#[derive(Debug)]
pub struct UploadForm(pub Params);

impl FromRequest<AppState> for UploadForm {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        let file_bytes = state.uploads.max_bytes;
        read_params(req, state, file_bytes).await.map(UploadForm)
    }
}

/// The parameters of `PUT /user/update`, whose form may carry an avatar of up to
/// `uploads.avatar_max_bytes`.
#[derive(Debug)]
pub struct AvatarForm(pub Params);

impl FromRequest<AppState> for AvatarForm {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        let file_bytes = state.uploads.avatar_max_bytes;
        read_params(req, state, file_bytes).await.map(AvatarForm)
    }
}

/// Reads the parameters of a request whose multipart form may carry files of up to
/// `file_bytes` (0: none).
async fn read_params(req: Request, state: &AppState, file_bytes: u64) -> Result<Params> {
    let mut params = Params::default();
    if let Some(query) = req.uri().query() {
        params.add_query(query)?;
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("invalid").to_owned());
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(content_type) = content_type else {
        if declared_len.unwrap_or(0) > 0 {
            return Err(Error::invalid(
                "a request body needs a Content-Type: application/json, \
                     application/x-www-form-urlencoded or multipart/form-data",
            ));
        }
        return Ok(params);
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let limit = state.limits.max_body_bytes;
    match mime.as_str() {
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(&content_type).map_err(|_| {
                Error::invalid("multipart/form-data needs a boundary in its Content-Type")
            })?;
            let form = FormLimits {
                text_bytes: limit,
                file_bytes,
                temp_dir: state.uploads.temp_dir(),
            };
            if declared_len.is_some_and(|n| n > form.whole_bytes()) {
                return Err(form.too_large());
            }
            add_multipart(&mut params, req.into_body(), boundary, &form).await?;
        }
        "application/x-www-form-urlencoded" => {
            let bytes = read_capped(req.into_body(), declared_len, limit).await?;
            params.add_form(&bytes)?;
        }
        m if m == "application/json" || m.ends_with("+json") => {
            let bytes = read_capped(req.into_body(), declared_len, limit).await?;
            params.add_json(&bytes)?;
        }
        other => {
            let bytes = read_capped(req.into_body(), declared_len, limit).await?;
            if !bytes.is_empty() {
                return Err(Error::invalid(format!(
                    "unsupported Content-Type {other:?}: send application/json, \
                         application/x-www-form-urlencoded or multipart/form-data"
                )));
            }
        }
    }
    Ok(params)
}

/// Reads a whole body, failing with 413 as soon as it passes `limit`.
pub(crate) async fn read_capped(body: Body, declared: Option<u64>, limit: u64) -> Result<Vec<u8>> {
    let too_large = Error::BodyTooLarge { limit };
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large);
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| body_error(&e))?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// A multipart reader that fails once the body passes `limit` bytes, wherever they are:
/// until it finds a boundary, or the end of a part's headers, the parser keeps everything
/// it has read.
pub(crate) fn multipart(body: Body, boundary: String, limit: u64) -> multer::Multipart<'static> {
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit));
    multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints)
}

/// Adds the fields of a multipart body; files are streamed to `limits.temp_dir`.
pub(crate) async fn add_multipart(
    params: &mut Params,
    body: Body,
    boundary: String,
    limits: &FormLimits,
) -> Result<()> {
    let mut multipart = multipart(body, boundary, limits.whole_bytes());
    let failed = |err: multer::Error| multipart_error(err, || limits.too_large());
    let text_limit = limits.text_bytes;
    let file_limit = limits.file_bytes;
    let mut fields = 0usize;
    let mut text_bytes = 0u64;
    while let Some(mut field) = multipart.next_field().await.map_err(failed)? {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(Error::invalid(format!(
                "a form may have at most {MAX_FIELDS} fields"
            )));
        }
        let name = field
            .name()
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid("a multipart field has no name"))?;
        if let Some(client_name) = field.file_name().map(str::to_owned) {
            // Refused on its headers, before anything is written.
            if file_limit == 0 {
                return Err(Error::invalid(format!(
                    "this route takes no files, but the part {name:?} carries one"
                )));
            }
            if params.files.len() >= MAX_FILES {
                return Err(Error::invalid(format!(
                    "a form may carry at most {MAX_FILES} files"
                )));
            }
            let client_type = field.content_type().map(|m| m.to_string());
            let temp = tempfile::Builder::new()
                .prefix("upload-")
                .tempfile_in(&limits.temp_dir)
                .map_err(|e| {
                    Error::Internal(anyhow::Error::new(e).context("creating an upload temp file"))
                })?
                .into_temp_path();
            let mut out = tokio::fs::File::create(&temp).await.map_err(|e| {
                Error::Internal(anyhow::Error::new(e).context("opening an upload temp file"))
            })?;
            let mut size = 0u64;
            let mut head = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(failed)? {
                size += chunk.len() as u64;
                if size > file_limit {
                    return Err(Error::UploadTooLarge { limit: file_limit });
                }
                if head.len() < HEAD_BYTES {
                    let take = (HEAD_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                }
                out.write_all(&chunk).await.map_err(|e| {
                    Error::Internal(anyhow::Error::new(e).context("writing an upload"))
                })?;
            }
            out.flush()
                .await
                .map_err(|e| Error::Internal(anyhow::Error::new(e).context("writing an upload")))?;
            params.files.insert(
                name,
                ReceivedFile {
                    temp,
                    client_name: Some(client_name).filter(|n| !n.is_empty()),
                    client_type,
                    size,
                    head,
                },
            );
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(failed)? {
                text_bytes += chunk.len() as u64;
                if text_bytes > text_limit {
                    return Err(Error::BodyTooLarge { limit: text_limit });
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value)
                .map_err(|_| Error::invalid(format!("field {name} is not valid UTF-8")))?;
            params.values.insert(name, Value::String(value));
        }
    }
    Ok(())
}

/// A multipart failure as the client sees it: a body past its cap is `too_large` (413), a
/// body that came too slowly 408, anything else a malformed body.
pub(crate) fn multipart_error(err: multer::Error, too_large: impl FnOnce() -> Error) -> Error {
    match err {
        multer::Error::StreamSizeExceeded { .. } => too_large(),
        multer::Error::StreamReadFailed(cause) => body_error(cause.as_ref()),
        other => Error::invalid(format!("malformed multipart body: {other}")),
    }
}

/// A failed body read as the client sees it: too slow (408), or cut off.
pub(crate) fn body_error(err: &(dyn std::error::Error + 'static)) -> Error {
    let mut cause = Some(err);
    while let Some(current) = cause {
        if current.is::<BodyTimeout>() {
            return Error::BodyTimeout;
        }
        cause = current.source();
    }
    Error::invalid(format!("reading the body failed: {err}"))
}
