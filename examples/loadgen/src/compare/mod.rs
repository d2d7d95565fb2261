//! `compare`: Confab next to the echo baselines in one process, round after round, and a
//! summary over the rounds.
//!
//! Each round runs, in this order: the echo with the shape of `pairs` (one socket per
//! pair, each sending as many messages as a pair's sender), Confab's `pairs`, `pairs` again
//! paced at half the rate it just reached (its latency at half load), the relay with the
//! shape of `group` (as many sockets as members, as many senders), and Confab's `group`.
//! Each Confab figure is then divided by the echo's of the same round, so that the drift
//! of a shared machine between rounds cancels out; the summary gives the median and the
//! range of each figure and each ratio over the rounds.
//!
//! The scenarios are the same code as the commands of the same names; the echo servers
//! run in this process with Confab's socket settings.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgAction, Args};
use tokio::time::Instant;

use crate::confab::Api;
use crate::traffic::Outcome;
use crate::{echo, group, loopback_base, pairs, Load, Server};

mod plugins;
mod summary;

/// The echo servers' socket settings: those of Confab's accepted sockets (TCP_NODELAY,
/// and a 4 KiB WebSocket read buffer), so that the baseline differs only in what it does
/// with a frame.
const ECHO_SETTINGS: echo::Settings = echo::Settings {
    nodelay: true,
    read_buffer: Some(4096),
};

/// Time a scenario may take past its deadline to close its sockets and report.
const STEP_GRACE: Duration = Duration::from_secs(5);

/// What `compare` runs.
#[derive(Debug, Args)]
pub(crate) struct Options {
    #[command(flatten)]
    server: Server,
    /// Messages a sender may have unacknowledged at once, in every scenario.
    #[arg(long, default_value_t = 8)]
    window: u64,
    /// Length of each message's text in bytes, in every scenario.
    #[arg(long, default_value_t = 100)]
    bytes: usize,
    /// Pairs of users in `pairs` (and sockets of its echo baseline).
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Messages each pair's sender sends.
    #[arg(long, default_value_t = 4000)]
    pair_messages: u64,
    /// Members of the group in `group` (and sockets of its relay baseline).
    #[arg(long, default_value_t = 100)]
    members: usize,
    /// How many of the members send.
    #[arg(long, default_value_t = 1)]
    group_senders: usize,
    /// Messages each sending member sends.
    #[arg(long, default_value_t = 2000)]
    group_messages: u64,
    /// Rounds of all the scenarios.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Run `pairs` again at half the rate it reached, and report its p99
    /// (`--half-rate=false` to leave it out).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = ArgAction::Set)]
    half_rate: bool,
    /// Messages each pair's sender sends at half rate (default: half of --pair-messages,
    /// so that the paced run lasts about as long as the full one).
    #[arg(long)]
    half_rate_messages: Option<u64>,
    /// The p99 latency at half rate the summary checks against, in milliseconds.
    #[arg(long, default_value_t = 10.0)]
    target_p99_ms: f64,
    /// The file holding the admin token (`<data_dir>/secrets/admin.token`), to report
    /// which plugins were running and the stranger limit in force.
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Hard limit for each scenario of each round, in seconds, set-up included; what
    /// arrived by then is reported.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
}

impl Options {
    /// The longest the whole comparison may take: every scenario of every round at its
    /// limit, plus time to close and to read the plugins.
    pub(crate) fn hard_limit(&self) -> Duration {
        let steps = if self.half_rate { 5 } else { 4 };
        let step = Duration::from_secs(self.seconds).saturating_add(STEP_GRACE);
        step.saturating_mul(u32::try_from(self.runs * steps).unwrap_or(u32::MAX))
            .saturating_add(Duration::from_secs(30))
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.runs == 0 {
            bail!("--runs must be at least 1");
        }
        if !(self.target_p99_ms.is_finite() && self.target_p99_ms > 0.0) {
            bail!("--target-p99-ms must be a positive number");
        }
        self.half_load(1000.0).check()?;
        self.group_load().check()?;
        self.pairs_load().check()
    }

