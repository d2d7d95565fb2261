//! `confab backup` and `confab restore` against a real server: a backup taken while the
//! server runs holds every message acknowledged before it, including those the message log
//! had not yet written into SQLite, and a server started on the restored database serves
//! them all. Bad input is refused with a message that says what to do.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

mod common;

use common::{call, recv, send, socket, start, Node, Socket};

const PASSWORD: &str = "backup-password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_every_acknowledged_message() {
    let work = tempfile::tempdir().expect("tempdir");
    let (served, restored) = (work.path().join("served"), work.path().join("restored"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let node = start(&env_for(&served));

    let (alice, alice_id) = account(&http, &node, "alice_bk").await;
    let (bob, bob_id) = account(&http, &node, "bob_bk").await;
    let group = call(
        &http,
        &node,
        "/group/create",
        Some(&alice),
        json!({"group_name": "backups"}),
    )
    .await["ID"]
        .as_i64()
        .expect("group id");
    call(
        &http,
        &node,
        "/group/join",
        Some(&bob),
        json!({"group_id": group}),
    )
    .await;

    // Private messages to Bob (offline) and group messages, every one acknowledged.
    let mut private = socket(&node, &format!("/chat/ws?toUid={bob_id}"), &alice).await;
    assert_eq!(recv(&mut private).await["code"], 50002);
    let mut in_group = socket(&node, &format!("/chat/group_ws?group_id={group}"), &alice).await;
    let mut sent = stream(&mut private, "first", 40, 50005).await;
    let group_sent = stream(&mut in_group, "group", 10, 50002).await;

    // Right after an acknowledgement, the message is still in the log, not yet in SQLite:
    // the route settles the log first, so the copy holds it.
    let token = std::fs::read_to_string(served.join("secrets/admin.token")).expect("token");
    let reply: Value = http
        .post(format!("{}/admin/backup", node.base))
        .header("Authorization", format!("Bearer {}", token.trim()))
        .send()
        .await
        .expect("backup request")
        .json()
        .await
        .expect("an envelope");
    assert_eq!(reply["status"], 200, "{reply}");
    let newest = group_sent.last().expect("group messages").0;
    assert_eq!(reply["data"]["newest_message"], newest, "{reply}");
    let file = reply["data"]["file"].as_str().expect("file");
    assert!(
        Path::new(file).starts_with(served.join("backups")),
        "{file}"
    );
    assert!(Path::new(file).is_file(), "{file}");
    // The operator's backup is in the audit log.
    let audit: Value = http
        .get(format!("{}/admin/audit", node.base))
        .header("Authorization", format!("Bearer {}", token.trim()))
        .send()
        .await
        .expect("audit request")
        .json()
        .await
        .expect("an envelope");
    let entries = audit["data"].as_array().expect("audit entries");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "backup" && e["details"]["file"] == file),
        "{audit}"
    );

    // `confab backup` asks the running server; what it was told before is in the copy.
    sent.extend(stream(&mut private, "second", 20, 50005).await);
    let backup = work.path().join("chat.db");
    let taken = confab(&served, &["backup", path(&backup), "--url", &node.base]);
    assert!(taken.status.success(), "{}", text(&taken));
    assert!(
        stdout(&taken).contains("70 messages"),
        "60 private and 10 group messages: {}",
        text(&taken)
    );
    let again = confab(&served, &["backup", path(&backup), "--url", &node.base]);
    assert!(!again.status.success(), "an existing file is kept");
    assert!(stderr(&again).contains("--force"), "{}", text(&again));
    let forced = confab(
        &served,
        &["backup", path(&backup), "--force", "--url", &node.base],
    );
    assert!(forced.status.success(), "{}", text(&forced));
    let busy = confab(&served, &["restore", path(&backup), "--force"]);
    assert!(!busy.status.success(), "restore while the server runs");
    assert!(
        stderr(&busy).contains("a server is running"),
        "{}",
        text(&busy)
    );
    drop((private, in_group));
    drop(node);

    // With no server running, the command copies the database itself, the log applied first.
    let offline = work.path().join("offline.db");
    let copied = confab(&served, &["backup", path(&offline)]);
    assert!(copied.status.success(), "{}", text(&copied));
    assert!(stdout(&copied).contains("70 messages"), "{}", text(&copied));

    // Into a fresh data folder: a file that is not a database is refused, the backup is not.
    let notes = work.path().join("notes.txt");
    std::fs::write(&notes, "these are not messages").expect("write");
    let refused = confab(&restored, &["restore", path(&notes)]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("is not a SQLite database"),
        "{}",
        text(&refused)
    );
    let done = confab(&restored, &["restore", path(&backup)]);
    assert!(done.status.success(), "{}", text(&done));
    let twice = confab(&restored, &["restore", path(&backup)]);
    assert!(
        !twice.status.success(),
        "a database is never replaced silently"
    );
    assert!(stderr(&twice).contains("--force"), "{}", text(&twice));

    // A server on the restored folder serves every acknowledged message.
    let node = start(&env_for(&restored));
    let alice = login(&http, &node, "alice_bk").await;
    let mut private = socket(&node, &format!("/chat/ws?toUid={bob_id}"), &alice).await;
    assert_eq!(recv(&mut private).await["code"], 50002);
    assert_eq!(history(&mut private).await, sent, "private history");
    let mut in_group = socket(&node, &format!("/chat/group_ws?group_id={group}"), &alice).await;
    assert_eq!(history(&mut in_group).await, group_sent, "group history");
    assert_eq!(alice_id, me(&http, &node, &alice).await);
}

