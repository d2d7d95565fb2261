//! A load generator for Confab: drives real WebSocket connections through a running server
//! and reports throughput and latency, next to a bare WebSocket echo measured the same way.
//!
//! ```text
//! confab-loadgen echo  --connections 50 --messages 200
//! confab-loadgen pairs --base http://127.0.0.1:18080 --pairs 50 --messages 200
//! confab-loadgen group --base http://127.0.0.1:18080 --members 100 --messages 200
//! confab-loadgen idle  --base http://127.0.0.1:18080 --connections 2000 --pid 4242
//! ```
//!
//! The server must run with `CONFAB_AUTH__BCRYPT_COST=4` and the chat send limits raised
//! (see `run.sh`), or registering is slow and sends are refused.
//!
//! Absolute figures drift from run to run, so Confab's figures are meant to be read as
//! ratios to the echo baseline measured in the same run on the same machine (`run.sh`
//! does both). Every scenario is bounded: a fixed number of messages, and `--seconds` as
//! a hard limit on the whole run. Only servers on this machine (127.0.0.1, localhost) are accepted.
//!
//! Each command ends with one `RESULT key=value ...` line for scripts.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tokio::time::Instant;

mod confab;
mod cpu;
mod echo;
mod frames;
mod group;
mod idle;
mod latency;
mod pairs;
mod traffic;

/// Load scenarios against a Confab server on this machine, and the echo baseline.
///
/// Start the server for load tests with CONFAB_AUTH__BCRYPT_COST=4 (registering users is
/// otherwise slow) and with CONFAB_CHAT__MESSAGES_PER_SECOND and CONFAB_CHAT__MESSAGE_BURST
/// far above the load (refused sends spoil the figures); examples/loadgen/run.sh does both.
#[derive(Debug, Parser)]
#[command(name = "confab-loadgen")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Private chat: N pairs of users, each sender sending M messages to its peer.
    Pairs {
        #[command(flatten)]
        server: Server,
        /// Pairs of users (each pair: one sender socket, one receiver socket).
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        #[command(flatten)]
        load: Load,
    },
    /// Group fan-out: every member of one group on a group socket, a few of them sending.
    Group {
        #[command(flatten)]
        server: Server,
        /// Members of the group, each with one group socket.
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// How many of the members send.
        #[arg(long, default_value_t = 5)]
        senders: usize,
        #[command(flatten)]
        load: Load,
    },
    /// Idle connections: opens N inbox sockets and reports the server's memory per socket.
    Idle {
        #[command(flatten)]
        server: Server,
        /// Sockets to open.
        #[arg(long, default_value_t = 2000)]
        connections: usize,
        /// Users to spread the sockets over (a user may hold many sockets).
        #[arg(long, default_value_t = 20)]
        users: usize,
        /// The server is `confab-loadgen echo-server` at --base: the baseline for memory.
        #[arg(long)]
        echo: bool,
        /// Hard limit for the whole run, in seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// A bare WebSocket echo server on 127.0.0.1 in a process of its own, for `idle --echo`.
    EchoServer {
        /// The port to listen on.
        #[arg(long, default_value_t = 18090)]
        port: u16,
        /// Seconds to serve before exiting.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Set TCP_NODELAY on accepted sockets (Confab does not; off to match).
        #[arg(long)]
        nodelay: bool,
        /// Each socket's read buffer in bytes (default: axum's, 128 KiB as Confab uses).
        #[arg(long)]
        read_buffer: Option<usize>,
    },
    /// The baseline: a bare axum WebSocket echo in this process, driven like `pairs`.
    Echo {
        /// Client sockets, each sending M messages and timing their echoes.
        #[arg(long, default_value_t = 50)]
        connections: usize,
        /// Set TCP_NODELAY on the echo server's sockets (Confab does not; off to match).
        #[arg(long, conflicts_with = "server")]
        nodelay: bool,
        /// Drive a `confab-loadgen echo-server` at this base URL instead of one in this
        /// process, so that server and clients are separate processes as with Confab.
        #[arg(long)]
        server: Option<String>,
        #[command(flatten)]
        load: Load,
    },
}

