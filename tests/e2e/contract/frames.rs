//! The WebSocket half of the contract: a socket whose every frame sent is checked against
//! `ClientFrame` and every frame received against `ServerFrame` of
//! docs/schema/ws-frames.schema.json, read from the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_e2e::ws::FRAME_TIMEOUT;
use confab_e2e::TestApp;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The published schema of the frames, relative to the e2e crate.
const SCHEMA: &str = "../docs/schema/ws-frames.schema.json";

/// Codes of answers that are not refusals: each such frame must fit a shape other than
/// `Refusal`, which admits any code.
fn is_answer(code: Option<i64>) -> bool {
    match code {
        None => true,
        Some(code) => {
            code == 0 || (50001..=50005).contains(&code) || (50010..=50017).contains(&code)
        }
    }
}

/// The validators of the schema and what the frames checked against it showed.
pub(super) struct Frames {
    client: jsonschema::Validator,
    server: jsonschema::Validator,
    /// Each shape `ServerFrame` lists, by name, as published and closed (no field beyond
    /// those it lists).
    shapes: Vec<(String, jsonschema::Validator, jsonschema::Validator)>,
    seen: Mutex<Seen>,
}

/// What the frames checked so far showed.
#[derive(Default, Clone)]
pub(super) struct Seen {
    pub(super) sent: usize,
    pub(super) received: usize,
    /// Shape name → frames that fitted it.
    pub(super) shapes: BTreeMap<String, usize>,
    /// Frames that do not fit.
    pub(super) failures: Vec<String>,
    /// Fields frames carried beyond what their shape lists (allowed: shapes are open).
    pub(super) notes: BTreeSet<String>,
}

/// The schema with its root narrowed to one definition.
fn narrowed(schema: &Value, definition: &str) -> jsonschema::Validator {
    let mut schema = schema.clone();
    schema["anyOf"] = json!([{ "$ref": format!("#/$defs/{definition}") }]);
    jsonschema::draft202012::new(&schema).expect("the frame schema compiles")
}

impl Frames {
    pub(super) fn load() -> Arc<Self> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let schema: Value = serde_json::from_str(&text).expect("the frame schema is JSON");
        let mut closed = schema.clone();
        for shape in closed["$defs"]
            .as_object_mut()
            .into_iter()
            .flat_map(|d| d.values_mut())
        {
            if shape.get("properties").is_some() {
                shape["additionalProperties"] = json!(false);
            }
        }
        let shapes = schema["$defs"]["ServerFrame"]["anyOf"]
            .as_array()
            .expect("ServerFrame lists its shapes")
            .iter()
            .filter_map(|s| s["$ref"].as_str()?.strip_prefix("#/$defs/"))
            .map(|name| {
                let strict = narrowed(&closed, name);
                (name.to_owned(), narrowed(&schema, name), strict)
            })
            .collect();
        Arc::new(Self {
            client: narrowed(&schema, "ClientFrame"),
            server: narrowed(&schema, "ServerFrame"),
            shapes,
            seen: Mutex::new(Seen::default()),
        })
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True when `frame` is a `ClientFrame`.
    pub(super) fn is_client_frame(&self, frame: &Value) -> bool {
        self.client.is_valid(frame)
    }

    fn sent(&self, socket: &str, frame: &Value) {
        let mut seen = self.seen();
        seen.sent += 1;
        let errors: Vec<String> = self
            .client
            .iter_errors(frame)
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            seen.failures.push(format!(
                "{socket} sent {frame}, not a ClientFrame: {errors:?}"
            ));
        }
    }

    /// The shapes of `ServerFrame` that `frame` fits, or why it is not a server frame: it
    /// fails `ServerFrame`, or it is an answer (not a refusal) that fits only `Refusal`,
    /// which admits any code.
    pub(super) fn judge(&self, frame: &Value) -> Result<Vec<String>, String> {
        let errors: Vec<String> = self
            .server
            .iter_errors(frame)
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            return Err(format!("not a ServerFrame: {errors:?}"));
        }
        let fits: Vec<String> = self
            .shapes
            .iter()
            .filter(|(_, v, _)| v.is_valid(frame))
            .map(|(name, _, _)| name.clone())
            .collect();
        if is_answer(frame["code"].as_i64()) && fits.iter().all(|s| s == "Refusal") {
            return Err(format!(
                "an answer that fits no shape but Refusal ({fits:?})"
            ));
        }
        Ok(fits)
    }

    /// When `frame` fits none of the shapes it fits (other than `Refusal`, if any other)
    /// closed: which fields it carries beyond the first of them.
    pub(super) fn beyond(&self, fits: &[String], frame: &Value) -> Option<String> {
        let answers: Vec<&String> = fits.iter().filter(|s| *s != "Refusal").collect();
        let candidates = if answers.is_empty() {
            fits.iter().collect()
        } else {
            answers
        };
        let closed: Vec<&jsonschema::Validator> = self
            .shapes
            .iter()
            .filter(|(name, _, _)| candidates.contains(&name))
            .map(|(_, _, strict)| strict)
            .collect();
        if closed.iter().any(|strict| strict.is_valid(frame)) {
            return None;
        }
        let first = closed.first()?;
        let errors: Vec<String> = first.iter_errors(frame).map(|e| e.to_string()).collect();
        Some(format!("{}: {}", candidates.first()?, errors.join("; ")))
    }

    fn received(&self, socket: &str, frame: &Value) {
        let judged = self.judge(frame);
        let mut seen = self.seen();
        seen.received += 1;
        match judged {
            Ok(fits) => {
                if let Some(note) = self.beyond(&fits, frame) {
                    seen.notes.insert(note);
                }
                for shape in fits {
                    *seen.shapes.entry(shape).or_default() += 1;
                }
            }
            Err(why) => seen
                .failures
                .push(format!("{socket} received {frame}: {why}")),
        }
    }

    /// What the frames checked so far showed.
    pub(super) fn report(&self) -> Seen {
        self.seen().clone()
    }

    /// The shapes `ServerFrame` lists.
    pub(super) fn shape_names(&self) -> Vec<String> {
        self.shapes
            .iter()
            .map(|(name, _, _)| name.clone())
            .collect()
    }
}

