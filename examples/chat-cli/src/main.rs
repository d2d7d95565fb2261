//! A terminal chat client for Confab, and the shortest complete example of its protocol:
//! register or log in over REST, open a WebSocket, send what is typed, print what arrives.
//!
//! ```text
//! confab-chat --user alice --password 'correct horse' --register --to bob
//! confab-chat --user bob --password 'battery staple' --to alice      # in another terminal
//! confab-chat --user alice --password 'correct horse' --group 1
//! ```
//! Lines typed are sent; `/history` and `/unread` (private chats) ask for earlier messages.

use anyhow::{bail, Context};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Chat with a friend (`--to`) or a group (`--group`) on a Confab server.
#[derive(Debug, Parser)]
struct Args {
    /// The server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// Your user name.
    #[arg(long)]
    user: String,
    /// Your password.
    #[arg(long)]
    password: String,
    /// Register the account first.
    #[arg(long)]
    register: bool,
    /// Chat privately with this user (a name or an id).
    #[arg(long, conflicts_with = "group")]
    to: Option<String>,
    /// Chat in this group (an id; you must be a member).
    #[arg(long)]
    group: Option<i64>,
}

/// Sends a REST request and returns the envelope's `data`, or its `error`.
async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let reply: Value = request.send().await?.json().await?;
    if reply["status"] != 200 {
        bail!("{} ({})", reply["error"], reply["status"]);
    }
    Ok(reply["data"].clone())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::new();
    let base = args.base.trim_end_matches('/');
    let credentials = json!({"username": args.user, "password": args.password});
    if args.register {
        call(
            client
                .post(format!("{base}/user/register"))
                .json(&credentials),
        )
        .await
        .context("registering")?;
    }
    let tokens = call(client.post(format!("{base}/user/login")).json(&credentials))
        .await
        .context("logging in")?;
    let token = tokens["aToken"].as_str().context("no aToken")?.to_owned();

    let path = match (&args.to, args.group) {
        (Some(to), None) => {
            let peer = call(
                client
                    .get(format!("{base}/user/find"))
                    .query(&[("info", to)])
                    .header("Authorization", &token),
            )
            .await
            .context("finding the peer")?;
            format!("/chat/ws?toUid={}", peer["ID"])
        }
        (None, Some(group)) => format!("/chat/group_ws?group_id={group}"),
        _ => bail!("give --to USER or --group ID"),
    };
    let url = format!("{}{path}", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Authorization", token.parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("opening the socket")?;
    let (mut sink, mut stream) = socket.split();
    eprintln!("connected; type a message and press Enter (/history, /unread, Ctrl-D to quit)");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                let frame = match line.trim() {
                    "" => continue,
                    "/history" => json!({"type": 2, "content": "0"}),
                    "/unread" => json!({"type": 3}),
                    text => json!({"type": 1, "content": text}),
                };
                sink.send(Message::Text(frame.to_string().into())).await?;
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => show(text.as_str()),
                Some(Ok(Message::Close(close))) => {
                    eprintln!("closed by the server: {close:?}");
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => bail!("socket error: {err}"),
                None => break,
            },
        }
    }
    Ok(())
}

/// Prints a server frame as a chat line.
fn show(text: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        println!("{text}");
        return;
    };
    let content = frame["content"].as_str().unwrap_or_default();
    match (
        frame["code"].as_i64(),
        frame["sender"].as_str(),
        frame["from"].as_str(),
    ) {
        (_, Some(sender), _) => println!("[{sender}] {content}"),
        (Some(50001), _, Some(from)) => println!("[{from}] {content}"),
        (Some(0), _, Some(from)) => println!("  ({from}) {content}"),
        (Some(50004), ..) => println!("  ✓ delivered (#{})", frame["id"]),
        (Some(50005), ..) => println!("  ✓ stored, they are offline (#{})", frame["id"]),
        (Some(50002), ..) if frame["id"].is_i64() => println!("  ✓ sent (#{})", frame["id"]),
        (Some(50002 | 50003), ..) => {}
        (Some(code), ..) => println!("  ! {code}: {content}"),
        _ => println!("{text}"),
    }
}
