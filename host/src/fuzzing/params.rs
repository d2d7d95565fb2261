//! Request parameters: a query string and a form body read alike, a JSON body adds exactly
//! its object's members, a multipart form keeps every field and file, and what was read,
//! written again by a plain encoder, reads the same.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::body::Body;
use serde_json::Value;

use crate::api::params::{add_multipart, FormLimits, Params};
use crate::uploads::HEAD_BYTES;

use super::close;

/// The boundary of the multipart bodies the check reads.
const MULTIPART_BOUNDARY: &str = "fuzz";

/// The text and file limits of the multipart check: small, so fuzzing reaches them.
const FORM_BYTES: u64 = 4096;

/// A query string and the same bytes as a form body.
pub fn params_urlencoded(data: &[u8]) {
    let mut form = Params::default();
    let read = form.add_form(data);
    if let Ok(query) = std::str::from_utf8(data) {
        let mut from_query = Params::default();
        let read_query = from_query.add_query(query);
        assert_eq!(read_query.is_ok(), read.is_ok(), "query and form disagree");
        assert_eq!(
            from_query.values(),
            form.values(),
            "query and form disagree"
        );
    }
    if read.is_err() {
        return;
    }
    check_accessors(&form);
    let pairs: Vec<(&str, &str)> = form
        .values()
        .iter()
        .map(|(name, value)| match value {
            Value::String(text) => (name.as_str(), text.as_str()),
            other => panic!("{name} holds {other}, not text"),
        })
        .collect();
    let written = serde_urlencoded::to_string(&pairs).expect("pairs of text encode");
    let mut again = Params::default();
    again
        .add_query(&written)
        .unwrap_or_else(|e| panic!("{written:?} written back does not read: {e}"));
    assert_eq!(
        again.values(),
        form.values(),
        "{written:?} reads differently"
    );
}

/// A JSON body.
pub fn params_json(data: &[u8]) {
    let mut params = Params::default();
    let read = params.add_json(data);
    let blank = data.iter().all(u8::is_ascii_whitespace);
    let object = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    assert_eq!(
        read.is_ok(),
        blank || object.is_some(),
        "accepted a body that is not an object: {read:?}"
    );
    let expected: HashMap<String, Value> = object.into_iter().flatten().collect();
    assert_eq!(params.values(), &expected, "not the object's members");
    check_accessors(&params);
    let written = serde_json::to_vec(params.values()).expect("JSON values encode");
    let mut again = Params::default();
    again
        .add_json(&written)
        .unwrap_or_else(|e| panic!("the members written back do not read: {e}"));
    assert_eq!(again.values().len(), params.values().len());
    for (name, value) in params.values() {
        let other = &again.values()[name];
        assert!(
            same(value, other),
            "{name}: {value} written back reads as {other}"
        );
    }
}

/// Whether two JSON values are equal, floats within their last digits (see [`close`]).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => close(
            x.as_f64().unwrap_or(f64::NAN),
            y.as_f64().unwrap_or(f64::NAN),
        ),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
}

/// A multipart body with the boundary [`MULTIPART_BOUNDARY`].
pub fn params_multipart(data: &[u8]) {
    let Ok(form) = read_multipart(data.to_vec(), MULTIPART_BOUNDARY, FORM_BYTES) else {
        return;
    };
    assert!(form.params.files().len() <= 4, "more than 4 files");
    assert!(form.params.values().len() <= 64, "more than 64 fields");
    let text_bytes: usize = form
        .params
        .values()
        .values()
        .map(|value| match value {
            Value::String(text) => text.len(),
            other => panic!("a multipart field holds {other}, not text"),
        })
        .sum();
    assert!(text_bytes as u64 <= FORM_BYTES, "text over the limit");
    check_accessors(&form.params);
    for (name, file) in form.params.files() {
        let content = &form.contents[name];
        assert_eq!(file.size, content.len() as u64, "size of {name}");
        assert!(file.size <= FORM_BYTES, "file over the limit");
        assert_eq!(
            file.head,
            content[..content.len().min(HEAD_BYTES)],
            "head of {name}"
        );
        assert!(
            file.client_name.as_deref() != Some(""),
            "an empty file name"
        );
    }
    // A form whose names a plain encoder can quote is written back and read again.
    let names = form
        .params
        .values()
        .keys()
        .chain(form.params.files().keys());
    let file_names = form.params.files().values().flat_map(|f| &f.client_name);
    if !names.chain(file_names).all(|name| quotable(name)) {
        return;
    }
    let (written, boundary) = write_multipart(&form);
    // The limits were checked on the first reading; the plain encoder's framing may be
    // longer than the original's.
    let again = read_multipart(written, &boundary, u64::MAX / 2)
        .unwrap_or_else(|e| panic!("the form written back does not read: {e}"));
    assert_eq!(again.params.values(), form.params.values(), "fields differ");
    assert_eq!(again.contents, form.contents, "file contents differ");
    for (name, file) in form.params.files() {
        let other = &again.params.files()[name];
        assert_eq!(other.client_name, file.client_name, "file name of {name}");
        assert_eq!(
            other.client_type, file.client_type,
            "content type of {name}"
        );
    }
}

