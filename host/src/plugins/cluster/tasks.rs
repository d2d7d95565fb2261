//! The background work of a cluster's node: following the bus, polling the store and
//! reporting, and writing verdicts to the shared log. Each task ends when the registry is
//! dropped.

use std::sync::{Arc, Weak};

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::{
    millis, now_ms, Link, CLEAN_EVERY_POLLS, COMPONENT_GRACE, NODE_FORGET, POLL_EVERY,
    VERDICT_BATCH, VERDICT_GATHER,
};
use crate::bus::Event;
use crate::plugins::registry::Registry;
use crate::plugins::stats::VerdictRecord;
use crate::plugins::storage::PluginStore;

/// Starts the node's background work: following the bus, polling and reporting, and
/// writing verdicts to the shared log. Each task ends when the registry is dropped.
pub(in crate::plugins) fn spawn(
    registry: &Arc<Registry>,
    link: &Arc<Link>,
    verdicts: Option<mpsc::Receiver<VerdictRecord>>,
) {
    let events = link.bus.subscribe();
    tokio::spawn(follow_bus(
        Arc::downgrade(registry),
        Arc::downgrade(link),
        link.stop.clone(),
        events,
    ));
    tokio::spawn(poll_and_report(
        Arc::downgrade(registry),
        Arc::downgrade(link),
        link.stop.clone(),
    ));
    if let Some(verdicts) = verdicts {
        tokio::spawn(write_verdicts(
            link.store.clone(),
            link.verdicts_kept,
            link.stop.clone(),
            verdicts,
        ));
    }
}

/// Loads what other nodes announce; a lag or a resync (events may be lost) reads all.
async fn follow_bus(
    registry: Weak<Registry>,
    link: Weak<Link>,
    stop: CancellationToken,
    mut events: broadcast::Receiver<Event>,
) {
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => event,
        };
        let only = match event {
            Ok(Event::Plugin { name, revision }) => {
                let Some(link) = link.upgrade() else { return };
                if revision <= link.known_revision(&name) {
                    continue;
                }
                Some(name)
            }
            Ok(Event::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => None,
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let (Some(registry), Some(link)) = (registry.upgrade(), link.upgrade()) else {
            return;
        };
        let _changes = registry.changes.lock().await;
        if let Err(error) = link.sync(&registry, only.as_deref()).await {
            tracing::warn!(%error, "reading a plugin change failed; retrying at the next poll");
        }
    }
}

/// Every [`POLL_EVERY`]: reads the store for missed revisions and reports this node; also
/// reports at once when asked. Now and then forgets silent nodes and unused components.
async fn poll_and_report(registry: Weak<Registry>, link: Weak<Link>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polls: u32 = 0;
    loop {
        let polled = {
            let Some(link) = link.upgrade() else { return };
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => true,
                () = link.report_now.notified() => false,
            }
        };
        let (Some(registry), Some(link)) = (registry.upgrade(), link.upgrade()) else {
            return;
        };
        if polled {
            let _changes = registry.changes.lock().await;
            if let Err(error) = link.sync(&registry, None).await {
                tracing::warn!(%error, "polling the shared plugins failed");
            }
        }
        let at = now_ms();
        let reports = link.reports(&registry, at);
        if let Err(error) = link.store.report(&registry.node, at, &reports).await {
            tracing::warn!(error = %format!("{error:#}"), "reporting this node's plugins failed");
        }
        polls = polls.wrapping_add(1);
        if polled && polls % CLEAN_EVERY_POLLS == 1 {
            if let Err(error) = link.store.forget_nodes(at - millis(NODE_FORGET)).await {
                tracing::warn!(error = %format!("{error:#}"), "forgetting silent nodes failed");
            }
            if let Err(error) = link
                .store
                .forget_components(at - millis(COMPONENT_GRACE))
                .await
            {
                tracing::warn!(error = %format!("{error:#}"), "forgetting unused components failed");
            }
        }
    }
}

/// Writes this node's verdicts to the shared log in batches. A batch that cannot be
/// written is dropped with a warning: the log is for auditing, and the message path never
/// waits for it.
async fn write_verdicts(
    store: Arc<dyn PluginStore>,
    keep: u64,
    stop: CancellationToken,
    mut verdicts: mpsc::Receiver<VerdictRecord>,
) {
    let mut batch = Vec::with_capacity(VERDICT_BATCH);
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => return,
            first = verdicts.recv() => first,
        };
        let Some(first) = first else { return };
        batch.push(first);
        tokio::time::sleep(VERDICT_GATHER).await;
        while batch.len() < VERDICT_BATCH {
            match verdicts.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        if let Err(error) = store.add_verdicts(&batch, keep).await {
            tracing::warn!(error = %format!("{error:#}"), dropped = batch.len(), "writing verdicts to the shared log failed");
        }
        batch.clear();
    }
}