    fn load(&self, messages: u64, rate: Option<f64>) -> Load {
        Load {
            messages,
            window: self.window,
            bytes: self.bytes,
            rate,
            seconds: self.seconds,
            label: None,
        }
    }

    fn pairs_load(&self) -> Load {
        self.load(self.pair_messages, None)
    }

    fn half_load(&self, rate: f64) -> Load {
        let messages = self
            .half_rate_messages
            .unwrap_or((self.pair_messages / 2).max(1));
        self.load(messages, Some(rate))
    }

    fn group_load(&self) -> Load {
        self.load(self.group_messages, None)
    }

    fn echo_shape(&self, connections: usize, senders: usize, relay: bool) -> echo::Shape {
        echo::Shape {
            connections,
            senders,
            relay,
            settings: ECHO_SETTINGS,
            external: None,
        }
    }
}

/// What one round measured.
struct Round {
    echo_pairs: Outcome,
    pairs: Outcome,
    half: Option<Outcome>,
    relay_group: Outcome,
    group: Outcome,
}

/// Runs every round, then prints the summary.
pub(crate) async fn run(options: &Options) -> anyhow::Result<()> {
    options.check()?;
    let base = loopback_base(&options.server.base)?;
    let api = Api::new(&base)?;
    let pid = options.server.pid;
    let pairs_load = options.pairs_load();
    let group_load = options.group_load();
    println!(
        "compare: {} rounds against {base}{}",
        options.runs,
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    );
    println!(
        "  pairs: {} pairs x {}",
        options.pairs,
        pairs_load.describe()
    );
    println!(
        "  group: {} members, {} senders x {}",
        options.members,
        options.group_senders,
        group_load.describe()
    );
    println!("  echo baselines in this process, with Confab's socket settings");
    let admin_token = options
        .admin_token_file
        .as_deref()
        .map(Api::admin_token)
        .transpose()?;
    let plugins_before = match &admin_token {
        Some(token) => Some(plugins::report(&api, token, options).await?),
        None => {
            println!("  plugins: not read (no --admin-token-file)\n");
            None
        }
    };

    let mut rounds = Vec::new();
    for n in 1..=options.runs {
        let round = play(n, options, &api).await?;
        print_round(n, options, &round);
        rounds.push(round);
    }
    summary::print(options, &rounds);
    if let (Some(token), Some(before)) = (&admin_token, plugins_before) {
        plugins::report_work(&api, token, &before).await?;
    }
    Ok(())
}

/// Runs round `n`, printing each scenario's report and `RESULT` line.
async fn play(n: usize, options: &Options, api: &Api) -> anyhow::Result<Round> {
    let pid = options.server.pid;
    let pairs_load = options.pairs_load();
    let group_load = options.group_load();
    let title = |what: &str| format!("round {n} of {}: {what}", options.runs);
    let shape = options.echo_shape(options.pairs, options.pairs, false);
    let echo_pairs = step(&title(&shape.describe(&pairs_load)), options, |deadline| {
        echo::measure(&shape, &pairs_load, deadline)
    })
    .await?;
    print_outcome(&echo_pairs, "echo-pairs", n, "messages");

    let what = format!("pairs, {} pairs x {}", options.pairs, pairs_load.describe());
    let pairs = step(&title(&what), options, |deadline| {
        pairs::measure(api, options.pairs, &pairs_load, pid, deadline)
    })
    .await?;
    print_outcome(&pairs, "pairs", n, "messages");

    let half_rate = pairs.rate() / 2.0;
    let half = if !options.half_rate {
        None
    } else if half_rate < 0.1 {
        println!("{}: skipped, nothing was delivered\n", title("half rate"));
        None
    } else {
        let load = options.half_load(half_rate);
        let what = format!(
            "pairs at half rate, {} pairs x {}",
            options.pairs,
            load.describe()
        );
        let half = step(&title(&what), options, |deadline| {
            pairs::measure(api, options.pairs, &load, pid, deadline)
        })
        .await?;
        print_outcome(&half, "pairs-half-rate", n, "messages");
        Some(half)
    };

    let shape = options.echo_shape(options.members, options.group_senders, true);
    let relay_group = step(&title(&shape.describe(&group_load)), options, |deadline| {
        echo::measure(&shape, &group_load, deadline)
    })
    .await?;
    print_outcome(&relay_group, "relay-group", n, "deliveries");

    let what = format!(
        "group, {} members, {} senders x {}",
        options.members,
        options.group_senders,
        group_load.describe()
    );
    let group = step(&title(&what), options, |deadline| {
        group::measure(
            api,
            options.members,
            options.group_senders,
            &group_load,
            pid,
            deadline,
        )
    })
    .await?;
    print_outcome(&group, "group", n, "deliveries");

    Ok(Round {
        echo_pairs,
        pairs,
        half,
        relay_group,
        group,
    })
}

