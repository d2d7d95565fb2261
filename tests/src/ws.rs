//! A WebSocket client for tests: JSON frames in and out, every wait bounded.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for one frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(15);

/// An open client socket.
pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The connection ended without a close frame.
    Dropped,
}

/// Connects to `url` (`ws://…`) with an optional `Authorization` header. On an HTTP
/// refusal returns its status and JSON body.
pub async fn connect(url: &str, token: Option<&str>) -> Result<Ws, (u16, Value)> {
    let mut request = url.into_client_request().expect("a valid ws url");
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("Authorization", token.parse().expect("header value"));
    }
    match tokio::time::timeout(FRAME_TIMEOUT, tokio_tungstenite::connect_async(request)).await {
        Ok(Ok((stream, _))) => Ok(Ws { stream }),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((status, body))
        }
        Ok(Err(other)) => panic!("connecting failed: {other}"),
        Err(_) => panic!("connecting timed out"),
    }
}

impl Ws {
    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send a frame");
    }

    /// Sends raw bytes as a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.stream
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send a frame");
    }

    /// The next JSON text frame; panics on close or timeout.
    pub async fn recv(&mut self) -> Value {
        match self.next().await {
            Ok(value) => value,
            Err(ended) => panic!("expected a frame, the socket ended: {ended:?}"),
        }
    }

    /// The next JSON text frame, or how the socket ended.
    pub async fn next(&mut self) -> Result<Value, Ended> {
        loop {
            let message = tokio::time::timeout(FRAME_TIMEOUT, self.stream.next())
                .await
                .expect("a frame arrives in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(text.as_str()).expect("JSON frame"))
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Ended::Closed(
                        frame.map(|f: CloseFrame| u16::from(f.code)).unwrap_or(1005),
                    ))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Ended::Dropped),
            }
        }
    }

    /// Reads frames until one has `code`; returns it and the frames before it.
    pub async fn until_code(&mut self, code: i64) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let frame = self.recv().await;
            if frame["code"] == code {
                return (frame, before);
            }
            before.push(frame);
        }
    }

    /// Reads until the socket ends.
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(ended) = self.next().await {
                return ended;
            }
        }
    }

    /// Closes the socket.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
