//! `POST /admin/backup`: a copy of the SQLite database taken by the serving process, which
//! holds every message acknowledged before the request; and the small client with which
//! `confab backup` asks a running server for one.

use std::time::Duration;

use anyhow::Context;
use axum::response::Response;
use axum::Extension;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::envelope::ok;
use crate::api::openapi::schemas::Envelope;
use crate::api::operator::{Operator, OperatorHeader};
use crate::audit::Action;
use crate::backup::{Backups, Taken};
use crate::error::{Error, Result};

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(take))]
pub(super) struct Api;

/// How long `confab backup` waits for the server to accept its connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer the client reads: an envelope around a file name and three numbers.
const MAX_ANSWER: u64 = 64 * 1024;

/// `POST /admin/backup`: waits until SQLite holds every acknowledged message, copies the
/// database into `<data_dir>/backups/` and answers where, with its size and messages. The
/// file stays on the server's machine; nothing of the database crosses the network.
#[utoipa::path(
    post,
    path = "/admin/backup",
    tag = "operators",
    summary = "Copy the SQLite database on the server",
    description = "Waits until SQLite holds every message acknowledged before the request, then \
        copies the database into `<data_dir>/backups/` and answers where. The file stays on \
        the server's machine: nothing of the database crosses the network. Refused (400) on \
        MySQL or MariaDB, which are backed up with their own tools; 404 when the server \
        takes no backups.",
    security(("admin" = [])),
    params(OperatorHeader),
    responses((status = 200, description = "The copy: its path on the server, its size and its messages", body = Envelope<Taken>)),
)]
pub(super) async fn take(
    operator: Operator,
    backups: Option<Extension<Backups>>,
) -> Result<Response> {
    let Some(Extension(backups)) = backups else {
        return Err(Error::NotFound("this server takes no backups"));
    };
    let taken = backups.take().await?;
    let details = serde_json::json!({
        "file": taken.file,
        "messages": taken.copied.messages,
        "bytes": taken.copied.bytes,
    });
    operator.record(Action::Backup, "database", details).await;
    Ok(ok(taken))
}

/// Asks the server at `base` (`http://host:port`) for a backup with the admin `token`.
/// Plain HTTP/1.1 on one connection: the command talks to a server on its own machine.
pub async fn ask_server(base: &str, token: &str) -> anyhow::Result<Taken> {
    let authority = base
        .strip_prefix("http://")
        .with_context(|| format!("{base} is not an http:// address"))?;
    let authority = authority.split('/').next().unwrap_or(authority);
    let mut stream =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(authority))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {CONNECT_TIMEOUT:?}"))?
            .with_context(|| format!("connecting to {authority}"))?;
    let request = format!(
        "POST /admin/backup HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .context("sending the request")?;
    // The copy takes as long as the database is large: the answer is awaited without a
    // deadline, as a long `cp` would be.
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .await
        .context("reading the answer")?;
    let envelope = body_of(&answer)?;
    let envelope: serde_json::Value =
        serde_json::from_slice(&envelope).context("the answer is not the server's JSON")?;
    if envelope["status"] != 200 {
        anyhow::bail!(
            "the server refused: {} ({})",
            envelope["error"].as_str().unwrap_or_default(),
            envelope["status"]
        );
    }
    serde_json::from_value(envelope["data"].clone()).context("the answer names no backup")
}

/// The body of an HTTP/1.1 answer read to its end, chunked or not.
fn body_of(answer: &[u8]) -> anyhow::Result<Vec<u8>> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer is not HTTP")?;
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let body = &answer[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk is cut short")?;
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or(s).trim(), 16).ok())
            .context("a chunk size is malformed")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        anyhow::ensure!(rest.len() >= size, "a chunk is cut short");
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(body_of(plain).expect("plain"), b"{}");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(body_of(chunked).expect("chunked"), b"{\"a\":1}");
        assert!(body_of(b"garbage").is_err());
    }
}