/// The settings of a node on `data_dir`; senders are not rate-limited.
fn env_for(data_dir: &Path) -> Vec<(String, String)> {
    [
        ("CONFAB_SERVER__DATA_DIR", path(data_dir)),
        ("CONFAB_CHAT__MESSAGES_PER_SECOND", "100000"),
        ("CONFAB_CHAT__MESSAGE_BURST", "100000"),
        ("CONFAB_CHAT__USER_MESSAGES_PER_SECOND", "100000"),
        ("CONFAB_CHAT__USER_MESSAGE_BURST", "100000"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// Sends `count` messages at once and waits for every acknowledgement (code `ack`);
/// returns (id, text) of each, in id order.
async fn stream(ws: &mut Socket, label: &str, count: usize, ack: i64) -> Vec<(i64, String)> {
    let texts: Vec<String> = (0..count).map(|i| format!("{label} message {i}")).collect();
    for (i, content) in texts.iter().enumerate() {
        send(
            ws,
            json!({"type": 1, "content": content, "client_id": format!("{label}-{i}")}),
        )
        .await;
    }
    let mut acked = Vec::new();
    for _ in 0..count {
        let frame = recv(ws).await;
        assert_eq!(frame["code"], ack, "{frame}");
        let client_id = frame["client_id"].as_str().expect("client_id");
        let index: usize = client_id
            .rsplit('-')
            .next()
            .and_then(|i| i.parse().ok())
            .expect("an index");
        acked.push((frame["id"].as_i64().expect("id"), texts[index].clone()));
    }
    acked.sort();
    acked
}

/// The whole history of a socket's conversation, oldest first, as (id, text).
async fn history(ws: &mut Socket) -> Vec<(i64, String)> {
    let mut all = Vec::new();
    let mut before = i64::MAX;
    loop {
        send(ws, json!({"type": 2, "before": before})).await;
        let mut page = Vec::new();
        while page.len() < 10 {
            let frame = recv(ws).await;
            if frame["code"] == 50003 {
                break;
            }
            let id = frame["id"].as_i64().expect("a history message has an id");
            page.push((id, frame["content"].as_str().expect("text").to_owned()));
        }
        let full = page.len() == 10;
        if let Some(first) = page.first() {
            before = first.0;
        }
        page.extend(all);
        all = page;
        if !full {
            return all;
        }
    }
}

/// Registers `name` and returns its access token and id.
async fn account(http: &reqwest::Client, node: &Node, name: &str) -> (String, i64) {
    let form = [("username", name), ("password", PASSWORD)];
    let reply: Value = http
        .post(format!("{}/user/register", node.base))
        .form(&form)
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("an envelope");
    assert_eq!(reply["status"], 200, "{reply}");
    let token = login(http, node, name).await;
    let id = me(http, node, &token).await;
    (token, id)
}

async fn login(http: &reqwest::Client, node: &Node, name: &str) -> String {
    let form = [("username", name), ("password", PASSWORD)];
    let reply: Value = http
        .post(format!("{}/user/login", node.base))
        .form(&form)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("an envelope");
    assert_eq!(reply["status"], 200, "{reply}");
    reply["data"]["aToken"].as_str().expect("aToken").to_owned()
}

async fn me(http: &reqwest::Client, node: &Node, token: &str) -> i64 {
    let reply: Value = http
        .get(format!("{}/user/me", node.base))
        .header("Authorization", token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("an envelope");
    reply["data"]["ID"].as_i64().expect("ID")
}

/// Runs `confab ARGS` on `data_dir` and waits for it.
fn confab(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confab"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CONFAB_SERVER__DATA_DIR", data_dir)
        .env("CONFAB_LOG__FILTER", "warn")
        .args(args)
        .output()
        .expect("run confab")
}

fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn text(output: &Output) -> String {
    format!("stdout: {}\nstderr: {}", stdout(output), stderr(output))
}