/// A multipart form as read, with the contents of its files.
struct Form {
    params: Params,
    contents: HashMap<String, Vec<u8>>,
}

/// Reads a form whose text fields together, and each file, may hold `limit` bytes.
fn read_multipart(body: Vec<u8>, boundary: &str, limit: u64) -> crate::Result<Form> {
    let limits = FormLimits {
        text_bytes: limit,
        file_bytes: limit,
        temp_dir: std::env::temp_dir(),
    };
    let mut params = Params::default();
    runtime().block_on(add_multipart(
        &mut params,
        Body::from(body),
        boundary.to_owned(),
        &limits,
    ))?;
    let contents = params
        .files()
        .iter()
        .map(|(name, file)| {
            let content = std::fs::read(&file.temp).expect("a received file can be read");
            (name.clone(), content)
        })
        .collect();
    Ok(Form { params, contents })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime builds")
    })
}

/// Whether `name` can be written as a quoted `Content-Disposition` parameter that reads
/// back as itself.
fn quotable(name: &str) -> bool {
    !name
        .chars()
        .any(|c| matches!(c, '"' | '\\' | ';') || c.is_whitespace() || c.is_control())
}

/// The form as a client would write it, under a boundary found in none of its parts.
fn write_multipart(form: &Form) -> (Vec<u8>, String) {
    let mut boundary = String::from("confab-form");
    let parts: Vec<&[u8]> = form
        .params
        .values()
        .values()
        .map(|value| value.as_str().unwrap_or_default().as_bytes())
        .chain(form.contents.values().map(Vec::as_slice))
        .collect();
    while parts.iter().any(|part| {
        part.windows(boundary.len())
            .any(|w| w == boundary.as_bytes())
    }) {
        boundary.push('x');
    }
    let mut body = Vec::new();
    for (name, value) in form.params.values() {
        let mut head = format!("--{boundary}\r\n");
        let _ = write!(
            head,
            "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
        );
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(value.as_str().unwrap_or_default().as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    for (name, file) in form.params.files() {
        let mut head = format!("--{boundary}\r\n");
        let client_name = file.client_name.as_deref().unwrap_or_default();
        let _ = write!(
            head,
            "Content-Disposition: form-data; name=\"{name}\"; filename=\"{client_name}\"\r\n"
        );
        if let Some(content_type) = &file.client_type {
            let _ = write!(head, "Content-Type: {content_type}\r\n");
        }
        head.push_str("\r\n");
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(&form.contents[name]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (body, boundary)
}

/// The typed readers agree with the value each name holds.
fn check_accessors(params: &Params) {
    for (name, value) in params.values() {
        let names = [name.as_str()];
        let text = params.text(&names);
        match value {
            Value::Null => assert!(matches!(text, Ok(None)), "{name}: null is absent"),
            Value::String(s) => assert_eq!(text.as_ref().ok(), Some(&Some(s.clone()))),
            Value::Number(n) => assert_eq!(text.as_ref().ok(), Some(&Some(n.to_string()))),
            _ => assert!(text.is_err(), "{name}: {value} read as text"),
        }
        let Ok(text) = text else { continue };
        let int = params.int(&names).ok().flatten();
        let trimmed = text.as_deref().map(str::trim).unwrap_or_default();
        assert_eq!(int, trimmed.parse::<i64>().ok(), "{name}: whole number");
        assert_eq!(
            params.required(&names).is_ok(),
            text.is_some_and(|t| !t.is_empty()),
            "{name}: required"
        );
        if let Ok(id) = params.id(&names) {
            assert!(id > 0, "{name}: id {id}");
        }
    }
}
