//! `pairs`: private chat between N pairs of users, one direction per pair.
//!
//! Sender i has a conversation socket with receiver i (`/chat/ws?toUid=`) and sends M
//! messages on it; receiver i has the matching socket with sender i and times each
//! delivery. The sender times each acknowledgement, which comes only once the message is
//! stored.
//!
//! The receivers never answer, so with the bundled `stranger-limit` plugin at its default
//! (3 unanswered messages) every sender's 4th message is refused: the server for this
//! scenario raises the plugin's limit (see `run.sh`), and refusals are counted and reported.

use anyhow::bail;
use futures::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::confab::{self, Account, Api};
use crate::frames::Dialect;
use crate::traffic::{self, Outcome, Plan, Role};
use crate::Load;

/// Sockets being opened at once.
const CONNECT_CONCURRENCY: usize = 32;

/// Runs the scenario against the server at `base`, and prints its report and `RESULT` line.
pub(crate) async fn run(
    base: &str,
    pairs: usize,
    load: &Load,
    server_pid: Option<u32>,
    deadline: Instant,
) -> anyhow::Result<()> {
    println!("pairs: {pairs} pairs x {}", load.describe());
    let outcome = measure(&Api::new(base)?, pairs, load, server_pid, deadline).await?;
    outcome.print(load.label.as_deref().unwrap_or("pairs"), "messages");
    Ok(())
}

/// Runs the scenario with new users, and returns what it measured.
pub(crate) async fn measure(
    api: &Api,
    pairs: usize,
    load: &Load,
    server_pid: Option<u32>,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    if pairs == 0 {
        bail!("--pairs must be at least 1");
    }
    load.check()?;
    let tag = confab::run_tag();
    let senders = api.accounts(&format!("{tag}s"), pairs).await?;
    let receivers = api.accounts(&format!("{tag}r"), pairs).await?;

    // Socket 2i sends to receiver i; socket 2i+1 is receiver i's socket with sender i.
    let ends: Vec<(&Account, &Account, u64)> = senders
        .iter()
        .zip(&receivers)
        .flat_map(|(s, r)| [(s, r, load.messages), (r, s, 0)])
        .collect();
    let roles: Vec<Role> = futures::stream::iter(ends)
        .map(|(me, peer, sends)| async move {
            let mut socket = api
                .open(&format!("/chat/ws?toUid={}", peer.id), &me.token)
                .await?;
            confab::welcomed(&mut socket).await?;
            anyhow::Ok(Role { socket, sends })
        })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;

    Ok(traffic::drive(Plan {
        dialect: Dialect::Direct,
        roles,
        window: load.window,
        bytes: load.bytes,
        rate: load.rate,
        fanout: 1,
        deadline,
        server_pid,
    })
    .await)
}
