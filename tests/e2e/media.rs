//! Stored files as media: byte ranges (so audio and video seek), HEAD, validators and
//! conditional requests, the name a file was uploaded under, the headers that keep every
//! file inert, and a download the client stops reading.

use std::time::Duration;

use confab_e2e::{spawn_with, Reply, TestApp, TestUser};
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Uploads `bytes` as `name`; returns the file's URL.
async fn upload(app: &TestApp, user: &TestUser, name: &str, bytes: Vec<u8>) -> String {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    let reply = app
        .send(
            app.request(Method::POST, "/user/upload", Some(&user.access))
                .multipart(form),
        )
        .await;
    reply.expect(200, 200);
    reply.data()["url"].as_str().expect("url").to_owned()
}

/// A GET (or HEAD) of `url` with `headers`.
async fn fetch(app: &TestApp, method: Method, url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = app.request(method, url, None);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request).await
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", reply.headers))
        .to_str()
        .expect("ascii")
}

/// The headers every answer for a stored file carries, whatever its status.
fn assert_inert(reply: &Reply, disposition: &str) {
    assert_eq!(header(reply, "x-content-type-options"), "nosniff");
    assert_eq!(
        header(reply, "content-security-policy"),
        "default-src 'none'; sandbox"
    );
    assert_eq!(
        header(reply, "cache-control"),
        "private, max-age=31536000, immutable"
    );
    assert_eq!(header(reply, "content-disposition"), disposition);
}

#[tokio::test]
async fn media_seek_in_ranges_and_revalidate_with_validators() {
    let app = spawn_with(|c| c.uploads.max_bytes = 64 * 1024).await;
    let user = app.user("media").await;
    let audio: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let url = upload(&app, &user, "voice.mp3", audio.clone()).await;
    let inline = "inline; filename=\"voice.mp3\"";

    let whole = fetch(&app, Method::GET, &url, &[]).await;
    assert_eq!(whole.http, 200);
    assert_eq!(whole.bytes, audio);
    assert_eq!(header(&whole, "content-type"), "audio/mpeg");
    assert_eq!(header(&whole, "accept-ranges"), "bytes");
    assert_eq!(header(&whole, "content-length"), "1000");
    assert_inert(&whole, inline);
    let etag = header(&whole, "etag").to_owned();
    let modified = header(&whole, "last-modified").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    // The first bytes, the last ones, from an offset on.
    for (range, from, to) in [
        ("bytes=0-99", 0, 99),
        ("bytes=-10", 990, 999),
        ("bytes=900-", 900, 999),
        ("bytes=990-5000", 990, 999),
    ] {
        let part = fetch(&app, Method::GET, &url, &[("range", range)]).await;
        assert_eq!(part.http, 206, "{range}");
        assert_eq!(
            header(&part, "content-range"),
            format!("bytes {from}-{to}/1000")
        );
        assert_eq!(part.bytes, &audio[from..=to], "{range}");
        assert_eq!(header(&part, "content-type"), "audio/mpeg");
        assert_eq!(header(&part, "etag"), etag);
        assert_inert(&part, inline);
    }
    // Past the end: nothing to send.
    let past = fetch(&app, Method::GET, &url, &[("range", "bytes=1000-")]).await;
    assert_eq!(past.http, 416);
    assert_eq!(header(&past, "content-range"), "bytes */1000");
    assert_inert(&past, inline);
    // Several ranges, or a unit other than bytes: the whole file.
    for range in ["bytes=0-1,5-9", "items=0-1"] {
        let all = fetch(&app, Method::GET, &url, &[("range", range)]).await;
        assert_eq!((all.http, all.bytes.len()), (200, 1000), "{range}");
    }
    // If-Range: the range while the client's copy is current, else the whole file.
    for (validator, status) in [
        (etag.as_str(), 206),
        (modified.as_str(), 206),
        ("\"stale\"", 200),
        ("Mon, 01 Jan 2001 00:00:00 GMT", 200),
    ] {
        let resumed = fetch(
            &app,
            Method::GET,
            &url,
            &[("range", "bytes=500-"), ("if-range", validator)],
        )
        .await;
        assert_eq!(resumed.http, status, "{validator}");
    }

    // HEAD: the headers of a GET without the body.
    let head = fetch(&app, Method::HEAD, &url, &[]).await;
    assert_eq!(head.http, 200);
    assert!(head.bytes.is_empty());
    assert_eq!(header(&head, "content-length"), "1000");
    assert_eq!(header(&head, "etag"), etag);
    assert_inert(&head, inline);

    // Revalidation: 304 with the validators and the same headers, and no body.
    let weak = format!("W/{etag}");
    for conditions in [
        vec![("if-none-match", etag.as_str())],
        vec![("if-none-match", weak.as_str())],
        vec![("if-modified-since", modified.as_str())],
    ] {
        let unchanged = fetch(&app, Method::GET, &url, &conditions).await;
        assert_eq!(unchanged.http, 304, "{conditions:?}");
        assert!(unchanged.bytes.is_empty());
        assert_eq!(header(&unchanged, "etag"), etag);
        assert_eq!(header(&unchanged, "last-modified"), modified);
        assert_inert(&unchanged, inline);
    }
    // If-None-Match outranks If-Modified-Since.
    let other = fetch(
        &app,
        Method::GET,
        &url,
        &[
            ("if-none-match", "\"other\""),
            ("if-modified-since", modified.as_str()),
        ],
    )
    .await;
    assert_eq!(other.http, 200);
    let unmatched = fetch(&app, Method::GET, &url, &[("if-match", "\"other\"")]).await;
    assert_eq!(unmatched.http, 412);
    assert_inert(&unmatched, inline);
    let matched = fetch(&app, Method::GET, &url, &[("if-match", etag.as_str())]).await;
    assert_eq!(matched.http, 200);
}

