//! The frames' schema against the real encoders and the real parser: every server frame,
//! encoded with sample data, fits its shape; every canonical client frame fits
//! `ClientFrame` and is accepted by the parser; malformed frames are refused by both.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::tests::accepted;
use super::{wire, ClientFrame, ServerFrame};
use crate::conversations::Mention;
use crate::error::Code;
use crate::messages::changes::{Change, Tally};
use crate::messages::{Conversation, Message};
use crate::ws::change_frames::{self, Request};

/// A validator of one definition of the document; `strict` also refuses fields the shape
/// does not list (the published shapes allow more, for fields added later).
fn validator(definition: &str, strict: bool) -> jsonschema::Validator {
    let mut schema = super::ws_frames_schema();
    if strict {
        for shape in schema["$defs"].as_object_mut().expect("$defs").values_mut() {
            if shape.get("properties").is_some() {
                shape["additionalProperties"] = json!(false);
            }
        }
    }
    schema["anyOf"] = json!([{ "$ref": format!("#/$defs/{definition}") }]);
    jsonschema::draft202012::new(&schema).expect("the schema compiles")
}

fn errors(validator: &jsonschema::Validator, frame: &Value) -> Vec<String> {
    validator
        .iter_errors(frame)
        .map(|err| format!("{err} at {}", err.instance_path()))
        .collect()
}

