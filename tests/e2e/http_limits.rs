//! What a client may cost the server, over real TCP sockets: headers and bodies that come
//! too slowly, idle connections, the connection cap, bodies that try to outgrow their caps,
//! file parts where no file is taken, and uploads cut off midway.

use std::path::PathBuf;
use std::time::Duration;

use confab_e2e::{spawn_with, Reply, TestApp, REQUEST_TIMEOUT};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const PING: &[u8] = b"GET /user/ping HTTP/1.1\r\nHost: confab\r\n\r\n";

/// A server whose deadlines pass within a second, with small body caps.
async fn limited_app(adjust: impl FnOnce(&mut confab::Config)) -> TestApp {
    spawn_with(|c| {
        c.server.header_timeout_secs = 1;
        c.server.keepalive_idle_secs = 1;
        c.server.body_timeout_secs = 1;
        c.server.max_body_bytes = 4096;
        c.uploads.max_bytes = 1024 * 1024;
        adjust(c);
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads one response: status line, headers, and a body of `Content-Length` bytes.
async fn read_reply(stream: &mut (impl AsyncRead + Unpin)) -> Reply {
    let read = async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            read_more(stream, &mut buf).await;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let http = head
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {head:?}"));
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
        while buf.len() < head_end + length {
            read_more(stream, &mut buf).await;
        }
        let bytes = buf[head_end..head_end + length].to_vec();
        Reply {
            http,
            headers: reqwest::header::HeaderMap::new(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            bytes,
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .expect("a response in time")
}

async fn read_more(stream: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await.expect("read the response");
    assert!(
        n > 0,
        "the connection closed in the middle of a response: {:?}",
        String::from_utf8_lossy(buf)
    );
    buf.extend_from_slice(&chunk[..n]);
}

/// Reads until the server closes the connection; returns whatever it sent before.
async fn until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let read = async {
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .expect("the server closes the connection")
}

/// Writes `bytes` one at a time, `every` apart, and stops quietly when the server has gone.
async fn drip(
    writer: &mut (impl AsyncWrite + Unpin),
    bytes: impl IntoIterator<Item = u8>,
    every: Duration,
) {
    for byte in bytes {
        if writer.write_all(&[byte]).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(every).await;
    }
}

/// One chunk of a `Transfer-Encoding: chunked` body.
fn chunk(data: &[u8]) -> Vec<u8> {
    [format!("{:x}\r\n", data.len()).as_bytes(), data, b"\r\n"].concat()
}

/// The files in the upload folders: being received, placed, and avatars.
fn upload_files(app: &TestApp) -> Vec<PathBuf> {
    ["tmp", "data", "personal"]
        .iter()
        .flat_map(|dir| {
            std::fs::read_dir(app.data_dir.join("uploads").join(dir))
                .expect("an upload folder")
                .map(|entry| entry.expect("a folder entry").path())
        })
        .collect()
}

/// Waits, within the request timeout, until `check` holds.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_timeout() {
    let app = limited_app(|c| c.server.keepalive_idle_secs = 30).await;
    let started = Instant::now();
    let (mut reader, mut writer) = connect(&app).await.into_split();
    // A header that never ends, a byte every 100 ms.
    let head = b"GET /user/ping HTTP/1.1\r\nHost: confab\r\nX-Slow: "
        .iter()
        .copied()
        .chain(std::iter::repeat(b'a'));
    let sent = tokio::select! {
        sent = until_closed(&mut reader) => sent,
        () = drip(&mut writer, head, Duration::from_millis(100)) => unreachable!(),
    };
    assert!(sent.is_empty(), "{:?}", String::from_utf8_lossy(&sent));
    assert!(started.elapsed() >= Duration::from_secs(1));
    // The server is not held by it.
    app.get("/user/ping", None, &[]).await.expect(200, 200);
}

#[tokio::test]
async fn a_kept_alive_connection_gets_the_header_timeout_from_its_next_requests_first_byte() {
    let app = limited_app(|c| c.server.keepalive_idle_secs = 30).await;
    let (mut reader, mut writer) = connect(&app).await.into_split();
    writer.write_all(PING).await.expect("send");
    read_reply(&mut reader).await.expect(200, 200);
    // The next request trickles in: it is cut off after the header timeout, not after the
    // keep-alive idle time.
    let next = PING.iter().copied().cycle();
    let sent = tokio::select! {
        sent = until_closed(&mut reader) => sent,
        () = drip(&mut writer, next, Duration::from_millis(300)) => unreachable!(),
    };
    assert!(sent.is_empty(), "{:?}", String::from_utf8_lossy(&sent));
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    // Only the keep-alive idle time can close it: the header timeout is long.
    let app = limited_app(|c| c.server.header_timeout_secs = 30).await;
    let mut stream = connect(&app).await;
    stream.write_all(PING).await.expect("send");
    read_reply(&mut stream).await.expect(200, 200);
    // The server's idle clock starts after its last answer, so after this instant.
    let before_last_answer = Instant::now();
    stream.write_all(PING).await.expect("send");
    read_reply(&mut stream).await.expect(200, 200);
    assert!(until_closed(&mut stream).await.is_empty());
    assert!(before_last_answer.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_body_that_stalls_or_trickles_gets_408() {
    let app = limited_app(|_| {}).await;
    // Ten bytes of a hundred, then nothing.
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /user/login HTTP/1.1\r\nHost: confab\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"usernam",
        )
        .await
        .expect("send");
    let reply = read_reply(&mut stream).await;
    reply.expect(408, 30025);
    assert!(reply.error().contains("in time"), "{}", reply.body);
    assert!(until_closed(&mut stream).await.is_empty());

    // A byte every 300 ms never pauses for the whole timeout, but falls far behind the
    // least rate once the timeout has passed.
    let (mut reader, mut writer) = connect(&app).await.into_split();
    writer
        .write_all(
            b"POST /user/login HTTP/1.1\r\nHost: confab\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n",
        )
        .await
        .expect("send");
    let spaces = std::iter::repeat_n(b' ', 1000);
    let reply = tokio::select! {
        reply = read_reply(&mut reader) => reply,
        () = drip(&mut writer, spaces, Duration::from_millis(300)) => panic!("the whole body was taken"),
    };
    reply.expect(408, 30025);

    // The server still answers everyone else.
    app.get("/user/ping", None, &[]).await.expect(200, 200);
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_for_a_free_slot() {
    let app = limited_app(|c| {
        c.server.max_connections = 2;
        c.server.keepalive_idle_secs = 60;
        c.server.header_timeout_secs = 60;
    })
    .await;
    let mut first = connect(&app).await;
    first.write_all(PING).await.expect("send");
    read_reply(&mut first).await.expect(200, 200);
    let mut second = connect(&app).await;
    second.write_all(PING).await.expect("send");
    read_reply(&mut second).await.expect(200, 200);

    // The kernel completes the third connection, but the server does not take it.
    let mut third = connect(&app).await;
    third.write_all(PING).await.expect("send");
    // The connections it holds still work...
    first.write_all(PING).await.expect("send");
    read_reply(&mut first).await.expect(200, 200);
    // ...while the third waits.
    let mut byte = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(waited.is_err(), "a connection past the cap was served");

    // A slot frees up, and the waiting connection is served.
    drop(second);
    read_reply(&mut third).await.expect(200, 200);
}

#[tokio::test]
async fn a_multipart_body_whose_boundary_never_comes_is_cut_at_the_cap() {
    let app = limited_app(|c| c.server.body_timeout_secs = 30).await;
    let user = app.user("bounded").await;
    let field = "--xyz\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\n";
    let file = "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n";
    let endless_headers = "--xyz\r\nContent-Disposition: form-data; name=\"username\"\r\nX-Pad: ";
    // Each body is sent in pieces of 1 KiB, twice its cap in all, and never finishes (the
    // last chunk never comes): an answer can only come from the cap. The cap is 4 KiB for a
    // form without a file, and 1 MiB more for an upload.
    let cases: [(&str, &str, usize, (u16, i64)); 5] = [
        ("/user/login", "", 8, (413, 30020)),
        ("/user/login", field, 8, (413, 30020)),
        ("/user/login", endless_headers, 8, (413, 30020)),
        ("/user/upload", "", 2 * 1029, (413, 30017)),
        ("/user/upload", file, 2 * 1029, (413, 30017)),
    ];
    for (path, opening, pieces, (http, code)) in cases {
        let (mut reader, mut writer) = connect(&app).await.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: confab\r\nAuthorization: {}\r\n\
             Content-Type: multipart/form-data; boundary=xyz\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            user.access
        );
        let feed = async {
            // (An empty chunk would be the last one.)
            let mut body = if opening.is_empty() {
                Vec::new()
            } else {
                chunk(opening.as_bytes())
            };
            for _ in 0..pieces {
                body.extend_from_slice(&chunk(&[b'a'; 1024]));
            }
            // Once the server has answered it may close before reading everything.
            let _ = writer.write_all(head.as_bytes()).await;
            let _ = writer.write_all(&body).await;
            std::future::pending::<()>().await;
        };
        let reply = tokio::select! {
            reply = read_reply(&mut reader) => reply,
            () = feed => unreachable!(),
        };
        reply.expect(http, code);
    }
    assert_eq!(upload_files(&app), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_file_part_is_refused_where_no_file_is_taken() {
    let app = limited_app(|c| c.server.body_timeout_secs = 30).await;
    // The part's headers are enough: the answer comes while its content is on its way.
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /user/login HTTP/1.1\r\nHost: confab\r\n\
              Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 4000\r\n\r\n\
              --xyz\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n\
              Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n",
        )
        .await
        .expect("send");
    let reply = read_reply(&mut stream).await;
    reply.expect(400, 400);
    assert!(reply.error().contains("takes no files"), "{}", reply.body);
    assert_eq!(upload_files(&app), Vec::<PathBuf>::new());

    // Whole forms with a file, to routes that take none.
    let user = app.user("nofiles").await;
    let with_file = |fields: &[(&str, &str)]| {
        let mut form = Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        form.part("file", Part::bytes(vec![7u8; 2048]).file_name("a.bin"))
    };
    let requests = [
        (
            Method::POST,
            "/user/register",
            None,
            with_file(&[("username", "filer_one"), ("password", "password123")]),
        ),
        (
            Method::POST,
            "/group/create",
            Some(user.access.as_str()),
            with_file(&[("group_name", "files")]),
        ),
        (
            Method::POST,
            "/friend/add",
            Some(user.access.as_str()),
            with_file(&[("uid", "1")]),
        ),
    ];
    for (method, path, token, form) in requests {
        let reply = app
            .send(app.request(method, path, token).multipart(form))
            .await;
        reply.expect(400, 400);
        assert!(
            reply.error().contains("takes no files"),
            "{path}: {}",
            reply.body
        );
    }
    // Nothing happened: no account, no group.
    app.login("filer_one", "password123").await.expect(200, 500);
    let groups = app.get("/group/mine", Some(&user.access), &[]).await;
    groups.expect(200, 200);
    assert_eq!(groups.data(), &json!([]));
    assert_eq!(upload_files(&app), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn an_upload_cut_off_midway_leaves_no_temp_file() {
    let app = limited_app(|_| {}).await;
    let user = app.user("cutoff").await;
    let start = format!(
        "POST /user/upload HTTP/1.1\r\nHost: confab\r\nAuthorization: {}\r\n\
         Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 500000\r\n\r\n\
         --xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n",
        user.access
    );
    let receiving = || {
        upload_files(&app)
            .iter()
            .any(|path| path.parent().is_some_and(|dir| dir.ends_with("tmp")))
    };

    // The file keeps coming (a byte every 100 ms) until its temp file is seen, so the body
    // deadline cannot pass first; then the client goes away.
    let (reader, mut writer) = connect(&app).await.into_split();
    writer.write_all(start.as_bytes()).await.expect("send");
    writer.write_all(&[7u8; 32 * 1024]).await.expect("send");
    tokio::select! {
        () = eventually("the file is being received", receiving) => {}
        () = drip(&mut writer, std::iter::repeat(7u8), Duration::from_millis(100)) => unreachable!(),
    }
    drop((reader, writer));
    eventually("the temp file is removed", || upload_files(&app).is_empty()).await;

    // This time the client stays but stops sending: 408, and the temp file is removed.
    let (mut reader, mut writer) = connect(&app).await.into_split();
    writer.write_all(start.as_bytes()).await.expect("send");
    writer.write_all(&[7u8; 32 * 1024]).await.expect("send");
    tokio::select! {
        () = eventually("the file is being received", receiving) => {}
        () = drip(&mut writer, std::iter::repeat(7u8), Duration::from_millis(100)) => unreachable!(),
    }
    read_reply(&mut reader).await.expect(408, 30025);
    eventually("the temp file is removed", || upload_files(&app).is_empty()).await;

    // A whole upload still works.
    let form = Form::new().part("file", Part::bytes(vec![7u8; 2048]).file_name("a.bin"));
    app.send(
        app.request(Method::POST, "/user/upload", Some(&user.access))
            .multipart(form),
    )
    .await
    .expect(200, 200);
}

#[tokio::test]
async fn websockets_outlive_the_request_timeouts() {
    let app = limited_app(|_| {}).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut ws = app
        .ws(&format!("/chat/ws?toUid={}", bob.id), Some(&alice.access))
        .await
        .expect("upgrade");
    assert_eq!(ws.recv().await["code"], 50002);
    // Longer than the header, body and keep-alive timeouts put together.
    tokio::time::sleep(Duration::from_secs(4)).await;
    ws.send(json!({"type": 1, "content": "still here"})).await;
    let ack = ws.recv().await;
    assert_eq!(ack["code"], 50005, "{ack}");
}