/// Runs one scenario with a deadline of its own.
async fn step<F>(
    title: &str,
    options: &Options,
    scenario: impl FnOnce(Instant) -> F,
) -> anyhow::Result<Outcome>
where
    F: Future<Output = anyhow::Result<Outcome>>,
{
    println!("{title}");
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    tokio::time::timeout_at(deadline + STEP_GRACE, scenario(deadline))
        .await
        .with_context(|| {
            format!(
                "{title}: did not finish within --seconds {}",
                options.seconds
            )
        })?
        .with_context(|| title.to_owned())
}

fn print_outcome(outcome: &Outcome, scenario: &str, round: usize, unit: &str) {
    outcome.report(unit);
    println!(
        "RESULT scenario={scenario} round={round} {}",
        outcome.fields()
    );
    println!();
}

/// Prints one round's figures side by side.
fn print_round(n: usize, options: &Options, round: &Round) {
    println!("round {n} of {}: Confab / echo", options.runs);
    let side_by_side = |name: &str, confab: &Outcome, echo: &Outcome, unit: &str| {
        println!(
            "  {name:<10} {:.0} / {:.0} {unit}/s = {}   p50 {:.2} / {:.2} ms = {}   \
             p99 {:.2} / {:.2} ms = {}",
            confab.rate(),
            echo.rate(),
            summary::ratio_text(confab.rate(), echo.rate()),
            summary::millis(confab.latency.p50),
            summary::millis(echo.latency.p50),
            summary::ratio_text(
                summary::millis(confab.latency.p50),
                summary::millis(echo.latency.p50)
            ),
            summary::millis(confab.latency.p99),
            summary::millis(echo.latency.p99),
            summary::ratio_text(
                summary::millis(confab.latency.p99),
                summary::millis(echo.latency.p99)
            ),
        );
    };
    side_by_side("pairs", &round.pairs, &round.echo_pairs, "messages");
    side_by_side("group", &round.group, &round.relay_group, "deliveries");
    if let Some(half) = &round.half {
        let p99 = summary::millis(half.latency.p99);
        println!(
            "  half rate  {:.0} messages/s asked, {:.0} reached: p99 {p99:.2} ms (target {} ms: {})",
            half.target_rate.unwrap_or_default(),
            half.rate(),
            options.target_p99_ms,
            if p99 <= options.target_p99_ms {
                "met"
            } else {
                "missed"
            }
        );
    }
    let half_refused = round.half.as_ref().map_or(0, |h| h.refusals.total());
    println!(
        "  refused    pairs {}, half rate {half_refused}, group {}; complete: {}\n",
        round.pairs.refusals.total(),
        round.group.refusals.total(),
        if round.outcomes().all(Outcome::complete) {
            "yes"
        } else {
            "no"
        }
    );
}

impl Round {
    /// Every scenario the round ran.
    fn outcomes(&self) -> impl Iterator<Item = &Outcome> {
        [
            Some(&self.echo_pairs),
            Some(&self.pairs),
            self.half.as_ref(),
            Some(&self.relay_group),
            Some(&self.group),
        ]
        .into_iter()
        .flatten()
    }
}