fn decoded(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

/// The shape a server frame is encoded as; a new variant fails to compile here.
fn shape_of(frame: &ServerFrame<'_>) -> &'static str {
    match frame {
        ServerFrame::Welcome => "Welcome",
        ServerFrame::BadFrame(_) | ServerFrame::Error { .. } => "Refusal",
        ServerFrame::Direct(_) => "DirectMessage",
        ServerFrame::DirectHistory { .. } => "HistoryMessage",
        ServerFrame::DirectAck { .. } => "DirectAck",
        ServerFrame::Group { .. } => "GroupMessage",
        ServerFrame::GroupAck { .. } => "GroupAck",
        ServerFrame::Listed { message, .. } => match message.conversation {
            Conversation::Group(_) => "GroupMessage",
            Conversation::Direct(..) => "HistoryMessage",
        },
        ServerFrame::Mentioned(_) => "Mentioned",
        ServerFrame::End => "End",
        ServerFrame::MoreUnread => "MoreUnread",
        ServerFrame::Renewed { .. } => "Renewed",
    }
}

/// The shape of a change frame; a new change fails to compile here.
fn change_shape(change: &Change) -> &'static str {
    match change {
        Change::Edited { .. } => "Edited",
        Change::Recalled { .. } => "Recalled",
        Change::Hidden { .. } => "Hidden",
        Change::Reacted { .. } => "Reacted",
        Change::Read { .. } => "ReadReceipt",
        Change::Delivered { .. } => "DeliveryReceipt",
        Change::Typing { .. } => "TypingNotice",
    }
}

fn message(conversation: Conversation, rich: bool) -> Message {
    Message {
        id: 12,
        conversation,
        sender: 3,
        recipient: match conversation {
            Conversation::Direct(..) => Some(4),
            Conversation::Group(_) => None,
        },
        content: "你好 \"quoted\"".to_owned(),
        client_id: (!rich).then(|| "c-9".to_owned()),
        sent_at: 1_700_000_123_456,
        read: rich,
        reply_to: rich.then_some(5),
        edited_at: rich.then_some(1_700_000_200_000),
    }
}

/// Every server frame, encoded by the real encoders with sample data, with its shape.
fn server_frames() -> Vec<(&'static str, Value)> {
    let direct = message(Conversation::direct(3, 4), false);
    let rich = message(Conversation::direct(3, 4), true);
    let group = message(Conversation::Group(7), false);
    let rich_group = message(Conversation::Group(7), true);
    let tally: Tally = [("👍".to_owned(), vec![4, 3]), ("🎉".to_owned(), vec![3])].into();
    let mention = Mention {
        group: 7,
        message: 12,
        sender: 3,
    };
    let frames = [
        ServerFrame::Welcome,
        ServerFrame::BadFrame("invalid JSON"),
        ServerFrame::Error {
            code: Code::NotFound.number(),
            content: "no such message",
            client_id: Some("c-1"),
        },
        ServerFrame::Error {
            code: 4_000_000_000,
            content: "a plugin's own code",
            client_id: None,
        },
        ServerFrame::Direct(&direct),
        ServerFrame::Direct(&rich),
        ServerFrame::DirectHistory {
            message: &direct,
            viewer: 4,
        },
        ServerFrame::DirectHistory {
            message: &rich,
            viewer: 3,
        },
        ServerFrame::DirectAck {
            message: &direct,
            online: true,
        },
        ServerFrame::DirectAck {
            message: &rich,
            online: false,
        },
        ServerFrame::Group {
            message: &group,
            group: 7,
        },
        ServerFrame::Group {
            message: &rich_group,
            group: 7,
        },
        ServerFrame::GroupAck {
            message: &group,
            group: 7,
        },
        ServerFrame::Listed {
            message: &rich,
            viewer: 4,
            reactions: Some(&tally),
        },
        ServerFrame::Listed {
            message: &rich_group,
            viewer: 4,
            reactions: Some(&tally),
        },
        ServerFrame::Listed {
            message: &group,
            viewer: 4,
            reactions: None,
        },
        ServerFrame::Mentioned(&mention),
        ServerFrame::End,
        ServerFrame::MoreUnread,
        ServerFrame::Renewed {
            expires: 1_800_000_000,
        },
    ];
    let mut encoded: Vec<(&str, Value)> = frames
        .iter()
        .map(|frame| (shape_of(frame), decoded(frame.encode().as_str())))
        .collect();
    // Acknowledgements of messages a plugin rewrote.
    for frame in [
        ServerFrame::DirectAck {
            message: &direct,
            online: true,
        },
        ServerFrame::GroupAck {
            message: &group,
            group: 7,
        },
    ] {
        encoded.push((
            shape_of(&frame),
            decoded(frame.encode_ack("typed").as_str()),
        ));
    }
    let changes = [
        Change::Edited {
            id: 12,
            by: 3,
            content: "new".into(),
            at: 1_700_000_000_500,
        },
        Change::Recalled { id: 12, by: 3 },
        Change::Recalled { id: 12, by: 0 },
        Change::Hidden { id: 12, by: 4 },
        Change::Reacted {
            id: 12,
            by: 4,
            emoji: "👍".into(),
            on: true,
        },
        Change::Read { by: 4, up_to: 12 },
        Change::Delivered { by: 4, id: 12 },
        Change::Typing { by: 4 },
    ];
    for conversation in [Conversation::direct(3, 4), Conversation::Group(7)] {
        for change in &changes {
            let frame = change_frames::encode(conversation, change);
            encoded.push((change_shape(change), decoded(frame.as_str())));
        }
    }
    let requests = [
        Request::Edit {
            id: 12,
            content: "new".into(),
        },
        Request::Recall { id: 12 },
        Request::Hide { id: 12 },
        Request::React {
            id: 12,
            emoji: "👍".into(),
            on: None,
        },
        Request::Receipt {
            id: 12,
            delivered: true,
        },
    ];
    for request in &requests {
        let frame = change_frames::ack(request, Some("c-2"), None);
        encoded.push(("ChangeAck", decoded(frame.as_str())));
    }
    let rewritten = change_frames::ack(&requests[0], None, Some("n*w"));
    encoded.push(("ChangeAck", decoded(rewritten.as_str())));
    encoded
}

#[test]
fn every_server_frame_fits_its_shape_and_the_union() {
    let union = validator("ServerFrame", false);
    for (shape, frame) in server_frames() {
        let errors_of_shape = errors(&validator(shape, true), &frame);
        assert!(
            errors_of_shape.is_empty(),
            "{frame} does not fit {shape}: {errors_of_shape:#?}"
        );
        assert!(union.is_valid(&frame), "{frame} is not a ServerFrame");
    }
}

#[test]
fn every_shape_of_the_union_is_sent() {
    let schema = super::ws_frames_schema();
    let listed: BTreeSet<String> = schema["$defs"]["ServerFrame"]["anyOf"]
        .as_array()
        .expect("anyOf")
        .iter()
        .map(|shape| {
            shape["$ref"]
                .as_str()
                .expect("$ref")
                .replace("#/$defs/", "")
        })
        .collect();
    let sent: BTreeSet<String> = server_frames()
        .into_iter()
        .map(|(shape, _)| shape.to_owned())
        .collect();
    assert_eq!(listed, sent);
    for shape in &listed {
        assert_eq!(schema["$defs"][shape]["title"], json!(shape));
    }
}

#[test]
fn a_shape_holds_its_frames_to_their_code() {
    for (shape, mut frame) in server_frames() {
        if shape == "Refusal" || frame.get("code").is_none() {
            continue;
        }
        frame["code"] = json!(Code::Blocked.number());
        assert!(
            !validator(shape, false).is_valid(&frame),
            "{shape} accepts {frame}"
        );
    }
    let mut welcome = decoded(ServerFrame::Welcome.encode().as_str());
    welcome["content"] = json!("hello");
    assert!(!validator("Welcome", false).is_valid(&welcome));
    let no_group = json!({"sender": "3", "content": "hi", "timestamp": 1, "id": 2});
    assert!(!validator("GroupMessage", false).is_valid(&no_group));
}

#[test]
fn no_answer_reads_as_a_refusal() {
    for (shape, frame) in server_frames() {
        if shape == "Refusal" {
            assert!(validator("Refusal", false).is_valid(&frame), "{frame}");
        } else {
            assert!(
                !validator("Refusal", false).is_valid(&frame),
                "{shape} also fits Refusal: {frame}"
            );
        }
    }
}

/// The variant of the typed client frame; a new variant fails to compile here.
fn variant(frame: &wire::ClientFrame) -> &'static str {
    match frame {
        wire::ClientFrame::Send(_) => "Send",
        wire::ClientFrame::GroupSend(_) => "GroupSend",
        wire::ClientFrame::History(_) => "History",
        wire::ClientFrame::Unread(_) => "Unread",
        wire::ClientFrame::Renew(_) => "Renew",
        wire::ClientFrame::Edit(_) => "Edit",
        wire::ClientFrame::Recall(_) => "Recall",
        wire::ClientFrame::Hide(_) => "Hide",
        wire::ClientFrame::React(_) => "React",
        wire::ClientFrame::Receipt(_) => "Receipt",
        wire::ClientFrame::Typing(_) => "Typing",
    }
}

