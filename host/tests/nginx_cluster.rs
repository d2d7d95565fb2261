//! The deployment of examples/cluster/, as its scripts start it: nginx in front of two
//! `confab serve` nodes over MariaDB and a Redis of its own (and MongoDB when there is
//! one). Two clients connected through nginx land on different nodes, and a private
//! message and a group message from one reach the other; `down.sh` stops it all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

mod common;

use common::{free_port, recv, send, Socket};

const PASSWORD: &str = "cluster-password";

#[tokio::test]
async fn chat_through_nginx_reaches_across_both_nodes() {
    let Some(setup) = Setup::find() else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::up(&setup, &work.path().join("cluster"));
    let base = cluster.env["BASE_URL"].clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    let (alice, alice_id) = account(&http, &base, "alice_ngx").await;
    let (bob, bob_id) = account(&http, &base, "bob_ngx").await;

    // nginx sends consecutive connections to the two nodes in turn.
    let (mut a, node_a) = connect(&base, &format!("/chat/ws?toUid={bob_id}"), &alice).await;
    let (mut b, node_b) =
        elsewhere(&base, &format!("/chat/ws?toUid={alice_id}"), &bob, &node_a).await;
    let nodes = [
        format!("127.0.0.1:{}", cluster.env["NODE1_PORT"]),
        format!("127.0.0.1:{}", cluster.env["NODE2_PORT"]),
    ];
    assert!(
        nodes.contains(&node_a) && nodes.contains(&node_b),
        "{node_a} {node_b}"
    );
    assert_eq!(recv(&mut a).await["code"], 50002);
    assert_eq!(recv(&mut b).await["code"], 50002);

    // A private message from one node's socket to the other's.
    send(&mut a, json!({"type": 1, "content": "hello through nginx"})).await;
    let ack = recv(&mut a).await;
    assert_eq!(ack["code"], 50004, "bob is online on the other node: {ack}");
    let got = recv(&mut b).await;
    assert_eq!(
        (got["code"].clone(), got["content"].clone()),
        (json!(50001), json!("hello through nginx")),
        "{got}"
    );

    // A group message, the members' sockets again on different nodes.
    let group = envelope(
        http.post(format!("{base}/group/create"))
            .header("Authorization", &alice)
            .json(&json!({"group_name": "behind nginx"})),
    )
    .await["ID"]
        .as_i64()
        .expect("group id");
    envelope(
        http.post(format!("{base}/group/join"))
            .header("Authorization", &bob)
            .json(&json!({"group_id": group})),
    )
    .await;
    let path = format!("/chat/group_ws?group_id={group}");
    let (mut ga, group_node) = connect(&base, &path, &alice).await;
    let (mut gb, _) = elsewhere(&base, &path, &bob, &group_node).await;
    send(&mut gb, json!({"content": "group hello through nginx"})).await;
    assert_eq!(recv(&mut gb).await["code"], 50002);
    let got = recv(&mut ga).await;
    assert_eq!(
        (got["sender"].clone(), got["content"].clone()),
        (
            json!(bob_id.to_string()),
            json!("group hello through nginx")
        ),
        "{got}"
    );
    drop((a, b, ga, gb));
    cluster.down();
}

/// What the example needs from this machine.
struct Setup {
    mysql: String,
    mongo: Option<String>,
}

impl Setup {
    /// The servers and programs, or `None` after a `SKIPPED:` line naming what is missing.
    fn find() -> Option<Self> {
        let nginx = std::env::var("NGINX").map(PathBuf::from).ok().or_else(|| {
            which("nginx")
                .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
        });
        let mysql = std::env::var("CONFAB_TEST_MYSQL_URL").ok();
        let missing: Vec<&str> = [
            (nginx.is_none(), "nginx"),
            (mysql.is_none(), "MariaDB (CONFAB_TEST_MYSQL_URL)"),
            (which("redis-server").is_none(), "redis-server"),
            (
                which("mariadb").is_none() && which("mysql").is_none(),
                "the mariadb client",
            ),
        ]
        .into_iter()
        .filter_map(|(gone, what)| gone.then_some(what))
        .collect();
        if !missing.is_empty() {
            eprintln!(
                "SKIPPED: the nginx cluster example needs {}",
                missing.join(", ")
            );
            return None;
        }
        let mysql = mysql.expect("checked above");
        // The server, without the database: the example creates its own.
        let server = match mysql.rsplit_once('/') {
            Some((server, _)) if server.ends_with(|c: char| c != '/') => server.to_owned(),
            _ => mysql,
        };
        Some(Self {
            mysql: server,
            mongo: std::env::var("CONFAB_TEST_MONGO_URL").ok(),
        })
    }
}

