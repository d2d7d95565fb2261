//! The strict reading of the document: every object closed, to find the fields answers
//! carry that their schemas do not list (the published schemas leave objects open, so such
//! fields are noted, not refused).

use std::collections::BTreeSet;

use serde_json::Value;

/// The document with `additionalProperties: false` on every object schema with
/// `properties`, except the parts of an `allOf` and the components they name (each part
/// sees only its own properties): what answers would have to fit if every field they carry
/// were documented.
pub(super) fn closed(doc: &Value) -> Value {
    let mut open = BTreeSet::new();
    all_of_parts(doc, false, &mut open);
    let mut strict = doc.clone();
    close(&mut strict, false);
    for name in open {
        if let Some(schema) = strict.pointer_mut(&format!("/components/schemas/{name}")) {
            if let Some(map) = schema.as_object_mut() {
                map.remove("additionalProperties");
            }
        }
    }
    strict
}

fn all_of_parts(value: &Value, in_all_of: bool, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if in_all_of {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    names.insert(name.to_owned());
                }
            }
            for (key, child) in map {
                all_of_parts(child, key == "allOf", names);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| all_of_parts(i, in_all_of, names)),
        _ => {}
    }
}

fn close(value: &mut Value, in_all_of: bool) {
    match value {
        Value::Object(map) => {
            if !in_all_of
                && map.contains_key("properties")
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, child) in map.iter_mut() {
                close(child, key == "allOf");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| close(i, in_all_of)),
        _ => {}
    }
}
