//! The `confab` command: serve, migrate, issue invite keys, back up and restore, write and
//! check plugins.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use confab::plugins::manifest::Manifest;
use confab::plugins::scaffold::{self, Sdk};
use confab::{App, Config};

mod admin_cli;

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
    /// Copy the SQLite database into FILE, consistently and with every acknowledged
    /// message, whether the server runs or not.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
        /// The running server's address (http://127.0.0.1:8080); by default server.listen.
        #[arg(long)]
        url: Option<String>,
    },
    /// Replace the SQLite database with a backup; refused while a server runs on the data
    /// folder.
    Restore {
        /// The backup (a file written by `confab backup`).
        file: PathBuf,
        /// Replace an existing database (it is moved to <data_dir>/before-restore-<time>/).
        #[arg(long)]
        force: bool,
    },
    /// Check the configuration (file and CONFAB_* variables) and print the effective one.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write and check plugins; needs no server or configuration.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Moderate a running server through its operator API: users, groups, messages and
    /// the audit log (needs the admin token).
    Admin(admin_cli::AdminArgs),
    /// Print the API contract for client authors as JSON; needs no configuration.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// The OpenAPI 3.1 document of the REST routes (as served at /openapi.json).
    Openapi,
    /// The JSON Schema of the WebSocket frames (docs/schema/ws-frames.schema.json).
    WsFrames,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print it with every secret masked. Exits with 0
    /// when it is valid, and with 2 and the offending key when it is not.
    Check,
}

/// The exit code of `confab config check` for an invalid configuration.
const INVALID_CONFIG: i32 = 2;

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Create a plugin crate to start from: a small message filter.
    New {
        /// The plugin's name: a-z, 0-9 and '-', starting with a letter.
        name: String,
        /// The folder to create it in (as DIR/NAME).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// A confab-plugin-sdk folder to build against; by default the SDK this binary
        /// carries is written into the new crate, so it builds anywhere, offline.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Check a built plugin: its interface version, the hooks it implements and whether
    /// its manifest fits it.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// The manifest; by default `<stem>.toml` or `plugin.toml` beside the component.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
}

/// mimalloc rather than the C library's allocator: the message path allocates and frees
/// many small buffers across threads, where glibc's malloc spent about a seventh of the
/// server's time under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = match cli.command.unwrap_or(Command::Serve) {
        // Tools for plugin authors read no configuration and touch no data.
        Command::Plugin { command } => return plugin(command).await,
        // The contract files are built from the code alone.
        Command::Schema { command } => return schema(command),
        // A client of a running server: the configuration is read only for its token.
        Command::Admin(args) => return admin_cli::run(args, cli.config.as_deref()).await,
        Command::Config {
            command: ConfigCommand::Check,
        } => return config_check(cli.config.as_deref()),
        other => other,
    };
    let config = Config::load(cli.config.as_deref())?;
    confab::telemetry::init(&config.log);
    match command {
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
            let (state, _) = confab::app::services(&config, confab::app::Purpose::Tool).await?;
            for key in state.users.issue_invites(count).await? {
                println!("{key}");
            }
            Ok(())
        }
        Command::Backup { file, force, url } => {
            confab::backup::backup(&config, &file, force, url.as_deref()).await
        }
        Command::Restore { file, force } => confab::backup::restore(&config, &file, force).await,
        Command::Plugin { command } => plugin(command).await,
        Command::Schema { command } => schema(command),
        Command::Admin(args) => admin_cli::run(args, cli.config.as_deref()).await,
        Command::Config { .. } => config_check(cli.config.as_deref()),
    }
}

/// `confab config check`: the effective configuration, secrets masked, on standard
/// output; or the reason it is invalid on standard error and exit code 2.
fn config_check(file: Option<&Path>) -> anyhow::Result<()> {
    match Config::load(file) {
        Ok(config) => {
            let shown =
                toml::to_string(&config.masked()).context("writing the configuration as TOML")?;
            println!("# The effective configuration: defaults, then the file, then CONFAB_*.");
            println!(
                "# Secrets are masked as \"***\"; an empty one is generated into the data folder."
            );
            print!("{shown}");
            eprintln!("configuration ok");
            Ok(())
        }
        Err(error) => {
            eprintln!("{error:#}");
            std::process::exit(INVALID_CONFIG);
        }
    }
}

