//! The `confab` command: serve, migrate, issue invite keys.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use confab::{App, Config};

/// A chat server whose behaviour operators change while it runs.
#[derive(Debug, Parser)]
#[command(name = "confab", version, about)]
struct Cli {
    /// A TOML configuration file (see config.example.toml).
    #[arg(long, short, global = true, env = "CONFAB_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Issue single-use invite keys for invite-only registration.
    Invite {
        /// How many keys to issue.
        #[arg(long, short = 'n', default_value_t = 1)]
        count: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    confab::telemetry::init(&config.log.filter);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            confab::store::connect(&config.database, &config.server.data_dir).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Invite { count } => {
            if count == 0 || count > 1000 {
                anyhow::bail!("--count must be between 1 and 1000");
            }
            let (state, _) = confab::app::services(&config).await?;
            for key in state.users.issue_invites(count).await? {
                println!("{key}");
            }
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, "confab is listening");
    println!("Confab is listening on http://{addr}");
    app.run_until_stopped(shutdown_signal())
        .await
        .context("the server stopped with an error")
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
