//! `confab admin`: the operator API from the command line, against a running server.
//!
//! Every command is one request with the admin token; what the server answers is printed
//! as text, or as its JSON `data` with `--json`. Changes carry `--as NAME` to the server as
//! `X-Operator`, which the audit log records beside the client address.

use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;

use confab::api::admin_client::AdminClient;

mod print;

/// The server `confab admin` talks to when `--url` is not given.
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// `confab admin`: what the operator API does, from the command line.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The server's address (plain HTTP: run it on the server's host or through a tunnel).
    #[arg(long, global = true, default_value = DEFAULT_URL)]
    url: String,
    /// The admin token. Without it, the configuration's: [admin] token, or the file
    /// secrets/admin.token in its data folder (read, never created).
    #[arg(
        long,
        global = true,
        env = "CONFAB_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Your name, recorded with every change in the audit log (sent as X-Operator).
    #[arg(long = "as", value_name = "NAME", global = true)]
    operator: Option<String>,
    /// Print the server's JSON answer rather than text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Find, show, ban, unban and delete users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Dissolve groups.
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Remove messages.
    Messages {
        #[command(subcommand)]
        command: MessagesCommand,
    },
    /// Read the audit log of operator actions.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// List users: by name prefix, by id (a number), or by exact email (with an @); all
    /// users without a query.
    Find {
        /// A name prefix, an id or an email address.
        query: Option<String>,
        /// Users per page (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Start after this user id (the cursor printed with the previous page).
        #[arg(long)]
        after: Option<i64>,
    },
    /// Show one user.
    Show {
        /// The user's id.
        id: i64,
    },
    /// Ban a user: logins and tokens are refused, their sockets close on every node.
    Ban {
        /// The user's id.
        id: i64,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a ban.
    Unban {
        /// The user's id.
        id: i64,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Delete a user's account for good (their messages stay).
    Delete {
        /// The user's id.
        id: i64,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
        /// Confirm: the account cannot be restored.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GroupsCommand {
    /// Dissolve a group, whoever is in it; its members' group sockets close.
    Dissolve {
        /// The group's id.
        id: i64,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
        /// Confirm: the group cannot be restored.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MessagesCommand {
    /// Remove a message for everyone, whoever sent it and however old it is.
    Remove {
        /// The message's id.
        id: i64,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// The newest entries first.
    List {
        /// Entries per page (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only entries older than this id (the cursor printed with the previous page).
        #[arg(long)]
        before: Option<i64>,
    },
}

/// Runs one `confab admin` command; `config` is the `--config` file, read only for the
/// admin token when none is given.
pub(crate) async fn run(args: AdminArgs, config: Option<&Path>) -> anyhow::Result<()> {
    let token = match args.token.filter(|t| !t.trim().is_empty()) {
        Some(token) => token.trim().to_owned(),
        None => configured_token(config)?,
    };
    let client = AdminClient::new(&args.url, token, args.operator)?;
    let json = args.json;
    match args.command {
        AdminCommand::Users { command } => users(&client, command, json).await,
        AdminCommand::Groups {
            command: GroupsCommand::Dissolve { id, reason, yes },
        } => {
            confirm(yes, "dissolving a group")?;
            let answer = client
                .send(with_reason(
                    client.request(Method::DELETE, &format!("/admin/groups/{id}")),
                    reason,
                ))
                .await?;
            print::out(json, &answer, print::dissolved)
        }
        AdminCommand::Messages {
            command: MessagesCommand::Remove { id, reason },
        } => {
            let answer = client
                .send(with_reason(
                    client.request(Method::DELETE, &format!("/admin/messages/{id}")),
                    reason,
                ))
                .await?;
            print::out(json, &answer, print::removed)
        }
        AdminCommand::Audit {
            command: AuditCommand::List { limit, before },
        } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(before) = before {
                query.push(("before", before.to_string()));
            }
            let answer = client
                .send(client.request(Method::GET, "/admin/audit").query(&query))
                .await?;
            print::out(json, &answer, print::audit)
        }
    }
}

async fn users(client: &AdminClient, command: UsersCommand, json: bool) -> anyhow::Result<()> {
    let answer = match command {
        UsersCommand::Find {
            query,
            limit,
            after,
        } => {
            let mut params = vec![("limit", limit.to_string())];
            if let Some(query) = query {
                params.push(("q", query));
            }
            if let Some(after) = after {
                params.push(("after", after.to_string()));
            }
            let request = client.request(Method::GET, "/admin/users").query(&params);
            let answer = client.send(request).await?;
            return print::out(json, &answer, print::users);
        }
        UsersCommand::Show { id } => {
            let path = format!("/admin/users/{id}");
            client.send(client.request(Method::GET, &path)).await?
        }
        UsersCommand::Ban { id, reason } => {
            let path = format!("/admin/users/{id}/ban");
            let request = with_reason(client.request(Method::POST, &path), reason);
            client.send(request).await?
        }
        UsersCommand::Unban { id, reason } => {
            let path = format!("/admin/users/{id}/unban");
            let request = with_reason(client.request(Method::POST, &path), reason);
            client.send(request).await?
        }
        UsersCommand::Delete { id, reason, yes } => {
            confirm(yes, "deleting a user")?;
            let path = format!("/admin/users/{id}");
            let request = with_reason(client.request(Method::DELETE, &path), reason);
            let answer = client.send(request).await?;
            return print::out(json, &answer, print::deleted);
        }
    };
    print::out(json, &answer, print::user)
}

/// The request with `reason` as its JSON body, when there is one.
fn with_reason(
    request: reqwest::RequestBuilder,
    reason: Option<String>,
) -> reqwest::RequestBuilder {
    match reason {
        Some(reason) => request.json(&serde_json::json!({ "reason": reason })),
        None => request,
    }
}

/// Refuses an action that cannot be undone unless `--yes` was given.
fn confirm(yes: bool, what: &str) -> anyhow::Result<()> {
    if !yes {
        anyhow::bail!("{what} cannot be undone: add --yes to go ahead");
    }
    Ok(())
}

/// The admin token the server itself uses: `[admin] token` of the configuration, or the
/// token file in its data folder. Never creates the file.
fn configured_token(file: Option<&Path>) -> anyhow::Result<String> {
    const NONE: &str = "no admin token: give it with --token or CONFAB_ADMIN_TOKEN";
    let config = confab::Config::load(file).context(NONE)?;
    if !config.admin.token.is_empty() {
        return Ok(config.admin.token);
    }
    let path = config.server.data_dir.join("secrets").join("admin.token");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Ok(_) => anyhow::bail!("{NONE} ({} is empty)", path.display()),
        Err(err) => Err(err).with_context(|| {
            format!(
                "{NONE}, or run it where the server's configuration and data folder are ({} \
                 cannot be read)",
                path.display()
            )
        }),
    }
}
