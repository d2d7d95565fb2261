//! The REST half of the contract: each real answer is looked up in the served OpenAPI
//! document by path template, method and status, and its body and headers are checked
//! against what that response documents.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::strict::closed;

/// One answer as it came over the wire.
pub(super) struct Answer<'a> {
    /// HTTP status.
    pub(super) status: u16,
    /// Its headers; `None` for a WebSocket refusal, whose client keeps only status and body.
    pub(super) headers: Option<&'a HeaderMap>,
    /// The body.
    pub(super) bytes: &'a [u8],
}

/// The served document and what the answers checked against it showed.
pub(super) struct Contract {
    doc: Value,
    validators: HashMap<String, jsonschema::Validator>,
    /// The document with every object closed (see [`closed`]), and its validators.
    strict: Value,
    strict_validators: HashMap<String, jsonschema::Validator>,
    /// Fields answers carried that their schemas do not list.
    notes: BTreeSet<String>,
    /// `GET /user/me` → the statuses it answered.
    answered: BTreeMap<String, BTreeSet<u16>>,
    /// `GET /friend/list 200 X-Next-After`: documented headers seen at least once.
    headers_seen: BTreeSet<String>,
    failures: Vec<String>,
    checked: usize,
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// A JSON pointer token: `~` and `/` escaped.
fn token(text: &str) -> String {
    text.replace('~', "~0").replace('/', "~1")
}

/// `pointer` as a URI fragment reference: `#` and the pointer, with what a fragment may not
/// hold (the braces of a path template) percent-encoded.
fn fragment(pointer: &str) -> String {
    let mut reference = String::from("#");
    for c in pointer.chars() {
        if c.is_ascii_alphanumeric() || "-._~/!$&'()*+,;=:@".contains(c) {
            reference.push(c);
        } else {
            let mut buffer = [0u8; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                reference.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    reference
}

/// A media type without spaces, lower case.
fn media(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

impl Contract {
    pub(super) fn new(doc: Value) -> Self {
        Self {
            strict: closed(&doc),
            strict_validators: HashMap::new(),
            notes: BTreeSet::new(),
            doc,
            validators: HashMap::new(),
            answered: BTreeMap::new(),
            headers_seen: BTreeSet::new(),
            failures: Vec::new(),
            checked: 0,
        }
    }

    /// Every operation of the document, as `METHOD /template`.
    pub(super) fn operations(&self) -> Vec<String> {
        let mut all = Vec::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
                all.push(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
        all
    }

    /// The operations answered so far, with their statuses.
    pub(super) fn answered(&self) -> &BTreeMap<String, BTreeSet<u16>> {
        &self.answered
    }

    /// The fields answers carried that their schemas do not list (allowed: the schemas
    /// leave objects open).
    pub(super) fn notes(&self) -> &BTreeSet<String> {
        &self.notes
    }

    /// What went wrong so far.
    pub(super) fn failures(&self) -> &[String] {
        &self.failures
    }

    /// How many answers were checked.
    pub(super) fn checked(&self) -> usize {
        self.checked
    }

    /// The documented headers never seen on an answer of an operation that was answered.
    pub(super) fn headers_never_seen(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for operation in self.answered.keys() {
            for (status, response) in self.responses(operation).into_iter().flatten() {
                for name in response["headers"]
                    .as_object()
                    .into_iter()
                    .flat_map(|h| h.keys())
                {
                    let key = format!("{operation} {status} {name}");
                    if !self.headers_seen.contains(&key) {
                        missing.push(key);
                    }
                }
            }
        }
        missing
    }

    /// The exact statuses (not `4XX`/`5XX`) documented for answered operations that no
    /// answer had.
    pub(super) fn statuses_never_answered(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for (operation, statuses) in &self.answered {
            for key in self.responses(operation).into_iter().flat_map(|r| r.keys()) {
                let exact = key.parse::<u16>().ok();
                if exact.is_some_and(|s| !statuses.contains(&s)) {
                    missing.push(format!("{operation} {key}"));
                }
            }
        }
        missing
    }

    /// The responses of `METHOD /template`.
    fn responses(&self, operation: &str) -> Option<&serde_json::Map<String, Value>> {
        let pointer = self.operation_pointer(operation)?;
        self.doc
            .pointer(&format!("{pointer}/responses"))?
            .as_object()
    }

    /// The path template of the document that `path` (no query) falls under.
    fn template(&self, path: &str) -> Option<String> {
        let wanted: Vec<&str> = path.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        // A literal path wins over a template of the same shape.
        if paths.contains_key(path) {
            return Some(path.to_owned());
        }
        paths
            .keys()
            .find(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == wanted.len()
                    && parts.iter().zip(&wanted).all(|(t, w)| {
                        t == w || (t.starts_with('{') && t.ends_with('}') && !w.is_empty())
                    })
            })
            .cloned()
    }

    /// `/paths/~1user~1me/get` for `GET /user/me`.
    fn operation_pointer(&self, operation: &str) -> Option<String> {
        let (method, template) = operation.split_once(' ')?;
        Some(format!(
            "/paths/{}/{}",
            token(template),
            method.to_ascii_lowercase()
        ))
    }

    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }

    /// Checks one answer of `method path`; true when it matched the document.
    pub(super) fn check(&mut self, method: &str, path: &str, answer: &Answer<'_>) -> bool {
        self.checked += 1;
        let before = self.failures.len();
        let label = format!("{method} {path} → {}", answer.status);
        let Some(template) = self.template(path) else {
            self.fail(format!("{label}: no path of the document matches"));
            return false;
        };
        let operation = format!("{} {template}", method.to_ascii_uppercase());
        let Some(op_pointer) = self.operation_pointer(&operation) else {
            return false;
        };
        if self.doc.pointer(&op_pointer).is_none() {
            self.fail(format!(
                "{label}: the document has no operation {operation}"
            ));
            return false;
        }
        self.answered
            .entry(operation.clone())
            .or_default()
            .insert(answer.status);
        let responses = &self.doc.pointer(&op_pointer).unwrap_or(&Value::Null)["responses"];
        let exact = answer.status.to_string();
        let range = format!("{}XX", answer.status / 100);
        let Some(key) = [exact, range]
            .into_iter()
            .find(|k| responses.get(k).is_some())
        else {
            self.fail(format!(
                "{label}: status not documented for {operation} (documented: {:?})",
                responses
                    .as_object()
                    .map(|r| r.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            ));
            return false;
        };
        let pointer = format!("{op_pointer}/responses/{key}");
        let response = self.doc.pointer(&pointer).cloned().unwrap_or(Value::Null);
        if let Some(headers) = answer.headers {
            self.check_headers(&label, &format!("{operation} {key}"), &response, headers);
        }
        self.check_body(&label, &pointer, &response, answer);
        self.failures.len() == before
    }

    fn check_headers(&mut self, label: &str, seen_as: &str, response: &Value, got: &HeaderMap) {
        for (name, spec) in response["headers"].as_object().into_iter().flatten() {
            let Some(value) = got.get(name.as_str()) else {
                // Paging headers are sent only when more remain.
                if !name.to_ascii_lowercase().starts_with("x-next-") {
                    self.fail(format!("{label}: documented header {name} missing"));
                }
                continue;
            };
            self.headers_seen.insert(format!("{seen_as} {name}"));
            let text = value.to_str().unwrap_or_default();
            if spec["schema"]["type"] == "integer" {
                let minimum = spec["schema"]["minimum"].as_i64().unwrap_or(i64::MIN);
                if !text.parse::<i64>().is_ok_and(|n| n >= minimum) {
                    self.fail(format!(
                        "{label}: header {name} is {text:?}, not an integer"
                    ));
                }
            }
        }
    }

    fn check_body(&mut self, label: &str, pointer: &str, response: &Value, answer: &Answer<'_>) {
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            if !answer.bytes.is_empty() {
                self.fail(format!("{label}: a body where the document shows none"));
            }
            return;
        };
        let sent = match answer.headers {
            Some(headers) => headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(media),
            // A WebSocket refusal: its client does not keep the headers.
            None => Some("application/json".to_owned()),
        };
        let Some(sent) = sent else {
            self.fail(format!(
                "{label}: no Content-Type; documented {:?}",
                content.keys()
            ));
            return;
        };
        let bare = |t: &str| t.split(';').next().unwrap_or_default().to_owned();
        let matched = content.keys().find(|documented| {
            let documented = media(documented);
            documented == sent
                || documented == "*/*"
                || (!documented.contains(';') && documented == bare(&sent))
        });
        let Some(matched) = matched.cloned() else {
            self.fail(format!(
                "{label}: Content-Type {sent} is not documented ({:?})",
                content.keys()
            ));
            return;
        };
        if matched != "application/json" {
            return;
        }
        let body: Value = match serde_json::from_slice(answer.bytes) {
            Ok(body) => body,
            Err(error) => {
                self.fail(format!("{label}: documented as JSON, not JSON: {error}"));
                return;
            }
        };
        let mut schema = format!("{pointer}/content/application~1json/schema");
        // A 200 in the envelope is `anyOf [Envelope_X, ErrorEnvelope]`; `status` 200 says which:
        // a success must fit its route's envelope, not merely the refusal's looser shape.
        let envelope = self.doc.pointer(&format!("{schema}/anyOf/0/$ref"));
        if envelope
            .and_then(Value::as_str)
            .is_some_and(|r| r.starts_with("#/components/schemas/Envelope_"))
            && body["status"] == 200
        {
            schema.push_str("/anyOf/0");
        }
        self.validate(label, &schema, &body);
    }

    /// Validates `body` against the schema at `pointer` of the document.
    pub(super) fn validate(&mut self, label: &str, pointer: &str, body: &Value) -> bool {
        if !self.validators.contains_key(pointer) {
            let mut root = self.doc.clone();
            root["$ref"] = json!(fragment(pointer));
            match jsonschema::draft202012::new(&root) {
                Ok(validator) => {
                    self.validators.insert(pointer.to_owned(), validator);
                }
                Err(error) => {
                    self.fail(format!(
                        "{label}: the schema at {pointer} does not compile: {error}"
                    ));
                    return false;
                }
            }
        }
        let errors: Vec<String> = self.validators[pointer]
            .iter_errors(body)
            .take(6)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            self.note_undocumented(pointer, body);
            return true;
        }
        let mut shown = body.to_string();
        shown.truncate(700);
        self.fail(format!(
            "{label}: does not fit {pointer}:\n    {}\n    body: {shown}",
            errors.join("\n    ")
        ));
        false
    }

    /// Notes what `body`, valid at `pointer`, carries beyond what its schemas list.
    fn note_undocumented(&mut self, pointer: &str, body: &Value) {
        if !self.strict_validators.contains_key(pointer) {
            let mut root = self.strict.clone();
            root["$ref"] = json!(fragment(pointer));
            let Ok(validator) = jsonschema::draft202012::new(&root) else {
                return;
            };
            self.strict_validators.insert(pointer.to_owned(), validator);
        }
        for error in self.strict_validators[pointer].iter_errors(body) {
            self.notes
                .insert(format!("{pointer}: {error} at {}", error.instance_path()));
        }
    }

    /// Checks an answer of a route the document does not have (an unknown path, or a
    /// method the path lacks): a refusal in the 4XX range, in the shared `ErrorEnvelope`.
    pub(super) fn check_outside(&mut self, label: &str, answer: &Answer<'_>) -> bool {
        self.checked += 1;
        if !(400..500).contains(&answer.status) {
            self.fail(format!(
                "{label}: answered {}, not a refusal",
                answer.status
            ));
            return false;
        }
        let body = serde_json::from_slice(answer.bytes).unwrap_or(Value::Null);
        self.validate(label, "/components/schemas/ErrorEnvelope", &body)
    }
}