/// A cluster started by up.sh; down.sh stops it when dropped.
struct Cluster {
    dir: PathBuf,
    env: HashMap<String, String>,
    stopped: bool,
}

impl Cluster {
    fn up(setup: &Setup, dir: &Path) -> Self {
        let script = example("up.sh");
        let mut command = Command::new(&script);
        command
            .env("CONFAB", env!("CARGO_BIN_EXE_confab"))
            .env("CLUSTER_DIR", dir)
            .env("MYSQL_URL", &setup.mysql)
            .env("CONFAB_AUTH__BCRYPT_COST", "4")
            .env("CONFAB_LOG__FILTER", "warn");
        let mut ports = Vec::new();
        while ports.len() < 5 {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let names = [
            "NGINX_PORT",
            "NODE1_PORT",
            "NODE2_PORT",
            "REDIS_PORT",
            "MONGO_PORT",
        ];
        for (name, port) in names.iter().zip(ports) {
            command.env(name, port.to_string());
        }
        if let Some(mongo) = &setup.mongo {
            command.env("MONGO_URL", mongo);
        }
        let output = command.output().expect("run up.sh");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "up.sh failed:\n{log}");
        eprintln!("{log}");
        let text = std::fs::read_to_string(dir.join("cluster.env")).expect("cluster.env");
        let env = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect();
        Self {
            dir: dir.to_owned(),
            env,
            stopped: false,
        }
    }

    /// Runs down.sh and checks that it cleaned up.
    fn down(mut self) {
        self.stopped = true;
        let output = Command::new(example("down.sh"))
            .arg(&self.dir)
            .output()
            .expect("run down.sh");
        assert!(
            output.status.success(),
            "down.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!self.dir.exists(), "down.sh removes the cluster's folder");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = Command::new(example("down.sh")).arg(&self.dir).output();
        }
    }
}

fn example(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/cluster")
        .join(script)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

/// Opens a WebSocket through nginx; returns it with the node nginx chose.
async fn connect(base: &str, path: &str, token: &str) -> (Socket, String) {
    let url = format!("{}{path}", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Authorization", token.parse().expect("header"));
    let (ws, response) = tokio::time::timeout(
        Duration::from_secs(15),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("the upgrade in time")
    .expect("the upgrade through nginx");
    let node = response
        .headers()
        .get("x-confab-upstream")
        .and_then(|v| v.to_str().ok())
        .expect("nginx names the node")
        .to_owned();
    (ws, node)
}

/// Opens a WebSocket through nginx until one lands on another node than `node`.
async fn elsewhere(base: &str, path: &str, token: &str, node: &str) -> (Socket, String) {
    for _ in 0..4 {
        let (ws, landed) = connect(base, path, token).await;
        if landed != node {
            return (ws, landed);
        }
    }
    panic!("every socket through nginx landed on {node}");
}

async fn envelope(request: reqwest::RequestBuilder) -> Value {
    let reply: Value = request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("an envelope");
    assert_eq!(reply["status"], 200, "{reply}");
    reply["data"].clone()
}

/// Registers `name` through nginx; returns its access token and id.
async fn account(http: &reqwest::Client, base: &str, name: &str) -> (String, i64) {
    let form = [("username", name), ("password", PASSWORD)];
    envelope(http.post(format!("{base}/user/register")).form(&form)).await;
    let login = envelope(http.post(format!("{base}/user/login")).form(&form)).await;
    let token = login["aToken"].as_str().expect("aToken").to_owned();
    let me = envelope(
        http.get(format!("{base}/user/me"))
            .header("Authorization", &token),
    )
    .await;
    (token, me["ID"].as_i64().expect("ID"))
}
