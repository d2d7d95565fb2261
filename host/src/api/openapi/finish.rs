//! The last touches on the whole document, made on its JSON: what utoipa cannot say per
//! handler.
//!
//! - Operation ids are `method` + path (`post_user_login`): unique by construction, and
//!   predictable for generated clients (handler names repeat across files and methods).
//! - A 200 answer in the envelope may also be a refusal: the seed answered its domain
//!   refusals (a conflict, not allowed, no such user, …) with HTTP 200 and the code in
//!   `status`, and Confab keeps that, so such a response is `anyOf` the route's envelope
//!   and `ErrorEnvelope`.
//! - Type aliases of `i64` (user and group ids) come out of utoipa as a reference to a
//!   schema named `i64`; they are written inline as 64-bit integers.

use serde_json::{json, Value};

/// The prefix of every success envelope's schema name (`Envelope<T>` is `Envelope_T`).
const ENVELOPE: &str = "#/components/schemas/Envelope_";
/// What a reference to an `i64` alias points at.
const I64: &str = "#/components/schemas/i64";
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The document with the touches above.
pub(super) fn finish(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                if let Some(operation) = item.get_mut(method).filter(|o| o.is_object()) {
                    operation["operationId"] = operation_id(method, path).into();
                    admit_refusals_in_ok(operation);
                }
            }
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.remove("i64");
    }
    inline_i64(doc);
}

/// `post` and `/admin/users/{id}/ban` give `post_admin_users_id_ban`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for word in path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        id.push('_');
        id.push_str(word);
    }
    // `/admin/` beside `/admin`.
    if path.len() > 1 && path.ends_with('/') {
        id.push_str("_slash");
    }
    id
}

fn admit_refusals_in_ok(operation: &mut Value) {
    let Some(schema) = operation.pointer_mut("/responses/200/content/application~1json/schema")
    else {
        return;
    };
    let is_envelope = schema
        .get("$ref")
        .and_then(Value::as_str)
        .is_some_and(|target| target.starts_with(ENVELOPE));
    if !is_envelope {
        return;
    }
    let envelope = schema.take();
    *schema = json!({
        "anyOf": [envelope, {"$ref": "#/components/schemas/ErrorEnvelope"}],
    });
    if let Some(description) = operation
        .pointer_mut("/responses/200/description")
        .filter(|d| d.is_string())
    {
        let text = description.as_str().unwrap_or_default().to_owned();
        *description = Value::from(format!(
            "{text}. A refusal of the request itself (a conflict, not allowed, not found, …) \
             also answers HTTP 200, with its code in `status` (the seed's convention): \
             `status` 200 is success."
        ));
    }
}

fn inline_i64(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("$ref").and_then(Value::as_str) == Some(I64) {
                map.remove("$ref");
                map.insert("type".into(), "integer".into());
                map.insert("format".into(), "int64".into());
            }
            map.values_mut().for_each(inline_i64);
        }
        Value::Array(items) => items.iter_mut().for_each(inline_i64),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_follow_method_and_path() {
        assert_eq!(operation_id("get", "/user/me"), "get_user_me");
        assert_eq!(
            operation_id("post", "/admin/users/{id}/ban"),
            "post_admin_users_id_ban"
        );
        assert_eq!(operation_id("get", "/openapi.json"), "get_openapi_json");
        assert_eq!(operation_id("get", "/admin/"), "get_admin_slash");
    }
}
