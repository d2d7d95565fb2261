//! A load generator for Confab: drives real WebSocket connections through a running server
//! and reports throughput and latency, next to a bare WebSocket echo measured the same way.
//!
//! ```text
//! confab-loadgen compare --base http://127.0.0.1:18080 --pid 4242 --runs 3
//! confab-loadgen echo    --connections 50 --messages 200
//! confab-loadgen pairs   --base http://127.0.0.1:18080 --pairs 50 --messages 200
//! confab-loadgen group   --base http://127.0.0.1:18080 --members 100 --messages 200
//! confab-loadgen idle    --base http://127.0.0.1:18080 --connections 2000 --pid 4242
//! ```
//!
//! The server must run with `CONFAB_AUTH__BCRYPT_COST=4`, the chat send limits raised and,
//! with the bundled plugins, the stranger limit raised (see `run.sh`), or registering is
//! slow and sends are refused. Refused sends are counted and reported, never ignored.
//!
//! Absolute figures drift from run to run, so Confab's figures are meant to be read as
//! ratios to the echo baseline measured on the same machine at the same time: `compare`
//! measures both, round after round, in one process. Every scenario is bounded: a fixed
//! number of messages, and `--seconds` as a hard limit (for `compare`, on each scenario of
//! each round). Only servers on this machine (127.0.0.1, localhost) are accepted.
//!
//! Each command ends with `RESULT key=value ...` lines for scripts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tokio::time::Instant;

mod compare;
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
/// otherwise slow), with the send limits (CONFAB_CHAT__MESSAGES_PER_SECOND,
/// CONFAB_CHAT__MESSAGE_BURST and their CONFAB_CHAT__USER_* counterparts) and the socket
/// caps (CONFAB_CHAT__MAX_SOCKETS_PER_USER, _PER_ADDRESS) far above the load, and with the stranger-limit plugin's limit raised (refused sends
/// spoil the figures); examples/loadgen/run.sh does all three.
#[derive(Debug, Parser)]
#[command(name = "confab-loadgen")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Confab next to the echo baselines, round after round: pairs, pairs at half their
    /// rate, and group fan-out, with a summary over the rounds.
    Compare(compare::Options),
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
        /// The file holding the admin token (`<data_dir>/secrets/admin.token`): the
        /// server's own count of open sockets is then read from /metrics too.
        #[arg(long, conflicts_with = "echo")]
        admin_token_file: Option<PathBuf>,
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
        #[command(flatten)]
        settings: echo::Settings,
    },
    /// The baseline: a bare axum WebSocket echo in this process, driven like `pairs`, or
    /// with --relay a bare fan-out, driven like `group`.
    Echo {
        /// Client sockets, each timing what comes back.
        #[arg(long, default_value_t = 50)]
        connections: usize,
        /// How many of the sockets send (default: all of them).
        #[arg(long)]
        senders: Option<usize>,
        /// Every frame goes to every socket, the sender's included, instead of back to
        /// its sender only: the baseline for `group`.
        #[arg(long)]
        relay: bool,
        #[command(flatten)]
        settings: echo::Settings,
        /// Drive a `confab-loadgen echo-server` at this base URL instead of one in this
        /// process, so that server and clients are separate processes as with Confab.
        #[arg(long, conflicts_with_all = ["nodelay", "read_buffer"])]
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
    /// Messages per second from all senders together, spread evenly over them (unset:
    /// as fast as the window allows). The window still caps what is unacknowledged.
    #[arg(long)]
    rate: Option<f64>,
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
    let limit = cli.scenario.hard_limit();
    // The deadline counts from here, so it bounds set-up (registering, connecting) too.
    // The measured phase stops itself at the deadline and reports what it has; the outer
    // timeout, a little later, only catches a run stuck elsewhere. `compare` gives each
    // of its scenarios a deadline of its own.
    let deadline = Instant::now() + limit;
    let run = async {
        match cli.scenario {
            Scenario::Compare(options) => compare::run(&options).await,
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
                admin_token_file,
                ..
            } => {
                let pid = server
                    .pid
                    .context("idle needs --pid, the server's process id")?;
                let admin_token = admin_token_file
                    .as_deref()
                    .map(confab::Api::admin_token)
                    .transpose()?;
                let target = idle::Target {
                    base: loopback_base(&server.base)?,
                    pid,
                    echo,
                    admin_token,
                };
                idle::run(&target, connections, users).await
            }
            Scenario::EchoServer { port, settings, .. } => {
                echo::serve(port, settings, deadline).await
            }
            Scenario::Echo {
                connections,
                senders,
                relay,
                settings,
                server,
                load,
            } => {
                let shape = echo::Shape {
                    connections,
                    senders: senders.unwrap_or(connections),
                    relay,
                    settings,
                    external: server.as_deref().map(loopback_base).transpose()?,
                };
                echo::run(&shape, &load, deadline).await
            }
        }
    };
    tokio::time::timeout_at(deadline + Duration::from_secs(5), run)
        .await
        .with_context(|| format!("the run did not finish within {} s", limit.as_secs()))?
}

impl Scenario {
    /// The longest the whole command may take.
    fn hard_limit(&self) -> Duration {
        match self {
            Scenario::Compare(options) => options.hard_limit(),
            Scenario::Pairs { load, .. }
            | Scenario::Group { load, .. }
            | Scenario::Echo { load, .. } => Duration::from_secs(load.seconds),
            Scenario::Idle { seconds, .. } | Scenario::EchoServer { seconds, .. } => {
                Duration::from_secs(*seconds)
            }
        }
    }
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
        if let Some(rate) = self.rate {
            // Slower than one message in ten seconds is no load test, and would not fit
            // in any deadline.
            if !(rate.is_finite() && rate >= 0.1) {
                bail!("--rate must be at least 0.1 messages per second, not {rate}");
            }
        }
        Ok(())
    }

    /// `M messages of B bytes, window W`, and the pace if there is one.
    fn describe(&self) -> String {
        let pace = self
            .rate
            .map(|rate| format!(", paced at {rate:.0} messages/s in all"))
            .unwrap_or_default();
        format!(
            "{} messages of {} bytes, window {}{pace}",
            self.messages, self.bytes, self.window
        )
    }
}
