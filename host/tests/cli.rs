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
        !logs.contains(password),
        "a password reached the log: {logs}"
    );
    assert!(!logs.contains("tok-en-secret"), "a token reached the log");
    assert!(!logs.contains("eyJ"), "a JWT reached the log");
}

/// A plugin author's path: scaffold, build for wasm32-wasip2, check. The scaffold must
/// build as it is and pass its own check.
#[test]
fn a_scaffolded_plugin_builds_and_passes_the_check() {
    let dir = tempfile::tempdir().expect("tempdir");
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

    // Built as its README says, sharing the build folder of the other plugin builds.
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm-plugins")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let build = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(&crate_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
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
        stdout.contains("0.1.1") && stdout.contains("filter-message"),
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
}
