//! `confab admin` against a running `confab serve`: finding, banning and unbanning users,
//! dissolving a group, removing a message and reading the audit log, as an operator types
//! them; and the refusals a mistaken command gets.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

mod common;

use common::{call, closed, recv, send, socket, start, Node};

/// Runs `confab admin ARGS` against `node`, with only `env` in its environment.
fn admin(node: &Node, env: &[(&str, &str)], args: &[&str]) -> Output {
    admin_at(&node.base, env, args)
}

/// Runs `confab admin ARGS --url URL`, with only `env` in its environment.
fn admin_at(url: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confab"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .arg("admin")
        .args(args)
        .args(["--url", url])
        .output()
        .expect("run confab admin")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The output of a command that must succeed.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// The standard error of a command that must fail.
fn refused(out: Output) -> String {
    assert!(!out.status.success(), "should fail: {}", stdout(&out));
    stderr(&out)
}

/// Registers and logs in `name`; returns their id and access token.
async fn user(client: &reqwest::Client, node: &Node, name: &str) -> (i64, String) {
    let credentials = json!({"username": name, "password": "password123"});
    call(client, node, "/user/register", None, credentials.clone()).await;
    let login = call(client, node, "/user/login", None, credentials).await;
    let token = login["aToken"].as_str().expect("aToken").to_owned();
    let me: Value = client
        .get(format!("{}/user/me", node.base))
        .header("Authorization", &token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    (me["data"]["ID"].as_i64().expect("id"), token)
}

async fn login_code(client: &reqwest::Client, node: &Node, name: &str) -> i64 {
    let reply: Value = client
        .post(format!("{}/user/login", node.base))
        .json(&json!({"username": name, "password": "password123"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    reply["status"].as_i64().expect("status")
}

/// The token the server generated into its data folder.
fn generated_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("secrets").join("admin.token"))
        .expect("the admin token file")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn an_operator_moderates_a_running_server_from_the_command_line() {
    let data = tempfile::tempdir().expect("tempdir");
    let data_dir = data.path().to_str().expect("a UTF-8 path").to_owned();
    // The command's own variable in the server's environment is not configuration.
    let node = start(&[
        ("CONFAB_SERVER__DATA_DIR".to_owned(), data_dir.clone()),
        (
            "CONFAB_ADMIN_TOKEN".to_owned(),
            "not read by the server".to_owned(),
        ),
    ]);
    let token = generated_token(data.path());
    let with_token = [("CONFAB_ADMIN_TOKEN", token.as_str())];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let (mallory, mallory_token) = user(&client, &node, "mallory_cli").await;
    let (alice, alice_token) = user(&client, &node, "alice_cli").await;
    let mut socket_of_mallory =
        socket(&node, &format!("/chat/ws?toUid={alice}"), &mallory_token).await;
    assert_eq!(recv(&mut socket_of_mallory).await["code"], 50002);

    // Found by a name prefix; on the server's host the token comes from its data folder.
    let found = ok(admin(
        &node,
        &[("CONFAB_SERVER__DATA_DIR", &data_dir)],
        &["users", "find", "MALLORY"],
    ));
    assert!(
        found.contains(&format!("{mallory}\tmallory_cli\tactive")),
        "{found}"
    );
    assert!(!found.contains("alice_cli"), "{found}");

    // Banned, with a reason and the operator's name: the socket closes, login is refused.
    let banned = ok(admin(
        &node,
        &with_token,
        &[
            "users",
            "ban",
            &mallory.to_string(),
            "--reason",
            "spam",
            "--as",
            "ops-cli",
        ],
    ));
    assert!(banned.contains("mallory_cli\tbanned"), "{banned}");
    assert_eq!(closed(&mut socket_of_mallory).await, Some(1008));
    assert_eq!(login_code(&client, &node, "mallory_cli").await, 30050);
    let shown = ok(admin(
        &node,
        &with_token,
        &["users", "show", &mallory.to_string(), "--json"],
    ));
    let shown: Value = serde_json::from_str(&shown).expect("--json prints JSON");
    assert_eq!(
        (&shown["status"], &shown["banned"]),
        (&json!("banned"), &json!(true))
    );
    ok(admin(
        &node,
        &with_token,
        &["users", "unban", &mallory.to_string()],
    ));
    assert_eq!(login_code(&client, &node, "mallory_cli").await, 200);

    // A group dissolved (only with --yes), a message removed.
    let group = call(
        &client,
        &node,
        "/group/create",
        Some(&alice_token),
        json!({"group_name": "cli"}),
    )
    .await;
    let group = group["ID"].as_i64().expect("group id").to_string();
    let unconfirmed = refused(admin(&node, &with_token, &["groups", "dissolve", &group]));
    assert!(unconfirmed.contains("--yes"), "{unconfirmed}");
    let dissolved = ok(admin(
        &node,
        &with_token,
        &["groups", "dissolve", &group, "--yes"],
    ));
    assert!(
        dissolved.contains(&format!("dissolved group {group} (cli)")),
        "{dissolved}"
    );
    let mut socket_of_alice =
        socket(&node, &format!("/chat/ws?toUid={mallory}"), &alice_token).await;
    assert_eq!(recv(&mut socket_of_alice).await["code"], 50002);
    send(
        &mut socket_of_alice,
        json!({"type": 1, "content": "to be removed"}),
    )
    .await;
    let message = recv(&mut socket_of_alice).await["id"]
        .as_i64()
        .expect("acked id")
        .to_string();
    let removed = ok(admin(&node, &with_token, &["messages", "remove", &message]));
    assert!(
        removed.contains(&format!("removed message {message} sent by user {alice}")),
        "{removed}"
    );
    let told = recv(&mut socket_of_alice).await;
    assert_eq!(
        (&told["code"], &told["id"]),
        (&json!(50011), &json!(message.parse::<i64>().expect("id")))
    );

    // The audit log, newest first, in text and as JSON.
    let log = ok(admin(&node, &with_token, &["audit", "list"]));
    let first_line = log.lines().last().expect("the oldest entry");
    assert!(
        first_line.contains(&format!(
            "user.ban\tuser:{mallory}\tby ops-cli from 127.0.0.1"
        )),
        "{log}"
    );
    assert!(first_line.contains(r#""reason":"spam""#), "{log}");
    let entries: Value =
        serde_json::from_str(&ok(admin(&node, &with_token, &["audit", "list", "--json"])))
            .expect("JSON");
    let actions: Vec<&str> = entries
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        ["message.remove", "group.dissolve", "user.unban", "user.ban"]
    );
    let paged = admin(&node, &with_token, &["audit", "list", "--limit", "1"]);
    assert!(stderr(&paged).contains("--before"), "{}", stderr(&paged));

    // Mistakes are refused with the server's reason, and change nothing.
    let wrong = refused(admin(
        &node,
        &[("CONFAB_ADMIN_TOKEN", "wrong")],
        &["users", "find"],
    ));
    assert!(
        wrong.contains("code 30002") && wrong.contains("--token"),
        "{wrong}"
    );
    let unknown = refused(admin(&node, &with_token, &["users", "ban", "99999999"]));
    assert!(unknown.contains("code 30021"), "{unknown}");
    let https = refused(admin_at(
        "https://example.com",
        &with_token,
        &["users", "find"],
    ));
    assert!(https.contains("plain HTTP"), "{https}");
    let no_token = refused(admin(
        &node,
        &[("CONFAB_SERVER__DATA_DIR", "/nonexistent/confab")],
        &["audit", "list"],
    ));
    assert!(no_token.contains("no admin token"), "{no_token}");
    let entries: Value =
        serde_json::from_str(&ok(admin(&node, &with_token, &["audit", "list", "--json"])))
            .expect("JSON");
    assert_eq!(
        entries.as_array().expect("a list").len(),
        4,
        "refusals are not recorded"
    );
}
