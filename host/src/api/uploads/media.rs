//! Stored files over HTTP: one byte range, `HEAD`, validators and conditional requests
//! (so audio and video seek and caches revalidate), and the headers that keep a file inert
//! in a browser.
//!
//! tower-http's `ServeFile` reads the file, answers `HEAD`, one byte range (206, or 416
//! when it cannot be satisfied), `If-Modified-Since` and `If-Unmodified-Since`. What it
//! lacks is done here, before it sees the request: the entity tag (`ETag`, `If-None-Match`,
//! `If-Match`), `If-Range`, and the precedence RFC 9110 gives these headers. A request for
//! several ranges at once gets the whole file (200): a server may ignore `Range`, players
//! and browsers ask for one range, and a multipart answer would only add code to get wrong.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeFile;

use crate::error::{Error, Result};
use crate::uploads::ServedFile;

/// The headers of the request that `ServeFile` decides on, after the rules here.
const PASSED_ON: [HeaderName; 3] = [
    header::RANGE,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

/// Answers `method` (GET or HEAD) with `headers` for `file`.
pub(super) async fn serve(
    file: &ServedFile,
    method: Method,
    headers: &HeaderMap,
) -> Result<Response> {
    let etag = entity_tag(file);
    let last_modified = file.modified.map(http_date);
    let mut passed = HeaderMap::new();
    for name in PASSED_ON {
        if let Some(value) = headers.get(&name) {
            passed.insert(name, value.clone());
        }
    }
    // RFC 9110 13.2.2: If-Match before If-Unmodified-Since, If-None-Match before
    // If-Modified-Since; a date is not looked at when its tag header is there.
    if let Some(wanted) = headers.get(header::IF_MATCH) {
        passed.remove(header::IF_UNMODIFIED_SINCE);
        if !tag_matches(wanted, &etag, true) {
            return Ok(decorate(
                bare(StatusCode::PRECONDITION_FAILED),
                file,
                &etag,
                last_modified,
            ));
        }
    }
    if let Some(known) = headers.get(header::IF_NONE_MATCH) {
        passed.remove(header::IF_MODIFIED_SINCE);
        if tag_matches(known, &etag, false) {
            return Ok(decorate(
                bare(StatusCode::NOT_MODIFIED),
                file,
                &etag,
                last_modified,
            ));
        }
    }
    let range_applies = headers.get(header::RANGE).is_some_and(|range| {
        single_byte_range(range)
            && headers
                .get(header::IF_RANGE)
                .is_none_or(|if_range| if_range_holds(if_range, &etag, last_modified.as_deref()))
    });
    if !range_applies {
        passed.remove(header::RANGE);
    }

    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.headers_mut() = passed;
    let answer = ServeFile::new(&file.path)
        .try_call(request)
        .await
        .map_err(|e| Error::Internal(anyhow::Error::new(e).context("serving a stored file")))?;
    if answer.status() == StatusCode::NOT_FOUND {
        // Gone since it was found (a replaced avatar).
        return Err(Error::NotFound("no such file"));
    }
    let mut response = answer.map(Body::new);
    if response.status().is_success() {
        if let Ok(value) = HeaderValue::from_str(&file.content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
    }
    Ok(decorate(response, file, &etag, last_modified))
}

/// An answer without a body.
fn bare(status: StatusCode) -> Response {
    status.into_response()
}

/// Adds the validators and the headers every answer for a stored file carries: never
/// sniffed, never run as a page, offered for download unless it is a type browsers only
/// show, cached privately for good (stored files never change).
fn decorate(
    mut response: Response,
    file: &ServedFile,
    etag: &str,
    last_modified: Option<String>,
) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ),
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let disposition = content_disposition(file.inline, file.file_name.as_deref());
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(value) = last_modified.and_then(|date| HeaderValue::from_str(&date).ok()) {
        headers.insert(header::LAST_MODIFIED, value);
    }
    response
}

/// The strong entity tag of a stored file: its time of placing and its length. A stored
/// file never changes, and its random name is never given to another.
fn entity_tag(file: &ServedFile) -> String {
    let millis = file
        .modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    format!("\"{millis:x}-{:x}\"", file.len)
}

