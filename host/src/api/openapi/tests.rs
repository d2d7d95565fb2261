//! The document against the router, and against the OpenAPI 3.1 schema.

use std::collections::BTreeSet;

use serde_json::Value;

use super::document;
use crate::api::route_table;

/// The official schema of OpenAPI 3.1 documents (spec.openapis.org/oas/3.1/schema/2025-11-23,
/// Apache-2.0), kept here so the check needs no network.
const OAS_31_SCHEMA: &str = include_str!("oas-3.1-schema.json");

fn json() -> Value {
    document()
}

/// Every `(path, METHOD)` the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("a path item") {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                found.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    found
}

fn served() -> BTreeSet<(String, String)> {
    route_table()
        .into_iter()
        .map(|route| (route.path.to_owned(), route.method.to_string()))
        .collect()
}

#[test]
fn every_route_of_the_router_is_documented() {
    let missing: Vec<_> = served().difference(&documented(&json())).cloned().collect();
    assert!(
        missing.is_empty(),
        "routes missing from /openapi.json: {missing:#?}"
    );
}

#[test]
fn the_document_describes_no_route_the_router_lacks() {
    let extra: Vec<_> = documented(&json()).difference(&served()).cloned().collect();
    assert!(extra.is_empty(), "documented but not served: {extra:#?}");
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let schema: Value = serde_json::from_str(OAS_31_SCHEMA).expect("the schema parses");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let doc = json();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|err| format!("{} at {}", err, err.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not valid OpenAPI 3.1: {errors:#?}");
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn every_schema_of_the_document_is_valid_json_schema() {
    let doc = json();
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        assert!(
            jsonschema::meta::is_valid(schema),
            "components.schemas.{name} is not valid JSON Schema: {schema:#}"
        );
    }
}

#[test]
fn every_reference_resolves() {
    let doc = json();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.trim_start_matches('#');
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} points at nothing"
        );
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => refs.push(target.clone()),
                    _ => collect_refs(inner, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[test]
fn every_code_of_the_table_is_in_the_document() {
    let doc = json();
    let listed: BTreeSet<u64> = doc["components"]["schemas"]["Code"]["oneOf"]
        .as_array()
        .expect("Code is a oneOf")
        .iter()
        .map(|item| item["enum"][0].as_u64().expect("a number"))
        .collect();
    for code in crate::error::Code::ALL {
        assert!(
            listed.contains(&u64::from(code.number())),
            "{code:?} missing"
        );
    }
}

#[test]
fn every_operation_answers_in_the_envelope() {
    let doc = json();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let responses = &operation["responses"];
            assert!(
                responses.get("4XX").is_some(),
                "{method} {path} does not describe its refusals"
            );
            assert!(
                responses
                    .as_object()
                    .expect("responses")
                    .keys()
                    .any(|k| k.starts_with('2') || k.starts_with('1') || k.starts_with('3')),
                "{method} {path} does not describe success"
            );
        }
    }
}

#[test]
fn the_validator_refuses_a_broken_document() {
    let schema: Value = serde_json::from_str(OAS_31_SCHEMA).expect("the schema parses");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let mut doc = json();
    doc["paths"]["/user/me"]["get"]["responses"]["200"] = Value::from("not a response");
    assert!(!validator.is_valid(&doc));
    let mut doc = json();
    doc.as_object_mut().expect("an object").remove("info");
    assert!(!validator.is_valid(&doc));
}

#[test]
fn operation_ids_are_unique() {
    let doc = json();
    let mut seen = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(seen.insert(id.to_owned()), "{method} {path}: {id} repeats");
        }
    }
}

#[test]
fn an_answer_in_the_envelope_may_be_a_refusal_with_http_200() {
    let doc = json();
    let ok = &doc["paths"]["/friend/add"]["post"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    let any_of = ok["anyOf"].as_array().expect("anyOf");
    assert_eq!(any_of[1]["$ref"], "#/components/schemas/ErrorEnvelope");
    // Answers not in the envelope are left alone.
    let health = &doc["paths"]["/healthz"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert!(health.get("anyOf").is_none(), "{health:#}");
    // No schema named after a Rust integer type is left.
    assert!(doc["components"]["schemas"].get("i64").is_none());
    assert!(!doc.to_string().contains("#/components/schemas/i64"));
}

#[test]
fn no_rust_doc_link_reaches_the_document() {
    let text = json().to_string();
    assert!(!text.contains("[`"), "a rustdoc link in a description");
}

#[test]
fn a_success_envelope_is_not_a_refusal() {
    let doc = json();
    let mut root = doc.clone();
    root["$ref"] = Value::from("#/components/schemas/ErrorEnvelope");
    let validator = jsonschema::draft202012::new(&root).expect("compiles");
    let success = serde_json::json!({"status": 200, "data": null, "msg": "success", "error": ""});
    assert!(!validator.is_valid(&success));
    let refusal =
        serde_json::json!({"status": 30023, "data": null, "msg": "x", "error": "already friends"});
    assert!(validator.is_valid(&refusal));
}
