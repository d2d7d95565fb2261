//! What the server's frames mean to the load generator: an acknowledgement, a refusal or a
//! delivery, in each of the four dialects (Confab's private and group sockets, the echo and
//! the relay).

use serde_json::Value;

/// How a scenario's server frames read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Confab's private sockets: 50004/50005 acknowledge, 50001 delivers.
    Direct,
    /// Confab's group sockets: 50002 with a `client_id` acknowledges, a frame with a
    /// `sender` delivers.
    Group,
    /// The echo baseline: the frame that comes back both acknowledges and delivers.
    Echo,
    /// The fan-out baseline: every socket gets every frame; the sender's own copy
    /// acknowledges, every other copy is a delivery.
    Relay,
}

/// What the text of a delivered message says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// When it was sent, in nanoseconds of the sending process's clock.
    pub(crate) sent_ns: u64,
    /// Whether the text is as it was sent (its padding untouched by any filter).
    pub(crate) intact: bool,
}

/// What a server frame means to the task that read it.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Message `seq` is stored.
    Ack { seq: u64 },
    /// Message `seq` was refused with `code`, for `reason`.
    Refused { seq: u64, code: i64, reason: String },
    /// A message arrived.
    Delivery(Stamp),
    /// The echo of message `seq`.
    Echo { seq: u64, stamp: Stamp },
    /// A frame that carries no message (a welcome, an end of history).
    Ignored,
    /// A frame the load generator did not expect.
    Unexpected(String),
}

/// The sequence number in a `client_id` of the form `s<seq>`.
pub(crate) fn seq_of(frame: &Value) -> Option<u64> {
    frame["client_id"].as_str()?.strip_prefix('s')?.parse().ok()
}

/// The text inside a message frame, as the sender wrote it: `{"t","s","c","p"}`.
fn text_of(frame: &Value) -> Option<Value> {
    serde_json::from_str(frame["content"].as_str()?).ok()
}

/// The stamp of a message's text.
fn stamp_of(text: &Value) -> Option<Stamp> {
    Some(Stamp {
        sent_ns: text["t"].as_u64()?,
        intact: text["p"]
            .as_str()
            .is_some_and(|p| p.bytes().all(|b| b == b'x')),
    })
}

/// What `text`, a frame read by socket `me` from a socket of `dialect`, means.
pub(crate) fn classify(dialect: Dialect, text: &str, me: u64) -> Incoming {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return Incoming::Unexpected(text.to_owned());
    };
    let unexpected = || Incoming::Unexpected(text.to_owned());
    let refused = |seq: u64, code: i64| Incoming::Refused {
        seq,
        code,
        reason: frame["content"]
            .as_str()
            .map_or_else(|| frame["content"].to_string(), str::to_owned),
    };
    let delivery = || {
        text_of(&frame)
            .as_ref()
            .and_then(stamp_of)
            .map_or_else(unexpected, Incoming::Delivery)
    };
    match dialect {
        Dialect::Echo | Dialect::Relay => {
            let Some((seq, message)) = seq_of(&frame).zip(text_of(&frame)) else {
                return unexpected();
            };
            let (Some(stamp), Some(from)) = (stamp_of(&message), message["c"].as_u64()) else {
                return unexpected();
            };
            match (dialect, from == me) {
                (Dialect::Echo, true) => Incoming::Echo { seq, stamp },
                (Dialect::Relay, true) => Incoming::Ack { seq },
                (Dialect::Relay, false) => Incoming::Delivery(stamp),
                _ => unexpected(),
            }
        }
        Dialect::Direct => match (frame["code"].as_i64(), seq_of(&frame)) {
            (Some(50001), _) => delivery(),
            (Some(50004 | 50005), Some(seq)) => Incoming::Ack { seq },
            (Some(50002 | 50003), None) => Incoming::Ignored,
            (Some(code), Some(seq)) => refused(seq, code),
            _ => unexpected(),
        },
        Dialect::Group => {
            if frame.get("sender").is_some() {
                return delivery();
            }
            match (frame["code"].as_i64(), seq_of(&frame)) {
                (Some(50002), Some(seq)) => Incoming::Ack { seq },
                (Some(50003), None) => Incoming::Ignored,
                (Some(code), Some(seq)) => refused(seq, code),
                _ => unexpected(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SENT: Stamp = Stamp {
        sent_ns: 42,
        intact: true,
    };

    #[test]
    fn direct_frames() {
        let content = json!({ "t": 42, "s": 0, "c": 0, "p": "xx" }).to_string();
        let delivery = json!({ "from": "1", "code": 50001, "content": content, "client_id": "s0" });
        assert!(matches!(
            classify(Dialect::Direct, &delivery.to_string(), 1),
            Incoming::Delivery(SENT)
        ));
        let ack = json!({ "from": "", "code": 50004, "content": "", "client_id": "s7" });
        assert!(matches!(
            classify(Dialect::Direct, &ack.to_string(), 0),
            Incoming::Ack { seq: 7 }
        ));
        let limited =
            json!({ "from": "", "code": 50006, "content": "达到限制", "client_id": "s3" });
        match classify(Dialect::Direct, &limited.to_string(), 0) {
            Incoming::Refused { seq, code, reason } => {
                assert_eq!((seq, code, reason.as_str()), (3, 50006, "达到限制"));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let welcome = json!({ "from": "", "code": 50002, "content": "已连接至服务器" });
        assert!(matches!(
            classify(Dialect::Direct, &welcome.to_string(), 0),
            Incoming::Ignored
        ));
    }

    #[test]
    fn a_rewritten_text_is_not_intact() {
        let content = json!({ "t": 42, "s": 0, "c": 0, "p": "x**x" }).to_string();
        let delivery = json!({ "from": "1", "code": 50001, "content": content });
        assert!(matches!(
            classify(Dialect::Direct, &delivery.to_string(), 1),
            Incoming::Delivery(Stamp {
                sent_ns: 42,
                intact: false
            })
        ));
    }

    #[test]
    fn group_frames() {
        let content = json!({ "t": 42, "s": 1, "c": 0, "p": "" }).to_string();
        let delivery = json!({ "sender": "3", "content": content, "group_id": 1, "id": 5 });
        assert!(matches!(
            classify(Dialect::Group, &delivery.to_string(), 1),
            Incoming::Delivery(SENT)
        ));
        let ack = json!({ "from": "", "code": 50002, "content": "发送成功", "client_id": "s1" });
        assert!(matches!(
            classify(Dialect::Group, &ack.to_string(), 0),
            Incoming::Ack { seq: 1 }
        ));
    }

    #[test]
    fn echo_and_relay_frames() {
        let content = json!({ "t": 42, "s": 1, "c": 4, "p": "" }).to_string();
        let echoed = json!({ "type": 1, "content": content, "client_id": "s1" }).to_string();
        assert!(matches!(
            classify(Dialect::Echo, &echoed, 4),
            Incoming::Echo {
                seq: 1,
                stamp: SENT
            }
        ));
        assert!(matches!(
            classify(Dialect::Echo, &echoed, 5),
            Incoming::Unexpected(_)
        ));
        // The relay: the sender's own copy is its acknowledgement, other sockets' copies
        // are deliveries, whatever sequence numbers those sockets have in flight.
        assert!(matches!(
            classify(Dialect::Relay, &echoed, 4),
            Incoming::Ack { seq: 1 }
        ));
        assert!(matches!(
            classify(Dialect::Relay, &echoed, 5),
            Incoming::Delivery(SENT)
        ));
    }
}
