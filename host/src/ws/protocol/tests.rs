//! The frames' unit tests: parsing every client frame and encoding every server frame.

use super::*;
use axum::extract::ws::Utf8Bytes;

use crate::messages::{Conversation, Message};
use serde_json::json;

fn parse(body: &str, group: bool) -> Result<ClientFrame, BadFrame> {
    ClientFrame::parse(body, 1024, group)
}

/// Frames the parser accepts, on a private (`false`) or group socket, with what it reads.
/// Each is canonical: the frames' schema accepts them too (`schema_tests.rs`).
pub(super) fn accepted() -> Vec<(&'static str, bool, ClientFrame)> {
    use crate::ws::change_frames::Request;
    let change = |to, request, client_id: Option<&str>| ClientFrame::Change {
        to,
        request,
        client_id: client_id.map(str::to_owned),
    };
    let mut frames = vec![
        (
            r#"{"type":1,"content":"hi","to":"7","client_id":"c1"}"#,
            false,
            ClientFrame::Send {
                to: Some(7),
                content: "hi".into(),
                client_id: Some("c1".into()),
                reply_to: None,
                mentions: vec![],
            },
        ),
        (
            r#"{"content":"hi","sender":"3"}"#,
            true,
            ClientFrame::Send {
                to: None,
                content: "hi".into(),
                client_id: None,
                reply_to: None,
                mentions: vec![],
            },
        ),
        (
            r#"{"type":1,"content":"@bob look","reply_to":"40","mentions":[2,"7"]}"#,
            true,
            ClientFrame::Send {
                to: None,
                content: "@bob look".into(),
                client_id: None,
                reply_to: Some(40),
                mentions: vec![2, 7],
            },
        ),
        (
            r#"{"type":2,"before":40}"#,
            false,
            ClientFrame::History {
                to: None,
                page: Page::Before(40),
            },
        ),
        (
            r#"{"type":2,"content":"oops"}"#,
            true,
            ClientFrame::History {
                to: None,
                page: Page::AfterSecs(0),
            },
        ),
        (
            r#"{"type":2,"content":1735732800,"to":5}"#,
            false,
            ClientFrame::History {
                to: Some(5),
                page: Page::AfterSecs(1_735_732_800),
            },
        ),
        (
            r#"{"type":3,"to":2}"#,
            false,
            ClientFrame::Unread { to: Some(2) },
        ),
        (
            r#"{"type":3,"content":""}"#,
            false,
            ClientFrame::Unread { to: None },
        ),
        (
            r#"{"type":10,"id":17,"content":"new text","client_id":"e1"}"#,
            false,
            change(
                None,
                Request::Edit {
                    id: 17,
                    content: "new text".into(),
                },
                Some("e1"),
            ),
        ),
        (
            r#"{"type":11,"id":"17"}"#,
            true,
            change(None, Request::Recall { id: 17 }, None),
        ),
        (
            r#"{"type":12,"id":17,"to":4}"#,
            false,
            change(Some(4), Request::Hide { id: 17 }, None),
        ),
        (
            r#"{"type":13,"id":17,"content":"👍","on":false}"#,
            true,
            change(
                None,
                Request::React {
                    id: 17,
                    emoji: "👍".into(),
                    on: Some(false),
                },
                None,
            ),
        ),
        (
            r#"{"type":14,"id":17}"#,
            true,
            change(
                None,
                Request::Receipt {
                    id: 17,
                    delivered: false,
                },
                None,
            ),
        ),
        (
            r#"{"type":14,"id":17,"content":"delivered","to":"3"}"#,
            false,
            change(
                Some(3),
                Request::Receipt {
                    id: 17,
                    delivered: true,
                },
                None,
            ),
        ),
        (
            r#"{"type":15,"to":3}"#,
            false,
            change(Some(3), Request::Typing, None),
        ),
    ];
    for group in [false, true] {
        frames.push((
            r#"{"type":9,"content":" eyJ.a.b "}"#,
            group,
            ClientFrame::Renew {
                token: "eyJ.a.b".into(),
            },
        ));
    }
    frames
}

#[test]
fn client_frames_are_read_into_their_type() {
    for (body, group, frame) in accepted() {
        assert_eq!(parse(body, group), Ok(frame), "{body}");
    }
}

