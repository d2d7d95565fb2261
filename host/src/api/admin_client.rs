//! The client side of the operator API, for `confab admin`: one request with the admin token
//! and the operator's name, its envelope read.

use std::time::Duration;

use anyhow::Context;
use reqwest::header::HeaderValue;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one server's operator API.
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
    operator: Option<HeaderValue>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A successful answer: the envelope's `data` and the paging headers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The envelope's `data`.
    pub data: Value,
    /// `X-Next-After` or `X-Next-Before`: where the next page starts, if more remain.
    pub next: Option<String>,
}

impl AdminClient {
    /// A client of the server at `url` (plain `http://`).
    pub fn new(url: &str, token: String, operator: Option<String>) -> anyhow::Result<Self> {
        let base = url.trim().trim_end_matches('/').to_owned();
        if base.to_ascii_lowercase().starts_with("https://") {
            anyhow::bail!(
                "confab admin speaks plain HTTP to the server's own listener: run it on the \
                 server's host, or through an SSH tunnel, with --url http://127.0.0.1:<port>"
            );
        }
        if !base.to_ascii_lowercase().starts_with("http://") {
            anyhow::bail!("--url must start with http://, not {base:?}");
        }
        // UTF-8 bytes as they are: the server reads the header as UTF-8.
        let operator = operator
            .map(|name| HeaderValue::from_bytes(name.trim().as_bytes()))
            .transpose()
            .map_err(|_| anyhow::anyhow!("--as must be a name without control characters"))?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base,
            token,
            operator,
        })
    }

    /// A request to `path` with the admin token and the operator's name.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(name) = &self.operator {
            request = request.header("X-Operator", name.clone());
        }
        request
    }

    /// Sends `request` and unwraps the envelope: its `data`, or an error with the server's
    /// reason and code.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Answer> {
        let response = request
            .send()
            .await
            .with_context(|| format!("reaching the server at {}", self.base))?;
        let http = response.status().as_u16();
        let next = ["x-next-after", "x-next-before"]
            .iter()
            .find_map(|name| response.headers().get(*name))
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .context("reading the server's answer")?;
        let envelope: Value = serde_json::from_slice(&bytes).map_err(|_| {
            anyhow::anyhow!(
                "the server answered HTTP {http} without an envelope: is {} a Confab server?",
                self.base
            )
        })?;
        let code = envelope["status"].as_i64().unwrap_or(-1);
        if code != 200 {
            let reason = envelope["error"].as_str().unwrap_or_default();
            let hint = match code {
                30001 | 30002 => {
                    " (give the admin token with --token or CONFAB_ADMIN_TOKEN; it is [admin] \
                     token, or the file secrets/admin.token in the server's data folder)"
                }
                _ => "",
            };
            anyhow::bail!("refused: {reason} (code {code}, HTTP {http}){hint}");
        }
        Ok(Answer {
            data: envelope["data"].clone(),
            next,
        })
    }
}
