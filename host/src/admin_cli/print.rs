//! What `confab admin` prints: a few readable lines per answer, or its JSON with `--json`.

use serde_json::Value;

use confab::api::admin_client::Answer;

/// Prints `answer`: its `data` as JSON with `--json`, else as `text` writes it. A cursor
/// for the next page goes to standard error either way, so `--json` output stays one JSON
/// document.
pub(super) fn out(json: bool, answer: &Answer, text: fn(&Value) -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&answer.data)?);
    } else {
        print!("{}", text(&answer.data));
    }
    if let Some(next) = &answer.next {
        eprintln!(
            "more: ask again with --{} {next}",
            cursor_flag(&answer.data)
        );
    }
    Ok(())
}

/// Which flag takes the cursor: audit entries page backwards, users forwards.
fn cursor_flag(data: &Value) -> &'static str {
    let audit = data
        .as_array()
        .and_then(|list| list.first())
        .is_some_and(|first| first.get("action").is_some());
    if audit {
        "before"
    } else {
        "after"
    }
}

fn text(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn time(value: &Value, key: &str) -> String {
    value[key]
        .as_i64()
        .map(confab::users::rfc3339)
        .unwrap_or_default()
}

/// One user: `42  alice  banned  registered 2026-01-01T00:00:00.000Z`.
fn user_line(user: &Value) -> String {
    format!(
        "{}\t{}\t{}\tregistered {}\n",
        text(user, "id"),
        text(user, "name"),
        text(user, "status"),
        time(user, "created_at")
    )
}

/// A page of users, one per line.
pub(super) fn users(data: &Value) -> String {
    let list = data.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty() {
        return "no user found\n".to_owned();
    }
    let mut out = String::from("ID\tNAME\tSTATUS\n");
    for user in list {
        out.push_str(&user_line(user));
    }
    out
}

/// One user, after a show, ban or unban.
pub(super) fn user(data: &Value) -> String {
    user_line(data)
}

/// A deleted user.
pub(super) fn deleted(data: &Value) -> String {
    format!(
        "deleted user {} ({})\n",
        text(data, "id"),
        text(data, "name")
    )
}

/// A dissolved group.
pub(super) fn dissolved(data: &Value) -> String {
    format!(
        "dissolved group {} ({}), owner {}, {} members\n",
        text(data, "id"),
        text(data, "name"),
        text(data, "owner"),
        text(data, "members")
    )
}

/// A removed message.
pub(super) fn removed(data: &Value) -> String {
    let place = match data["group_id"].as_i64() {
        Some(group) => format!("in group {group}"),
        None => format!("to user {}", text(data, "recipient")),
    };
    format!(
        "removed message {} sent by user {} {place} at {}\n",
        text(data, "id"),
        text(data, "sender"),
        time(data, "sent_at")
    )
}

/// A page of the audit log, newest first:
/// `7  2026-01-01T00:00:00.000Z  user.ban  user:42  by alice from 127.0.0.1  {"reason":…}`.
pub(super) fn audit(data: &Value) -> String {
    let list = data.as_array().map(Vec::as_slice).unwrap_or_default();
    if list.is_empty() {
        return "the audit log is empty\n".to_owned();
    }
    let mut out = String::new();
    for entry in list {
        let actor = text(entry, "actor");
        let actor = if actor.is_empty() {
            "unnamed operator".to_owned()
        } else {
            actor
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\tby {actor} from {}\t{}\n",
            text(entry, "id"),
            time(entry, "at"),
            text(entry, "action"),
            text(entry, "target"),
            text(entry, "address"),
            entry["details"]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_name_what_was_done() {
        let user = json!({"id": 4, "name": "mallory", "status": "banned", "created_at": 0});
        assert_eq!(
            super::user(&user),
            "4\tmallory\tbanned\tregistered 1970-01-01T00:00:00.000Z\n"
        );
        assert_eq!(users(&json!([])), "no user found\n");
        let entry = json!([{"id": 9, "at": 0, "action": "user.ban", "target": "user:4",
            "actor": "", "address": "::1", "details": {"reason": "spam"}}]);
        assert_eq!(
            audit(&entry),
            "9\t1970-01-01T00:00:00.000Z\tuser.ban\tuser:4\tby unnamed operator from ::1\t{\"reason\":\"spam\"}\n"
        );
        assert_eq!(cursor_flag(&entry), "before");
        assert_eq!(cursor_flag(&json!([user])), "after");
        let message = json!({"id": 5, "sender": 4, "group_id": 2, "sent_at": 0});
        assert!(removed(&message).starts_with("removed message 5 sent by user 4 in group 2"));
    }
}
