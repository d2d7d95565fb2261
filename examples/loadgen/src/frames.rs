//! What the server's frames mean to the load generator: an acknowledgement, a refusal or a
//! delivery, in each of the three dialects (Confab's private and group sockets, the echo).

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
}

/// What a server frame means to the task that read it.
pub(crate) enum Incoming {
    /// Message `seq` is stored.
    Ack { seq: u64 },
    /// Message `seq` was refused, for `reason`.
    Refused { seq: u64, reason: String },
    /// A message sent at `sent_ns` arrived.
    Delivery { sent_ns: u64 },
    /// The echo of message `seq`, sent at `sent_ns`.
    Echo { seq: u64, sent_ns: u64 },
    /// A frame that carries no message (a welcome, an end of history).
    Ignored,
    /// A frame the load generator did not expect.
    Unexpected(String),
}

/// The sequence number in a `client_id` of the form `s<seq>`.
pub(crate) fn seq_of(frame: &Value) -> Option<u64> {
    frame["client_id"].as_str()?.strip_prefix('s')?.parse().ok()
}

/// The send time inside a message's text.
fn sent_ns_of(frame: &Value) -> Option<u64> {
    let content: Value = serde_json::from_str(frame["content"].as_str()?).ok()?;
    content["t"].as_u64()
}

/// What `text`, a frame read from a socket of `dialect`, means.
pub(crate) fn classify(dialect: Dialect, text: &str) -> Incoming {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return Incoming::Unexpected(text.to_owned());
    };
    let unexpected = || Incoming::Unexpected(text.to_owned());
    let refused = |seq: u64| Incoming::Refused {
        seq,
        reason: format!("{} {}", frame["code"], frame["content"]),
    };
    match dialect {
        Dialect::Echo => match (seq_of(&frame), sent_ns_of(&frame)) {
            (Some(seq), Some(sent_ns)) => Incoming::Echo { seq, sent_ns },
            _ => unexpected(),
        },
        Dialect::Direct => match (frame["code"].as_i64(), seq_of(&frame)) {
            (Some(50001), _) => {
                sent_ns_of(&frame).map_or_else(unexpected, |sent_ns| Incoming::Delivery { sent_ns })
            }
            (Some(50004 | 50005), Some(seq)) => Incoming::Ack { seq },
            (Some(50002 | 50003), None) => Incoming::Ignored,
            (Some(_), Some(seq)) => refused(seq),
            _ => unexpected(),
        },
        Dialect::Group => {
            if frame.get("sender").is_some() {
                return sent_ns_of(&frame)
                    .map_or_else(unexpected, |sent_ns| Incoming::Delivery { sent_ns });
            }
            match (frame["code"].as_i64(), seq_of(&frame)) {
                (Some(50002), Some(seq)) => Incoming::Ack { seq },
                (Some(50003), None) => Incoming::Ignored,
                (Some(_), Some(seq)) => refused(seq),
                _ => unexpected(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn direct_frames() {
        let content = json!({ "t": 42, "s": 0, "p": "" }).to_string();
        let delivery = json!({ "from": "1", "code": 50001, "content": content, "client_id": "s0" });
        assert!(matches!(
            classify(Dialect::Direct, &delivery.to_string()),
            Incoming::Delivery { sent_ns: 42 }
        ));
        let ack = json!({ "from": "", "code": 50004, "content": "", "client_id": "s7" });
        assert!(matches!(
            classify(Dialect::Direct, &ack.to_string()),
            Incoming::Ack { seq: 7 }
        ));
        let limited = json!({ "from": "", "code": 30019, "content": "slow", "client_id": "s3" });
        assert!(matches!(
            classify(Dialect::Direct, &limited.to_string()),
            Incoming::Refused { seq: 3, .. }
        ));
        let welcome = json!({ "from": "", "code": 50002, "content": "已连接至服务器" });
        assert!(matches!(
            classify(Dialect::Direct, &welcome.to_string()),
            Incoming::Ignored
        ));
    }

    #[test]
    fn group_and_echo_frames() {
        let content = json!({ "t": 9, "s": 1, "p": "" }).to_string();
        let delivery = json!({ "sender": "3", "content": content, "group_id": 1, "id": 5 });
        assert!(matches!(
            classify(Dialect::Group, &delivery.to_string()),
            Incoming::Delivery { sent_ns: 9 }
        ));
        let ack = json!({ "from": "", "code": 50002, "content": "发送成功", "client_id": "s1" });
        assert!(matches!(
            classify(Dialect::Group, &ack.to_string()),
            Incoming::Ack { seq: 1 }
        ));
        let echoed = json!({ "type": 1, "content": content, "client_id": "s1" });
        assert!(matches!(
            classify(Dialect::Echo, &echoed.to_string()),
            Incoming::Echo { seq: 1, sent_ns: 9 }
        ));
    }
}