#[test]
fn every_accepted_client_frame_fits_the_schema_and_its_type() {
    let schema = validator("ClientFrame", false);
    let mut seen = BTreeSet::new();
    for (body, group, expected) in accepted() {
        let frame = decoded(body);
        let errors = errors(&schema, &frame);
        assert!(
            errors.is_empty(),
            "{body} is not a ClientFrame: {errors:#?}"
        );
        let typed: wire::ClientFrame = serde_json::from_value(frame).expect(body);
        seen.insert(variant(&typed));
        // Written back from the typed frame, the parser reads the same frame.
        let written = serde_json::to_string(&typed).expect("serialises");
        assert_eq!(
            ClientFrame::parse(&written, 1024, group),
            Ok(expected),
            "{written}"
        );
    }
    let listed: BTreeSet<String> = super::ws_frames_schema()["$defs"]["ClientFrame"]["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|shape| {
            shape["$ref"]
                .as_str()
                .expect("$ref")
                .replace("#/$defs/", "")
        })
        .collect();
    let seen: BTreeSet<String> = seen.into_iter().map(str::to_owned).collect();
    assert_eq!(listed, seen, "every client frame has an accepted example");
}

#[test]
fn malformed_client_frames_are_refused_by_the_schema_and_the_parser() {
    let schema = validator("ClientFrame", false);
    for body in [
        r#"{"type":1}"#,
        r#"{"type":1,"content":5}"#,
        r#"{"type":4,"content":"x"}"#,
        r#"{"type":"1","content":"x"}"#,
        r#"{"type":1,"content":"x","to":-1}"#,
        r#"{"type":10,"content":"x"}"#,
        r#"{"type":13,"id":17,"content":"👍","on":"yes"}"#,
        r#"{"type":14,"id":17,"content":"seen"}"#,
        r#"{"type":9,"content":"  "}"#,
        r#"{"type":9}"#,
    ] {
        assert!(
            !schema.is_valid(&decoded(body)),
            "the schema accepts {body}"
        );
        for group in [false, true] {
            assert!(
                ClientFrame::parse(body, 1024, group).is_err(),
                "the parser accepts {body}"
            );
        }
    }
    let long = json!({"type": 1, "content": "x", "client_id": "c".repeat(129)});
    assert!(!schema.is_valid(&long));
    let crowd: Vec<u32> = (1..=21).collect();
    assert!(!schema.is_valid(&json!({"content": "x", "mentions": crowd})));
}

#[test]
fn every_code_of_the_table_is_in_the_schema() {
    let schema = super::ws_frames_schema();
    let defs = &schema["$defs"];
    let listed: Vec<String> = defs["Code"]["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|code| code["$ref"].as_str().expect("$ref").replace("#/$defs/", ""))
        .collect();
    assert_eq!(listed.len(), Code::ALL.len());
    for code in Code::ALL {
        let name = format!("Code{code:?}");
        assert!(listed.contains(&name), "{name} is not in Code");
        assert_eq!(defs[&name]["const"], json!(code.number()), "{name}");
        let about = defs[&name]["description"].as_str().expect("description");
        assert!(about.contains(code.msg()), "{name}: {about}");
    }
    let code = validator("Code", false);
    assert!(code.is_valid(&json!(50015)));
    assert!(!code.is_valid(&json!(50007)));
}

#[test]
fn the_schema_is_json_schema_2020_12() {
    let schema = super::ws_frames_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(jsonschema::draft202012::meta::is_valid(&schema));
    // Every reference names a definition.
    let text = schema.to_string();
    for reference in text.split("\"$ref\":\"#/$defs/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(schema["$defs"].get(name).is_some(), "{name} is not defined");
    }
}
