//! WebSocket client frames: what [`ClientFrame::parse`] accepts is a checked frame, and
//! that frame written back as JSON reads as the same frame.

use serde_json::{Map, Value};

use crate::ws::protocol::{client_id_of, ClientFrame, Page, MAX_CLIENT_ID_CHARS};

/// The frame limit the check parses with; fuzz inputs run past it.
const MAX_FRAME_BYTES: usize = 2048;

/// The first byte picks the socket (odd: a group socket), the rest is the text frame.
pub fn client_frame(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    // A text frame is UTF-8 before it reaches the parser.
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    let group = flags & 1 == 1;
    let parsed = ClientFrame::parse(body, MAX_FRAME_BYTES, group);
    if body.len() > MAX_FRAME_BYTES {
        assert!(parsed.is_err(), "a frame over the limit was accepted");
        return;
    }
    let frame = match parsed {
        Ok(frame) => frame,
        Err(bad) => {
            assert!(!bad.reason.is_empty(), "a refusal without a reason");
            return;
        }
    };
    match &frame {
        ClientFrame::Send { to, client_id, .. } => {
            check_id(*to);
            if let Some(id) = client_id {
                assert!(id.chars().count() <= MAX_CLIENT_ID_CHARS, "long client_id");
            }
            assert_eq!(
                client_id_of(body).as_deref(),
                client_id.as_deref(),
                "client_id_of reads another client_id than parse"
            );
        }
        ClientFrame::History { to, page } => {
            check_id(*to);
            match page {
                Page::Before(id) => assert!(*id > 0, "before {id}"),
                Page::AfterSecs(secs) => assert!(*secs >= 0, "after {secs}"),
            }
        }
        ClientFrame::Unread { to } => {
            assert!(!group, "an unread frame on a group socket");
            check_id(*to);
        }
        ClientFrame::Renew { token } => {
            assert!(
                !token.is_empty() && token.trim() == token,
                "token {token:?}"
            );
        }
    }
    let written = write(&frame);
    assert_eq!(
        ClientFrame::parse(&written, usize::MAX, group).as_ref(),
        Ok(&frame),
        "the frame written back as {written} reads differently"
    );
}

fn check_id(id: Option<i64>) {
    if let Some(id) = id {
        assert!(id > 0, "id {id}");
    }
}

/// The frame as a client would write it, with every field in its plainest form.
fn write(frame: &ClientFrame) -> String {
    let mut object = Map::new();
    let mut put = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    match frame {
        ClientFrame::Send {
            to,
            content,
            client_id,
        } => {
            put("type", 1.into());
            put("content", content.as_str().into());
            if let Some(to) = to {
                put("to", (*to).into());
            }
            if let Some(id) = client_id {
                put("client_id", id.as_str().into());
            }
        }
        ClientFrame::History { to, page } => {
            put("type", 2.into());
            if let Some(to) = to {
                put("to", (*to).into());
            }
            match page {
                Page::Before(id) => put("before", (*id).into()),
                Page::AfterSecs(secs) => put("content", (*secs).into()),
            }
        }
        ClientFrame::Unread { to } => {
            put("type", 3.into());
            if let Some(to) = to {
                put("to", (*to).into());
            }
        }
        ClientFrame::Renew { token } => {
            put("type", 9.into());
            put("content", token.as_str().into());
        }
    }
    Value::Object(object).to_string()
}