/// `time` as an HTTP date (IMF-fixdate), as `Last-Modified` carries it.
fn http_date(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Whether an `If-Match` (`strong`) or `If-None-Match` (weak comparison) list names `etag`.
fn tag_matches(list: &HeaderValue, etag: &str, strong: bool) -> bool {
    let Ok(list) = list.to_str() else {
        return false;
    };
    if list.trim() == "*" {
        return true;
    }
    list.split(',')
        .map(str::trim)
        .any(|tag| match tag.strip_prefix("W/") {
            Some(weak) => !strong && weak == etag,
            None => tag == etag,
        })
}

/// Whether `Range` asks for one range of bytes; anything else is ignored (the whole
/// file is sent).
fn single_byte_range(range: &HeaderValue) -> bool {
    range
        .to_str()
        .ok()
        .and_then(|r| r.strip_prefix("bytes="))
        .is_some_and(|ranges| !ranges.contains(','))
}

/// Whether `If-Range` still names this file: its entity tag, compared strongly, or
/// exactly its `Last-Modified` date. If not, the client's copy is stale and gets the whole
/// file.
fn if_range_holds(if_range: &HeaderValue, etag: &str, last_modified: Option<&str>) -> bool {
    let Ok(value) = if_range.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        value == etag
    } else {
        last_modified == Some(value)
    }
}

/// `Content-Disposition`: `inline` or `attachment`, with the name to save the file under
/// when there is one: an ASCII `filename` for old clients and the exact name as
/// `filename*` (RFC 5987/8187, UTF-8) when the two differ.
fn content_disposition(inline: bool, file_name: Option<&str>) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let Some(name) = file_name else {
        return kind.to_owned();
    };
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if !matches!(c, '"' | '\\' | '%') => c,
            _ => '_',
        })
        .collect();
    if fallback == name {
        format!("{kind}; filename=\"{fallback}\"")
    } else {
        format!(
            "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}",
            percent_encode(name)
        )
    }
}

/// `text` as an RFC 8187 `value-chars`: `attr-char`s as they are, every other byte of its
/// UTF-8 as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).expect("header value")
    }

    #[test]
    fn names_are_offered_in_ascii_and_in_utf8() {
        assert_eq!(content_disposition(false, None), "attachment");
        assert_eq!(
            content_disposition(true, Some("photo 1.png")),
            "inline; filename=\"photo 1.png\""
        );
        assert_eq!(
            content_disposition(false, Some("报告.pdf")),
            "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf"
        );
        assert_eq!(
            content_disposition(false, Some("100% 'sure'.txt")),
            "attachment; filename=\"100_ 'sure'.txt\"; filename*=UTF-8''100%25%20%27sure%27.txt"
        );
    }

    #[test]
    fn tags_compare_weakly_or_strongly() {
        let etag = "\"1a-2b\"";
        assert!(tag_matches(&value("\"1a-2b\""), etag, true));
        assert!(tag_matches(&value("\"x\", W/\"1a-2b\""), etag, false));
        assert!(!tag_matches(&value("W/\"1a-2b\""), etag, true));
        assert!(tag_matches(&value("*"), etag, true));
        assert!(!tag_matches(&value("\"other\""), etag, false));
    }

    #[test]
    fn only_one_byte_range_is_honoured() {
        assert!(single_byte_range(&value("bytes=0-99")));
        assert!(single_byte_range(&value("bytes=-5")));
        assert!(!single_byte_range(&value("bytes=0-1,5-9")));
        assert!(!single_byte_range(&value("pages=1-2")));
    }

    #[test]
    fn if_range_needs_the_exact_validator() {
        let (etag, date) = ("\"1a-2b\"", Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(if_range_holds(&value("\"1a-2b\""), etag, date));
        assert!(!if_range_holds(&value("W/\"1a-2b\""), etag, date));
        assert!(if_range_holds(
            &value("Sun, 06 Nov 1994 08:49:37 GMT"),
            etag,
            date
        ));
        assert!(!if_range_holds(
            &value("Sun, 06 Nov 1994 08:49:38 GMT"),
            etag,
            date
        ));
        assert!(!if_range_holds(&value("\"stale\""), etag, date));
    }

    #[test]
    fn dates_are_imf_fixdate() {
        let time = UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(http_date(time), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
