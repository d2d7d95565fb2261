//! The metrics of one node in Prometheus' text format, through prometheus-client's
//! registry and encoder: HTTP requests, sockets, messages, the writer's commits and the
//! bus. The plugins' series are appended by the plugins themselves (`plugins::metrics`).
//!
//! Counting stays cheap on the message path: the parts count in atomics they own
//! ([`stats`]), with lock-free histograms ([`histogram`]), and the registry reads them only
//! when scraped. In a cluster every series carries `node="<name>"`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub mod collect;
pub mod histogram;
pub mod stats;

pub use collect::Sources;
pub use histogram::Histogram;
pub use stats::{BusStats, MessageStats, Refusal, StoreStats};

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The route label of requests that matched no route (never the raw path, whose values
/// are unbounded).
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

type Latencies = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// This node's metrics; cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latencies,
}

impl Metrics {
    /// The registry of a node (named `node` in a cluster, where every series is labelled
    /// with it), reading `sources` at each scrape.
    pub fn new(node: Option<&str>, sources: Sources) -> Self {
        let labels = node.map(|name| (Cow::Borrowed("node"), Cow::Owned(name.to_owned())));
        let mut registry = Registry::with_labels(labels.into_iter());
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "confab_http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let latency: Latencies = Family::new_with_constructor(Histogram::latency);
        registry.register(
            "confab_http_request_duration_seconds",
            "How long HTTP requests took to answer, by route template and method",
            latency.clone(),
        );
        registry.register_collector(Box::new(sources));
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                latency,
            }),
        }
    }

    /// Counts an answered request of `route` (a route template such as
    /// `/admin/plugins/{name}`, or [`UNMATCHED`]).
    pub fn observe_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let method = known_method(method);
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method,
                status,
            })
            .inc();
        self.inner
            .latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method,
            })
            .observe_duration(took);
    }

    /// Every series of the registry, in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(out, &self.inner.registry);
    }
}

/// The method as a label of bounded values.
fn known_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}
