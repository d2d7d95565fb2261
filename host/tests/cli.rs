//! The `confab` binary: commands, configuration errors, and what its logs never contain.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn confab(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CONFAB_SERVER__DATA_DIR", data_dir)
        .env("CONFAB_AUTH__BCRYPT_COST", "4");
    cmd
}

#[test]
fn migrate_then_invite_prints_fresh_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = confab(dir.path()).arg("migrate").output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("confab.db").is_file());

    let out = confab(dir.path())
        .args(["invite", "--count", "3"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys
        .iter()
        .all(|k| k.len() == 16 && k.chars().all(|c| c.is_ascii_alphanumeric())));
    assert_ne!(keys[0], keys[1]);

    let out = confab(dir.path())
        .args(["invite", "-n", "0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--count"));
}

#[test]
fn secrets_and_data_dir_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = confab(&data).args(["invite"]).output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for key in ["jwt.key", "data.key", "index.key"] {
        assert_eq!(mode(&data.join("secrets").join(key)), 0o600, "{key}");
    }
}

#[test]
fn unknown_configuration_keys_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("confab.toml");
    std::fs::write(&file, "[uploads]\nmax_byte = 10\n").expect("write");
    let out = confab(dir.path())
        .args(["--config"])
        .arg(&file)
        .arg("migrate")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_byte"), "{err}");

    let out = confab(dir.path())
        .env("CONFAB_SERVER__LISTN", "127.0.0.1:1")
        .arg("migrate")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listn"));
}

#[test]
fn serve_logs_requests_without_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = confab(dir.path())
        .env("CONFAB_SERVER__LISTEN", "127.0.0.1:0")
        .env("CONFAB_LOG__FILTER", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("address")
        .to_owned();
    assert!(line.contains("listening on http://127.0.0.1:"), "{line}");
    // The next lines say where the client and the console are, and where the admin token
    // is kept, but never the token.
    let mut banner = String::new();
    for _ in 0..2 {
        stdout.read_line(&mut banner).expect("banner line");
    }
    assert!(
        banner.contains(&format!("chat client:      http://{addr}/")),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("operator console: http://{addr}/admin/")),
        "{banner}"
    );
    let token_file = dir.path().join("secrets").join("admin.token");
    assert!(
        banner.contains(&token_file.display().to_string()),
        "{banner}"
    );
    let token = std::fs::read_to_string(&token_file).expect("the generated admin token");
    assert!(
        !banner.contains(token.trim()),
        "the token itself was printed"
    );

    let password = "SuperSecret-Passw0rd";
    let get = |path: String| {
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        use std::io::{Read, Write};
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: tok-en-secret\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read");
        reply
    };
    let reply = get(format!(
        "/user/register?username=logcheck&password={password}"
    ));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let reply = get(format!("/user/login?username=logcheck&password={password}"));
    assert!(reply.contains("aToken"), "{reply}");

    #[cfg(unix)]
    {
        // SIGTERM stops the server gracefully.
        let _ = Command::new("kill").arg(child.id().to_string()).status();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut logs = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("logs");
    assert!(logs.contains("/user/login"), "requests are logged: {logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "a log written to a pipe has no colour codes: {logs}"
    );
    assert!(
        !logs.contains(password),
        "a password reached the log: {logs}"
    );
    assert!(!logs.contains("tok-en-secret"), "a token reached the log");
    assert!(!logs.contains("eyJ"), "a JWT reached the log");
}

