//! WebSocket client frames: what [`ClientFrame::parse`] accepts is a checked frame, and
//! that frame written back as JSON reads as the same frame.

use serde_json::{Map, Value};

use crate::ws::change_frames::Request;
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
        ClientFrame::Send {
            to,
            client_id,
            mentions,
            ..
        } => {
            check_id(*to);
            assert!(
                mentions.len() <= crate::conversations::MAX_MENTIONS,
                "many mentions"
            );
            mentions.iter().for_each(|id| check_id(Some(*id)));
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
        ClientFrame::Change {
            to,
            request,
            client_id,
        } => {
            check_id(*to);
            check_id(request.id());
            assert_eq!(
                client_id_of(body).as_deref(),
                client_id.as_deref(),
                "client_id_of reads another client_id than parse"
            );
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

/// The fields of a change request (types 10–15).
fn write_change(request: &Request, put: &mut impl FnMut(&str, Value)) {
    let (kind, id) = match request {
        Request::Edit { id, content } => {
            put("content", content.as_str().into());
            (10, Some(*id))
        }
        Request::Recall { id } => (11, Some(*id)),
        Request::Hide { id } => (12, Some(*id)),
        Request::React { id, emoji, on } => {
            put("content", emoji.as_str().into());
            if let Some(on) = on {
                put("on", (*on).into());
            }
            (13, Some(*id))
        }
        Request::Receipt { id, delivered } => {
            if *delivered {
                put("content", "delivered".into());
            }
            (14, Some(*id))
        }
        Request::Typing => (15, None),
    };
    put("type", kind.into());
    if let Some(id) = id {
        put("id", id.into());
    }
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
            reply_to,
            mentions,
        } => {
            put("type", 1.into());
            put("content", content.as_str().into());
            if !mentions.is_empty() {
                put("mentions", mentions.clone().into());
            }
            if let Some(reply_to) = reply_to {
                put("reply_to", (*reply_to).into());
            }
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
        ClientFrame::Change {
            to,
            request,
            client_id,
        } => {
            write_change(request, &mut put);
            if let Some(to) = to {
                put("to", (*to).into());
            }
            if let Some(id) = client_id {
                put("client_id", id.as_str().into());
            }
        }
        ClientFrame::Renew { token } => {
            put("type", 9.into());
            put("content", token.as_str().into());
        }
    }
    Value::Object(object).to_string()
}