#[test]
fn bad_client_frames_say_why() {
    let reason = |body: &str, group: bool| parse(body, group).expect_err(body).reason;
    assert!(reason("[1]", false).contains("JSON object"));
    assert!(reason("{", false).contains("invalid JSON"));
    assert!(reason(r#"{"type":"x"}"#, false).contains("invalid frame"));
    assert!(reason(r#"{"type":1}"#, false).contains("content is required"));
    assert!(reason(r#"{"type":1,"content":5}"#, false).contains("content must be a string"));
    assert!(reason(r#"{"type":3}"#, true).contains("unknown type 3: 1 send, 2 history"));
    assert!(reason(r#"{"type":9}"#, false).contains("new access token"));
    assert!(reason(r#"{"type":9,"content":"  "}"#, true).contains("new access token"));
    assert!(reason(r#"{"type":9,"content":7}"#, true).contains("content must be a string"));
    assert!(reason(r#"{"content":"x"}"#, false).contains("type is required"));
    assert!(reason(r#"{"type":1,"content":"x","to":-1}"#, false).contains("positive"));
    let long = format!(
        r#"{{"type":1,"content":"x","client_id":"{}"}}"#,
        "c".repeat(129)
    );
    assert!(reason(&long, false).contains("at most 128"));
    let big = format!(r#"{{"type":1,"content":"{}"}}"#, "x".repeat(2000));
    assert!(reason(&big, false).contains("larger than 1024"));
}

#[test]
fn client_id_of_reads_what_parse_reads() {
    // A repeated key fails the one-pass read; the second reading keeps the last value.
    let body = r#"{"type":1,"content":"hi","to":"7","to":"8","client_id":"c1"}"#;
    assert_eq!(parse(body, false).expect(body).client_id(), Some("c1"));
    assert_eq!(client_id_of(body).as_deref(), Some("c1"));
    assert_eq!(
        client_id_of(r#"{"type":99,"client_id":"c3"}"#).as_deref(),
        Some("c3")
    );
}

fn message() -> Message {
    Message {
        id: 12,
        conversation: Conversation::direct(3, 4),
        sender: 3,
        recipient: Some(4),
        content: "你好 \"quoted\"".to_owned(),
        client_id: Some("c-9".to_owned()),
        sent_at: 1_700_000_123_456,
        read: false,
        reply_to: None,
        edited_at: None,
    }
}

fn decoded(frame: ServerFrame<'_>) -> Value {
    serde_json::from_str(frame.encode().as_str()).expect("valid JSON")
}

#[test]
fn server_frames_keep_the_seed_shapes() {
    let m = message();
    assert_eq!(
        decoded(ServerFrame::Welcome),
        json!({"from": "", "code": 50002, "content": "已连接至服务器"})
    );
    assert_eq!(
        decoded(ServerFrame::Direct(&m)),
        json!({"from": "3", "code": 50001, "content": "你好 \"quoted\"", "id": 12,
               "ts": 1_700_000_123, "to": "4", "client_id": "c-9"})
    );
    assert_eq!(
        decoded(ServerFrame::DirectHistory {
            message: &m,
            viewer: 4
        }),
        json!({"from": "you", "code": 0, "content": "你好 \"quoted\"", "read": false,
               "ts": 1_700_000_123, "id": 12})
    );
    assert_eq!(
        decoded(ServerFrame::DirectAck {
            message: &m,
            online: false
        }),
        json!({"from": "", "code": 50005, "content": "对方不在线应答", "id": 12,
               "ts": 1_700_000_123, "client_id": "c-9"})
    );
    assert_eq!(
        decoded(ServerFrame::Group {
            message: &m,
            group: 5
        }),
        json!({"sender": "3", "content": "你好 \"quoted\"", "timestamp": 1_700_000_123,
               "group_id": 5, "id": 12})
    );
    assert_eq!(
        decoded(ServerFrame::GroupAck {
            message: &m,
            group: 5
        }),
        json!({"from": "", "code": 50002, "content": "发送成功", "id": 12,
               "timestamp": 1_700_000_123, "group_id": 5, "client_id": "c-9"})
    );
    assert_eq!(
        decoded(ServerFrame::Error {
            code: 50006,
            content: "达到限制",
            client_id: Some("x")
        }),
        json!({"from": "", "code": 50006, "content": "达到限制", "client_id": "x"})
    );
    assert_eq!(
        decoded(ServerFrame::BadFrame("nope")),
        json!({"from": "", "code": 400, "content": "nope"})
    );
    assert_eq!(
        decoded(ServerFrame::End),
        json!({"from": "", "code": 50003, "content": "到底了"})
    );
    assert_eq!(
        decoded(ServerFrame::MoreUnread),
        json!({"from": "", "code": 50002, "content": "more unread: send type 3 again",
               "more": true})
    );
    assert_eq!(
        decoded(ServerFrame::Renewed {
            expires: 1_800_000_000
        }),
        json!({"from": "", "code": 50002, "content": "token renewed",
               "expires": 1_800_000_000})
    );
}

#[test]
fn an_ack_says_when_a_plugin_stored_another_text() {
    let m = message();
    assert_eq!(
        decoded_bytes(
            ServerFrame::DirectAck {
                message: &m,
                online: true
            }
            .encode_ack("ni hao")
        ),
        json!({"from": "", "code": 50004, "content": "对方在线应答", "id": 12,
               "ts": 1_700_000_123, "client_id": "c-9", "rewritten": true,
               "stored": "你好 \"quoted\""})
    );
    assert_eq!(
        decoded_bytes(
            ServerFrame::GroupAck {
                message: &m,
                group: 5
            }
            .encode_ack("你好 \"quoted\"")
        ),
        decoded(ServerFrame::GroupAck {
            message: &m,
            group: 5
        }),
        "an unchanged text keeps the seed's shape"
    );
}

fn decoded_bytes(frame: Utf8Bytes) -> Value {
    serde_json::from_str(frame.as_str()).expect("valid JSON")
}
