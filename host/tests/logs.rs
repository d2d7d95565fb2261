//! The `confab` binary's logs as JSON lines with the request id on every line of a
//! request, and settings of cross-origin access that stop it at start.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn confab(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CONFAB_SERVER__DATA_DIR", data_dir)
        .env("CONFAB_AUTH__BCRYPT_COST", "4");
    cmd
}

/// `GET path` over a fresh connection; the whole answer, head and body.
fn get(addr: &str, path: &str, extra_header: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{extra_header}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    reply
}

/// The value of `name` in an answer's head.
fn header<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    reply.split("\r\n\r\n").next()?.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Whether `line`'s spans carry `request_id`.
fn in_request(line: &Value, request_id: &str) -> bool {
    line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == request_id))
}

#[test]
fn json_logs_carry_the_request_id_on_every_line_of_a_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = confab(dir.path())
        .env("CONFAB_SERVER__LISTEN", "127.0.0.1:0")
        .env("CONFAB_LOG__FORMAT", "json")
        .env("CONFAB_LOG__FILTER", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the listening line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("address")
        .to_owned();

    // A client is no trusted proxy: the id it sends is replaced by one of the server's.
    let reply = get(&addr, "/user/me", "x-request-id: chosen-by-client\r\n");
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    let id = header(&reply, "x-request-id")
        .expect("an x-request-id")
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = get(&addr, "/user/ping", "");
    let other_id = header(&other, "x-request-id")
        .expect("an x-request-id")
        .to_owned();
    assert_ne!(id, other_id);

    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("logs");
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(lines
        .iter()
        .all(|l| l["timestamp"].is_string() && l["level"].is_string()));
    let of_request: Vec<&Value> = lines.iter().filter(|l| in_request(l, &id)).collect();
    // At least the request's start and end at debug and info.
    assert!(of_request.len() >= 2, "{logs}");
    assert!(
        of_request.iter().any(|l| l["fields"]["status"] == 401),
        "the answer's line: {logs}"
    );
    assert!(of_request.iter().all(|l| !in_request(l, &other_id)));
    assert!(!logs.contains("chosen-by-client"), "{logs}");
    assert!(lines.iter().any(|l| in_request(l, &other_id)));
}

#[test]
fn a_bad_cors_origin_stops_the_server_with_the_key_and_the_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    for command in [&["config", "check"][..], &["serve"][..]] {
        let out = confab(dir.path())
            .env("CONFAB_SERVER__LISTEN", "127.0.0.1:0")
            .env(
                "CONFAB_SERVER__CORS_ORIGINS",
                "[\"https://chat.example/app\"]",
            )
            .args(command)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{command:?} accepted it");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("server.cors_origins"), "{stderr}");
        assert!(stderr.contains("https://chat.example/app"), "{stderr}");
        assert!(stderr.contains("no path"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    }
    // A good list is taken, and shown by config check.
    let out = confab(dir.path())
        .env("CONFAB_SERVER__CORS_ORIGINS", "[\"https://chat.example\"]")
        .args(["config", "check"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cors_origins = [\"https://chat.example\"]")
    );
}
