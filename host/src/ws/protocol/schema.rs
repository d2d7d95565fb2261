//! The JSON Schema (draft 2020-12) of the WebSocket frames, for client authors: published as
//! docs/schema/ws-frames.schema.json (`confab schema ws-frames`), from which
//! clients/typescript/ generates its TypeScript types.
//!
//! The shapes are generated from the types that really read and write frames: the server's
//! wire structs (`server_wire.rs`, `change_frames.rs`) described as they serialise, and the
//! canonical client frames (`wire.rs`) as they deserialise. What a type alone cannot say,
//! which `code` and fixed `content` each server frame carries and which of a shared
//! struct's fields it sends, comes from the table in `server_shapes.rs`, with the codes
//! taken from [`Code`]. The tests encode every frame with the real encoders and validate it.

use schemars::generate::SchemaSettings;
use schemars::Schema;
use serde_json::{json, Map, Value};

use super::server_shapes::{shapes, Codes, Shape, Text};
use super::wire;
use crate::error::Code;

/// The JSON Schema of every WebSocket frame: `$defs` `ClientFrame` (what a client sends,
/// `oneOf` its shapes), `ServerFrame` (what the server sends, `anyOf` its titled shapes,
/// which overlap: several answers share 50002, and a refusal may carry any code) and `Code`
/// (the table of codes).
pub fn ws_frames_schema() -> Value {
    let mut defs = Map::new();

    let mut client = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    client.subschema_for::<wire::ClientFrame>();
    for (name, mut schema) in client.take_definitions(true) {
        if let Some(object) = schema.as_object_mut() {
            optional_not_null(object);
        }
        defs.insert(name, schema);
    }

    let mut server = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut server_frames = Vec::new();
    for shape in shapes() {
        let schema = narrowed(&shape, (shape.schema)(&mut server));
        server_frames.push(json!({"$ref": format!("#/$defs/{}", shape.title)}));
        defs.insert(shape.title.to_owned(), schema);
    }
    defs.extend(server.take_definitions(true));
    defs.insert(
        "ServerFrame".to_owned(),
        json!({
            "description": "A frame from the server: JSON text, one of these shapes. Answers \
                come in the order the frames arrived. Shapes overlap (several answers carry \
                50002, and a refusal may carry any code), so tell them apart by `code` and \
                then by their fields.",
            "anyOf": server_frames,
        }),
    );
    code_table(&mut defs);

    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Confab WebSocket frames",
        "description": "The frames of GET /chat/ws and GET /chat/group_ws (docs/protocol.md): \
            a client sends a ClientFrame, the server sends ServerFrames. Generated from the \
            server's types by `confab schema ws-frames`.",
        "anyOf": [{"$ref": "#/$defs/ClientFrame"}, {"$ref": "#/$defs/ServerFrame"}],
        "$defs": defs,
    })
}

/// A wire struct's schema narrowed to one shape: its title, its code, its text, and only
/// the fields it sends.
fn narrowed(shape: &Shape, schema: Schema) -> Value {
    let mut schema = schema.to_value();
    let Some(object) = schema.as_object_mut() else {
        return schema;
    };
    object.insert("title".to_owned(), json!(shape.title));
    object.insert("description".to_owned(), json!(shape.about));
    optional_not_null(object);
    if let Some(Value::Array(required)) = object.get_mut("required") {
        required.retain(|field| !field.as_str().is_some_and(|f| shape.omit.contains(&f)));
        required.extend(shape.require.iter().map(|field| json!(field)));
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.retain(|field, _| !shape.omit.contains(&field.as_str()));
        match code_schema(shape.code) {
            Some(code) => {
                properties.insert("code".to_owned(), code);
            }
            None => properties.retain(|field, _| field != "code"),
        }
        if let Some(content) = properties.get_mut("content") {
            narrow_text(content, shape.content);
        }
    }
    schema
}

/// An optional field is left out rather than sent as null, by the server's frames and by
/// canonical client frames: `null` is dropped from its schema.
fn optional_not_null(object: &mut Map<String, Value>) {
    let required = object
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(Value::Object(properties)) = object.get_mut("properties") else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        if required.iter().any(|field| field == name) {
            continue;
        }
        let Some(property) = property.as_object_mut() else {
            continue;
        };
        if let Some(Value::Array(types)) = property.get_mut("type") {
            types.retain(|kind| kind != "null");
            if let [only] = types.as_slice() {
                let only = only.clone();
                property.insert("type".to_owned(), only);
            }
        }
        if let Some(Value::Array(options)) = property.get_mut("anyOf") {
            options.retain(|option| option != &json!({"type": "null"}));
            if let [Value::Object(only)] = options.as_slice() {
                let only = only.clone();
                property.retain(|key, _| key != "anyOf");
                for (key, value) in only {
                    property.entry(key).or_insert(value);
                }
            }
        }
    }
}

/// The codes of the frames that are not refusals: 0 (history entries), 50001–50005 and
/// 50010–50017. A refusal never carries one (50006, the rate limit, is a refusal).
const ANSWER_CODES: [u32; 14] = [
    0, 50001, 50002, 50003, 50004, 50005, 50010, 50011, 50012, 50013, 50014, 50015, 50016, 50017,
];

/// The schema of a shape's `code`; `None` when it has none.
fn code_schema(codes: Codes) -> Option<Value> {
    Some(match codes {
        Codes::One(code) => code_ref(code),
        Codes::Either(a, b) => json!({"anyOf": [code_ref(a), code_ref(b)]}),
        Codes::Refusal => json!({
            "description": "A code of the table, or a plugin's own code; never one the \
                other shapes carry (0, 50001–50005, 50010–50017), so a refusal is told \
                apart by its code.",
            "anyOf": [
                {"$ref": "#/$defs/Code"},
                {"type": "integer", "minimum": 0, "maximum": u32::MAX},
            ],
            "not": {"enum": ANSWER_CODES},
        }),
        Codes::Zero => json!({
            "description": "0: the seed's history entries carry a code outside the table.",
            "const": 0,
        }),
        Codes::Absent => return None,
    })
}

/// The name in `$defs` of one code of the table: `CodeWsOk`.
fn code_name(code: Code) -> String {
    format!("Code{code:?}")
}

fn code_ref(code: Code) -> Value {
    json!({"$ref": format!("#/$defs/{}", code_name(code))})
}

fn narrow_text(content: &mut Value, text: Text) {
    let Some(content) = content.as_object_mut() else {
        return;
    };
    match text {
        Text::Free => {}
        Text::Fixed(text) => {
            content.insert("const".to_owned(), json!(text));
        }
        Text::Either(a, b) => {
            content.insert("enum".to_owned(), json!([a, b]));
        }
    }
}

/// `Code`, every code of the table, and each code on its own (`CodeWsOk`, 50002) with the
/// seed's message, for the shapes to refer to.
fn code_table(defs: &mut Map<String, Value>) {
    let mut codes = Vec::new();
    for code in Code::ALL {
        defs.insert(
            code_name(code),
            json!({
                "description": format!("{}: {}", code.number(), code.msg()),
                "const": code.number(),
            }),
        );
        codes.push(code_ref(code));
    }
    defs.insert(
        "Code".to_owned(),
        json!({
            "description": "A wire code: a WebSocket frame's `code`, and a REST envelope's \
                `status`. docs/api.md explains each.",
            "oneOf": codes,
        }),
    );
}