#[tokio::test]
async fn downloads_keep_their_names_and_risky_types_stay_attachments() {
    let app = spawn_with(|c| {
        c.uploads.max_bytes = 64 * 1024;
        c.uploads.avatar_max_bytes = 16 * 1024;
    })
    .await;
    let user = app.user("names").await;

    let report = upload(&app, &user, "报告.pdf", b"%PDF-1.4 report".to_vec()).await;
    let pdf = fetch(&app, Method::GET, &report, &[]).await;
    assert_eq!(pdf.http, 200);
    assert_eq!(header(&pdf, "content-type"), "application/pdf");
    assert_inert(
        &pdf,
        "inline; filename=\"__.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf",
    );

    // Quotes, control characters and folders do not reach the header; a page is inert
    // bytes, saved under a name that says so.
    let page = upload(
        &app,
        &user,
        "../x/\"evil\"\t.html",
        b"<script>alert(1)</script>".to_vec(),
    )
    .await;
    assert!(page.ends_with(".bin"), "{page}");
    let served = fetch(&app, Method::GET, &page, &[]).await;
    assert_eq!(header(&served, "content-type"), "application/octet-stream");
    assert_inert(&served, "attachment; filename=\"'evil'.html.bin\"");

    let notes = upload(&app, &user, "notes.txt", b"plain words".to_vec()).await;
    let text = fetch(&app, Method::GET, &notes, &[("range", "bytes=0-4")]).await;
    assert_eq!(text.http, 206);
    assert_eq!(text.bytes, b"plain");
    assert_eq!(header(&text, "content-type"), "text/plain; charset=utf-8");
    assert_inert(&text, "attachment; filename=\"notes.txt\"");

    // Avatars: ranges and validators too, shown in place, with no name to offer.
    let form = Form::new().part("avatar", Part::bytes(PNG.to_vec()).file_name("me.png"));
    let reply = app
        .send(
            app.request(Method::PUT, "/user/update", Some(&user.access))
                .multipart(form),
        )
        .await;
    reply.expect(200, 200);
    let avatar = reply.data().as_str().expect("avatar url").to_owned();
    let start = fetch(&app, Method::GET, &avatar, &[("range", "bytes=0-7")]).await;
    assert_eq!(start.http, 206);
    assert_eq!(start.bytes, &PNG[..8]);
    assert_eq!(header(&start, "content-type"), "image/png");
    assert_inert(&start, "inline");
    let etag = header(&start, "etag").to_owned();
    let again = fetch(&app, Method::GET, &avatar, &[("if-none-match", &etag)]).await;
    assert_eq!(again.http, 304);
    assert_inert(&again, "inline");
    let head = fetch(&app, Method::HEAD, &avatar, &[]).await;
    assert_eq!(head.http, 200);
    assert_eq!(header(&head, "content-length"), PNG.len().to_string());

    // Unknown files are still the API's 404, whatever the request asks for.
    fetch(
        &app,
        Method::GET,
        "/upload/data/0123456789abcdef0123456789abcdef.png",
        &[("range", "bytes=0-1")],
    )
    .await
    .expect(404, 30021);
}

#[tokio::test]
async fn a_download_the_client_stops_reading_is_cut_after_the_write_timeout() {
    const SIZE: usize = 4 * 1024 * 1024;
    let app = spawn_with(|c| {
        c.uploads.max_bytes = SIZE as u64;
        c.server.write_timeout_secs = 1;
    })
    .await;
    let user = app.user("stall").await;
    let url = upload(&app, &user, "film.mp4", vec![7u8; SIZE]).await;

    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    stream
        .write_all(format!("GET {url} HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    // Read nothing for longer than the write timeout, then everything there is.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&received[..received.len().min(100)])
    );
    assert!(
        received.len() < SIZE,
        "the whole file arrived: {} bytes",
        received.len()
    );

    // A reader that reads gets all of it.
    let whole = fetch(&app, Method::GET, &url, &[]).await;
    assert_eq!((whole.http, whole.bytes.len()), (200, SIZE));
}
