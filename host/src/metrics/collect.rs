//! What `/metrics` reads from the running parts at each scrape: sockets, closes, messages,
//! the writer's commits and the bus. Nothing here runs between scrapes.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use super::stats::{BusStats, Refusal, StoreStats};
use crate::ws::Hub;

/// The parts whose counters are read at each scrape.
#[derive(Debug, Clone)]
pub struct Sources {
    /// This node's sockets, with their message counters.
    pub hub: Arc<Hub>,
    /// The message writer's commits.
    pub store: Arc<StoreStats>,
    /// The bus, when it counts.
    pub bus: Option<Arc<BusStats>>,
}

type Out = Result<(), std::fmt::Error>;

impl Collector for Sources {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Out {
        let version = [("version", env!("CARGO_PKG_VERSION"))];
        encoder
            .encode_descriptor(
                "confab_build_info",
                "The version of the running server.",
                None,
                MetricType::Gauge,
            )?
            .encode_family(&version)?
            .encode_gauge(&1_i64)?;
        let sockets = i64::try_from(self.hub.len()).unwrap_or(i64::MAX);
        gauge(
            &mut encoder,
            "confab_websockets",
            "Open WebSocket sessions on this node.",
            sockets,
        )?;
        let mut closes = encoder.encode_descriptor(
            "confab_websocket_closes",
            "WebSocket sockets the server closed or refused, by close code (1008 policy or caps, \
             1013 slow reader or resync, 4001 token expired, 1001 shutdown or silence).",
            None,
            MetricType::Counter,
        )?;
        for (code, count) in self.hub.closes() {
            let code = [("code", code.to_string())];
            ConstCounter::new(count).encode(closes.encode_family(&code)?)?;
        }
        let messages = self.hub.message_stats();
        counter(
            &mut encoder,
            "confab_messages_accepted",
            "Messages sent on this node's sockets that were stored and acknowledged.",
            messages.accepted_total(),
        )?;
        let mut refused = encoder.encode_descriptor(
            "confab_messages_refused",
            "Messages sent on this node's sockets that were refused, by reason.",
            None,
            MetricType::Counter,
        )?;
        for why in Refusal::ALL {
            let reason = [("reason", why.label())];
            ConstCounter::new(messages.refused_total(why))
                .encode(refused.encode_family(&reason)?)?;
        }
        counter(
            &mut encoder,
            "confab_messages_delivered",
            "Message frames queued on this node's sockets for their readers.",
            messages.delivered_total(),
        )?;
        self.store.commit.encode(encoder.encode_descriptor(
            "confab_store_commit_duration_seconds",
            "How long the message writer's commits took (one transaction per batch).",
            None,
            MetricType::Histogram,
        )?)?;
        self.store.batch.encode(encoder.encode_descriptor(
            "confab_store_commit_batch_messages",
            "Messages per commit of the message writer.",
            None,
            MetricType::Histogram,
        )?)?;
        counter(
            &mut encoder,
            "confab_store_commit_failures",
            "Commits of the message writer that failed or timed out (each message refused).",
            self.store.failed_total(),
        )?;
        if let Some(bus) = &self.bus {
            counter(
                &mut encoder,
                "confab_bus_published_events",
                "Events this node published on the bus (messages, changes, notices).",
                bus.published_total(),
            )?;
            bus.lag.encode(encoder.encode_descriptor(
                "confab_bus_lag_seconds",
                "How long after another node appended an event this node read it (Redis bus).",
                None,
                MetricType::Histogram,
            )?)?;
        }
        Ok(())
    }
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Out {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Out {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}