/// An open socket under contract.
pub(super) struct Socket {
    name: String,
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    frames: Arc<Frames>,
}

/// Opens `path` with an optional token and `Origin`; a refusal's status and JSON body.
pub(super) async fn connect(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    origin: Option<&str>,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>, (u16, Value)> {
    let url = format!("{}{path}", app.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("a ws url");
    let headers = request.headers_mut();
    if let Some(token) = token {
        headers.insert("Authorization", token.parse().expect("a header value"));
    }
    if let Some(origin) = origin {
        headers.insert("Origin", origin.parse().expect("a header value"));
    }
    let connecting = tokio_tungstenite::connect_async(request);
    match tokio::time::timeout(FRAME_TIMEOUT, connecting).await {
        Ok(Ok((stream, response))) => {
            assert_eq!(response.status().as_u16(), 101);
            Ok(stream)
        }
        Ok(Err(WsError::Http(response))) => {
            let body = response
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Ok(Err(other)) => panic!("connecting to {path} failed: {other}"),
        Err(_) => panic!("connecting to {path} timed out"),
    }
}

impl Socket {
    /// Opens `path` as `token`'s user; panics on a refusal.
    pub(super) async fn open(
        app: &TestApp,
        name: &str,
        path: &str,
        token: &str,
        frames: &Arc<Frames>,
    ) -> Self {
        let stream = connect(app, path, Some(token), None)
            .await
            .unwrap_or_else(|refused| panic!("{name}: {path} refused: {refused:?}"));
        Self {
            name: name.to_owned(),
            stream,
            frames: frames.clone(),
        }
    }

    /// Sends a client frame, checked against `ClientFrame`.
    pub(super) async fn send(&mut self, frame: Value) {
        self.frames.sent(&self.name, &frame);
        self.send_raw(frame.to_string()).await;
    }

    /// Sends text as it is, unchecked.
    pub(super) async fn send_raw(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send a frame");
    }

    /// The next frame within `wait`, checked against `ServerFrame`; `None` when none came.
    async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let message = match tokio::time::timeout(wait, self.stream.next()).await {
                Err(_) => return None,
                Ok(message) => message,
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                        panic!("{}: a frame that is not JSON ({e}): {text}", self.name)
                    });
                    self.frames.received(&self.name, &frame);
                    return Some(frame);
                }
                Some(Ok(Message::Close(close))) => panic!("{}: closed: {close:?}", self.name),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("{}: {e}", self.name),
                None => panic!("{}: the connection ended", self.name),
            }
        }
    }

    /// Reads frames until one fits `wanted`; returns it (the others were checked too).
    pub(super) async fn until(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            match self.next_within(FRAME_TIMEOUT).await {
                Some(frame) if wanted(&frame) => return frame,
                Some(_) => continue,
                None => panic!("{}: no frame with {what} in time", self.name),
            }
        }
    }

    /// Reads frames until one has `code`.
    pub(super) async fn code(&mut self, code: i64) -> Value {
        self.until(&format!("code {code}"), |f| f["code"] == code)
            .await
    }

    /// Reads (and checks) whatever else arrives until the socket is quiet for a while.
    pub(super) async fn drain(&mut self) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_within(Duration::from_millis(400)).await {
            frames.push(frame);
        }
        frames
    }
}
