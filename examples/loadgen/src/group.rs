//! `group`: fan-out in one group whose every member has a group socket.
//!
//! The first `senders` members send M messages each; each message reaches the group
//! socket of every other member, and each of those deliveries is timed.

use anyhow::bail;
use futures::{StreamExt, TryStreamExt};
use tokio::time::Instant;

use crate::confab::{self, Api};
use crate::frames::Dialect;
use crate::traffic::{self, Outcome, Plan, Role};
use crate::Load;

/// Sockets being opened at once.
const CONNECT_CONCURRENCY: usize = 32;

/// Runs the scenario against the server at `base`, and prints its report and `RESULT` line.
pub(crate) async fn run(
    base: &str,
    members: usize,
    senders: usize,
    load: &Load,
    server_pid: Option<u32>,
    deadline: Instant,
) -> anyhow::Result<()> {
    println!(
        "group: {members} members, {senders} senders x {}",
        load.describe()
    );
    let outcome = measure(
        &Api::new(base)?,
        members,
        senders,
        load,
        server_pid,
        deadline,
    )
    .await?;
    outcome.print(load.label.as_deref().unwrap_or("group"), "deliveries");
    Ok(())
}

/// Runs the scenario with new users and a new group, and returns what it measured.
pub(crate) async fn measure(
    api: &Api,
    members: usize,
    senders: usize,
    load: &Load,
    server_pid: Option<u32>,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    if members < 2 || senders == 0 || senders > members {
        bail!("--members must be at least 2, and --senders between 1 and --members");
    }
    load.check()?;
    let tag = confab::run_tag();
    let accounts = api.accounts(&format!("{tag}m"), members).await?;
    let group = api
        .create_group(&accounts[0], &format!("{tag} load"), members)
        .await?;
    api.join_group(&accounts[1..], group).await?;

    let path = format!("/chat/group_ws?group_id={group}");
    let roles: Vec<Role> = futures::stream::iter(accounts.iter().enumerate())
        .map(|(i, member)| {
            let path = &path;
            async move {
                let mut socket = api.open(path, &member.token).await?;
                confab::probed(&mut socket).await?;
                let sends = if i < senders { load.messages } else { 0 };
                anyhow::Ok(Role { socket, sends })
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;

    Ok(traffic::drive(Plan {
        dialect: Dialect::Group,
        roles,
        window: load.window,
        bytes: load.bytes,
        rate: load.rate,
        // Every member has one socket, and the sending one gets the ack instead.
        fanout: members as u64 - 1,
        deadline,
        server_pid,
    })
    .await)
}