/// Where the Confab server is.
#[derive(Debug, Args)]
struct Server {
    /// The server's base URL; only 127.0.0.1 and localhost are accepted.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    base: String,
    /// The server's process id: pairs and group report the CPU time it used, idle (which
    /// needs it) reads its resident memory.
    #[arg(long)]
    pid: Option<u32>,
}

/// How much traffic a sending scenario makes.
#[derive(Debug, Args, Clone)]
struct Load {
    /// Messages each sender sends.
    #[arg(long, default_value_t = 200)]
    messages: u64,
    /// Messages a sender may have unacknowledged at once (1: send, wait for the ack, repeat).
    #[arg(long, default_value_t = 1)]
    window: u64,
    /// Length of each message's text in bytes (the timestamp plus padding).
    #[arg(long, default_value_t = 200)]
    bytes: usize,
    /// Hard limit for the whole run, in seconds; what arrived by then is reported.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The scenario's name in the RESULT line, to tell several runs of one scenario apart.
    #[arg(long)]
    label: Option<String>,
}

/// The base URL, if it points at this machine.
fn loopback_base(base: &str) -> anyhow::Result<String> {
    let url = reqwest::Url::parse(base).with_context(|| format!("--base {base}"))?;
    if url.scheme() != "http" {
        bail!("--base must be an http:// URL, not {base}");
    }
    match url.host_str() {
        Some("127.0.0.1" | "localhost") => Ok(base.trim_end_matches('/').to_owned()),
        _ => {
            bail!("--base must point at 127.0.0.1 or localhost: this tool loads local servers only")
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let seconds = match &cli.scenario {
        Scenario::Pairs { load, .. }
        | Scenario::Group { load, .. }
        | Scenario::Echo { load, .. } => load.seconds,
        Scenario::Idle { seconds, .. } | Scenario::EchoServer { seconds, .. } => *seconds,
    };
    // The deadline counts from here, so it bounds set-up (registering, connecting) too.
    // The measured phase stops itself at the deadline and reports what it has; the outer
    // timeout, a little later, only catches a run stuck elsewhere.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let run = async {
        match cli.scenario {
            Scenario::Pairs {
                server,
                pairs,
                load,
            } => {
                pairs::run(
                    &loopback_base(&server.base)?,
                    pairs,
                    &load,
                    server.pid,
                    deadline,
                )
                .await
            }
            Scenario::Group {
                server,
                members,
                senders,
                load,
            } => {
                group::run(
                    &loopback_base(&server.base)?,
                    members,
                    senders,
                    &load,
                    server.pid,
                    deadline,
                )
                .await
            }
            Scenario::Idle {
                server,
                connections,
                users,
                echo,
                ..
            } => {
                let pid = server
                    .pid
                    .context("idle needs --pid, the server's process id")?;
                idle::run(&loopback_base(&server.base)?, connections, users, pid, echo).await
            }
            Scenario::EchoServer {
                port,
                nodelay,
                read_buffer,
                ..
            } => echo::serve(port, nodelay, read_buffer, deadline).await,
            Scenario::Echo {
                connections,
                nodelay,
                server,
                load,
            } => {
                let external = server.as_deref().map(loopback_base).transpose()?;
                echo::run(connections, nodelay, external, &load, deadline).await
            }
        }
    };
    tokio::time::timeout_at(deadline + Duration::from_secs(5), run)
        .await
        .with_context(|| format!("the run did not finish within --seconds {seconds}"))?
}

impl Load {
    /// Refuses values the server or the measurement cannot work with.
    fn check(&self) -> anyhow::Result<()> {
        if self.messages == 0 || self.window == 0 {
            bail!("--messages and --window must be at least 1");
        }
        // Confab refuses texts over 4000 characters; the timestamp needs about 30 bytes.
        if !(32..=4000).contains(&self.bytes) {
            bail!("--bytes must be between 32 and 4000");
        }
        Ok(())
    }
}