/// `confab schema ...`: a contract file on standard output.
fn schema(command: SchemaCommand) -> anyhow::Result<()> {
    let json = match command {
        SchemaCommand::Openapi => serde_json::to_string_pretty(&confab::api::openapi::document())
            .context("writing the OpenAPI document")?,
        SchemaCommand::WsFrames => {
            serde_json::to_string_pretty(&confab::ws::protocol::ws_frames_schema())
                .context("writing the frames' schema")?
        }
    };
    println!("{json}");
    Ok(())
}

/// `confab plugin ...`: tools for plugin authors, which work without a server.
async fn plugin(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::New { name, dir, sdk } => {
            let sdk = match sdk {
                Some(folder) => Sdk::from_folder(&folder)?,
                None => Sdk::Bundled,
            };
            let root = scaffold::scaffold(&name, &dir, &sdk)?;
            println!("Created the plugin {name} in {}", root.display());
            println!(
                "Build it with: cd {} && cargo build --release --target wasm32-wasip2",
                root.display()
            );
            println!("Its README.md tells how to check and install it.");
            Ok(())
        }
        PluginCommand::Check { file, manifest } => check(&file, manifest.as_deref()).await,
    }
}

/// `confab plugin check`: prints what the component says of itself and compares it with
/// its manifest; an error (exit code 1) says what does not fit.
async fn check(file: &Path, manifest: Option<&Path>) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let inspection = confab::plugins::inspect(bytes)
        .await
        .map_err(|e| anyhow::anyhow!("{} is not a Confab plugin: {e}", file.display()))?;
    let implemented: Vec<String> = inspection.hooks.iter().map(ToString::to_string).collect();
    println!("component:  {}", file.display());
    println!("interface:  confab:plugin@{}", inspection.wit_version);
    println!(
        "implements: {}",
        if implemented.is_empty() {
            "no hook".to_owned()
        } else {
            implemented.join(", ")
        }
    );
    let manifest_path = match manifest {
        Some(path) => Some(path.to_path_buf()),
        None => manifest_beside(file),
    };
    let Some(manifest_path) = manifest_path else {
        println!(
            "manifest:   none given, and no {} or plugin.toml beside it",
            stem_toml(file)
        );
        println!("ok");
        return Ok(());
    };
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&text)
        .map_err(|e| anyhow::anyhow!("the manifest {} is invalid: {e}", manifest_path.display()))?;
    let hooks: Vec<String> = manifest.hooks.iter().map(ToString::to_string).collect();
    println!(
        "manifest:   {} ({} {})",
        manifest_path.display(),
        manifest.name,
        manifest.version
    );
    println!("hooks:      {}", hooks.join(", "));
    let missing: Vec<String> = manifest
        .hooks
        .iter()
        .filter(|hook| !inspection.hooks.contains(hook))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "the manifest takes part in {} but the plugin does not implement {}",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        );
    }
    println!("ok: install it as {0}.wasm and {0}.toml", manifest.name);
    Ok(())
}

/// `<stem>.toml` or `plugin.toml` in the component's folder, whichever exists first.
fn manifest_beside(file: &Path) -> Option<PathBuf> {
    let folder = file.parent().unwrap_or_else(|| Path::new("."));
    [folder.join(stem_toml(file)), folder.join("plugin.toml")]
        .into_iter()
        .find(|path| path.is_file())
}

fn stem_toml(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    format!("{stem}.toml")
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let token_source = if config.admin.token.is_empty() {
        format!(
            "in {}",
            config
                .server
                .data_dir
                .join("secrets")
                .join("admin.token")
                .display()
        )
    } else {
        "[admin] token of the configuration".to_owned()
    };
    let app = App::build(config).await?;
    let addr = app.local_addr();
    tracing::info!(%addr, "confab is listening");
    // What a person starting the server needs next; never the token itself. A closed
    // standard output (a supervisor that stopped reading) must not stop the server.
    let banner = format!(
        "Confab is listening on http://{addr}\n  chat client:      http://{addr}/\n  operator console: http://{addr}/admin/ (admin token {token_source})\n"
    );
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(banner.as_bytes())
            .and_then(|()| stdout.flush());
    }
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