/// A plugin author's path: scaffold into a folder outside the checkout, build for
/// wasm32-wasip2 offline, check, then install it into a running server through the admin
/// API, configure it, and see it refuse a message with its word. The scaffold must build as
/// it is, with the SDK it carries and nothing of this machine's checkout.
#[test]
fn a_scaffolded_plugin_builds_anywhere_and_acts_on_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("checkout");
    assert!(
        !dir.path().starts_with(&checkout),
        "the scaffold must live outside the checkout"
    );
    let out = confab(dir.path())
        .args(["plugin", "new", "no-spam", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crate_dir = dir.path().join("no-spam");
    assert!(crate_dir.join("plugin.toml").is_file());
    let cargo_toml = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        !cargo_toml.contains(&checkout.display().to_string()),
        "the crate names no folder of this machine: {cargo_toml}"
    );

    // A second scaffold into the same folder is refused rather than overwriting it.
    let again = confab(dir.path())
        .args(["plugin", "new", "no-spam", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!again.status.success());
    let bad = confab(dir.path())
        .args(["plugin", "new", "No Spam"])
        .output()
        .expect("run");
    assert!(!bad.status.success());

    // Built as its README says, offline; the build folder is shared with the other
    // plugin builds only to save time (the crates it needs are in cargo's cache).
    let target = checkout.join("target/wasm-plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let build = Command::new(cargo)
        .args([
            "build",
            "--offline",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(&crate_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo runs");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let wasm = target.join("wasm32-wasip2/release/no_spam.wasm");
    let check = confab(dir.path())
        .args(["plugin", "check"])
        .arg(&wasm)
        .arg("--manifest")
        .arg(crate_dir.join("plugin.toml"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        stdout.contains("0.2.0") && stdout.contains("filter-message"),
        "{stdout}"
    );

    // Something that is not a plugin fails the check with a reason.
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").expect("write");
    let check = confab(dir.path())
        .args(["plugin", "check"])
        .arg(&junk)
        .output()
        .expect("run");
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("WebAssembly"));

    // Installed into a running server through the admin API, it refuses "spam".
    let data = dir.path().join("data");
    let mut server = confab(&data)
        .env("CONFAB_SERVER__LISTEN", "127.0.0.1:0")
        .env("CONFAB_LOG__FILTER", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the server");
    let mut line = String::new();
    let mut server_out = BufReader::new(server.stdout.take().expect("stdout"));
    server_out.read_line(&mut line).expect("the listening line");
    let base = line.trim().rsplit(' ').next().expect("address").to_owned();
    let token = std::fs::read_to_string(data.join("secrets/admin.token")).expect("admin token");
    let manifest = std::fs::read_to_string(crate_dir.join("plugin.toml")).expect("manifest");
    let wasm_bytes = std::fs::read(&wasm).expect("component");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let outcome = runtime.block_on(install_and_send(&base, token.trim(), manifest, wasm_bytes));
    let _ = server.kill();
    let _ = server.wait();
    outcome.expect("the installed plugin acts on messages");
}

/// Installs a plugin through `/admin/plugins`, then sends one message it must refuse and
/// one it must let through, as a client would.
async fn install_and_send(
    base: &str,
    admin_token: &str,
    manifest: String,
    wasm: Vec<u8>,
) -> Result<(), String> {
    use futures::SinkExt;
    use reqwest::multipart::{Form, Part};
    use serde_json::{json, Value};
    use tokio_tungstenite::tungstenite::Message;

    let http = reqwest::Client::new();
    let form = Form::new()
        .part("manifest", Part::text(manifest))
        .part("wasm", Part::bytes(wasm).file_name("no-spam.wasm"));
    let installed: Value = http
        .post(format!("{base}/admin/plugins"))
        .bearer_auth(admin_token)
        .multipart(form)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if installed["status"] != 200 {
        return Err(format!("install refused: {installed}"));
    }
    // The bundled word filter runs first and masks "spam"; the new plugin gets a word of
    // its own through its configuration, as an operator would set it.
    let configured: Value = http
        .put(format!("{base}/admin/plugins/no-spam/config"))
        .bearer_auth(admin_token)
        .json(&json!({"blocked": ["giraffe"]}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    if configured["status"] != 200 {
        return Err(format!("configuration refused: {configured}"));
    }
    let mut tokens = Vec::new();
    for name in ["scaffold-a", "scaffold-b"] {
        let form = [("username", name), ("password", "a-long-password-1")];
        http.post(format!("{base}/user/register"))
            .form(&form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let login: Value = http
            .post(format!("{base}/user/login"))
            .form(&form)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let token = login["data"]["aToken"]
            .as_str()
            .ok_or(format!("login failed: {login}"))?
            .to_owned();
        tokens.push(token);
    }
    let me: Value = http
        .get(format!("{base}/user/find?info=scaffold-b"))
        .header("Authorization", &tokens[0])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let peer = me["data"]["ID"].as_i64().ok_or(format!("find: {me}"))?;
    let ws_base = base.replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!(
        "{ws_base}/chat/ws?toUid={peer}&token={}",
        tokens[0]
    ))
    .await
    .map_err(|e| e.to_string())?;
    let welcome = next_text(&mut socket).await?;
    if welcome["code"] != 50002 {
        return Err(format!("unexpected welcome {welcome}"));
    }
    for (content, client_id) in [("a GIRAFFE for sale", "c1"), ("hello there", "c2")] {
        socket
            .send(Message::text(
                json!({"type": 1, "content": content, "client_id": client_id}).to_string(),
            ))
            .await
            .map_err(|e| e.to_string())?;
    }
    let frames = vec![next_text(&mut socket).await?, next_text(&mut socket).await?];
    let refused = frames
        .iter()
        .find(|f| f["client_id"] == "c1")
        .ok_or(format!("no answer to c1: {frames:?}"))?;
    if refused["code"] != 30013
        || !refused["content"]
            .as_str()
            .unwrap_or("")
            .contains("blocked")
    {
        return Err(format!("the plugin did not refuse its word: {refused}"));
    }
    let passed = frames
        .iter()
        .find(|f| f["client_id"] == "c2")
        .ok_or(format!("no answer to c2: {frames:?}"))?;
    if passed["code"] != 50005 && passed["code"] != 50004 {
        return Err(format!("a clean message was not acknowledged: {passed}"));
    }
    Ok(())
}

/// The next text frame of a socket, as JSON.
async fn next_text<S>(socket: &mut S) -> Result<serde_json::Value, String>
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .map_err(|_| "no frame within 20 s".to_owned())?
            .ok_or("socket closed")?
            .map_err(|e| e.to_string())?;
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).map_err(|e| e.to_string());
        }
    }
}

/// `confab config check`: the effective configuration with secrets masked, or exit code 2
/// and the offending key.
#[test]
fn config_check_prints_the_effective_configuration_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("confab.toml");
    std::fs::write(
        &file,
        "[chat]\nmax_message_chars = 1234\n[admin]\ntoken = \"file-admin-token-0123456789\"\n",
    )
    .expect("write");
    let out = confab(dir.path())
        .env(
            "CONFAB_AUTH__JWT_SECRET",
            "env-jwt-secret-env-jwt-secret-0123456789",
        )
        .env(
            "CONFAB_DATABASE__URL",
            "mysql://root:db-password@127.0.0.1:3306/test",
        )
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: toml::Table = stdout.parse().expect("the output is TOML");
    // The file's and the environment's values are in effect...
    assert_eq!(shown["chat"]["max_message_chars"].as_integer(), Some(1234));
    assert_eq!(
        shown["database"]["url"].as_str(),
        Some("mysql://root:***@127.0.0.1:3306/test")
    );
    // ...and no secret is shown.
    assert_eq!(shown["auth"]["jwt_secret"].as_str(), Some("***"));
    assert_eq!(shown["admin"]["token"].as_str(), Some("***"));
    for secret in ["env-jwt-secret", "file-admin-token", "db-password"] {
        assert!(!stdout.contains(secret), "{secret} shown: {stdout}");
    }
    // Nothing was created: checking touches no data.
    assert!(!dir.path().join("confab.db").exists());

    // An unknown key in the file: exit code 2, naming it.
    std::fs::write(&file, "[chat]\nmax_mesage_chars = 10\n").expect("write");
    let out = confab(dir.path())
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("max_mesage_chars"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A value out of range in the environment: exit code 2, naming the key.
    let out = confab(dir.path())
        .env("CONFAB_CHAT__MAX_MESSAGE_CHARS", "0")
        .args(["config", "check"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chat.max_message_chars"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A file that does not exist.
    let out = confab(dir.path())
        .args(["config", "check", "--config"])
        .arg(dir.path().join("missing.toml"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

/// A `CONFAB_*` value is one value: a newline and a `[table]` line inside it set nothing
/// else, whether the value reads as text or starts like a number.
#[test]
fn an_environment_value_cannot_set_other_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let injected = "\n[admin]\ntoken = \"an-admin-token-from-an-injection\"\n[chat]\nwindow = 3";
    let secret = format!("env-jwt-secret-env-jwt-secret-0123456789{injected}");
    let out = confab(dir.path())
        .env("CONFAB_AUTH__JWT_SECRET", &secret)
        .args(["config", "check"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: toml::Table = stdout.parse().expect("the output is TOML");
    assert_eq!(shown["auth"]["jwt_secret"].as_str(), Some("***"));
    // An admin token set would show as "***"; unset, it stays empty.
    assert_eq!(shown["admin"]["token"].as_str(), Some(""));
    let window = confab::config::ChatConfig::default().window;
    assert_eq!(shown["chat"]["window"].as_integer(), Some(window as i64));
    assert!(!stdout.contains("injection"), "{stdout}");

    // A value that starts like a number is still the whole value: not a number, so the
    // key it names is refused, and nothing after the newline is read.
    let out = confab(dir.path())
        .env("CONFAB_CHAT__MAX_MESSAGE_CHARS", format!("1234{injected}"))
        .args(["config", "check"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("CONFAB_CHAT__MAX_MESSAGE_CHARS (chat.max_message_chars)"),
        "{stderr}"
    );
}

/// Secrets too short to resist guessing stop both `config check` and `serve` with a message
/// naming the key; the server never starts listening on them.
#[test]
fn weak_secrets_stop_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (key, value, named) in [
        (
            "CONFAB_AUTH__JWT_SECRET",
            "only-31-bytes-long-jwt-secret!!",
            "auth.jwt_secret",
        ),
        (
            "CONFAB_ADMIN__TOKEN",
            "23-chars-admin-token-xx",
            "admin.token",
        ),
    ] {
        for command in [&["config", "check"][..], &["serve"][..]] {
            let out = confab(dir.path())
                .env("CONFAB_SERVER__LISTEN", "127.0.0.1:0")
                .env(key, value)
                .args(command)
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{command:?} with a weak {named} ran");
            assert!(
                stderr.contains(named) && stderr.contains("too weak"),
                "{command:?}: {stderr}"
            );
            assert!(
                !stderr.contains(value),
                "the weak secret is not echoed: {stderr}"
            );
        }
    }
    // At the minimum lengths both are accepted.
    let out = confab(dir.path())
        .env("CONFAB_AUTH__JWT_SECRET", "x".repeat(32))
        .env("CONFAB_ADMIN__TOKEN", "y".repeat(24))
        .args(["config", "check"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
