//! Start-up: from a [`Config`] to a listening server, and the pieces commands share.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tokio::net::TcpListener;

use crate::api::serve::ConnectionLimits;
use crate::api::{self, AppState, Limits};
use crate::blocks::BlockService;
use crate::bus::{Bus, LocalBus};
use crate::config::Config;
use crate::conversations::{ConversationService, Mentions};
use crate::crypto::{self, FieldCipher};
use crate::friends::FriendService;
use crate::groups::{GroupLimits, GroupService};
use crate::mail::{self, Mailer};
use crate::messages::{BatchLimits, ChatService};
use crate::plugins::chain::PluginGroupPolicy;
use crate::plugins::hooks::SharedHooks;
use crate::plugins::kv::{MemoryKv, PluginKv, RedisKv};
use crate::plugins::{ClusterWiring, Plugins, Wiring};
use crate::presence::{MemoryPresence, Presence};
use crate::store::{self, Stores};
use crate::tokens::TokenKeys;
use crate::uploads::Uploads;
use crate::users::{AccountTools, UserService};
use crate::ws::Hub;

/// A built server, bound to its port and ready to run.
pub struct App {
    listener: TcpListener,
    state: AppState,
    stores: Stores,
    /// Copies of the database for `POST /admin/backup`.
    backups: crate::backup::Backups,
    addr: SocketAddr,
    retention_days: u32,
    connections: ConnectionLimits,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// What the services of a process are opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Serving clients: this process owns the message log (SQLite) and writes messages.
    Serve,
    /// A command run beside a running server (`confab invite`): it writes no messages and
    /// leaves the message log to the server.
    Tool,
}

/// The services of one deployment, without a listener (used by `serve` and `invite`).
pub async fn services(config: &Config, purpose: Purpose) -> anyhow::Result<(AppState, Stores)> {
    let data_dir = &config.server.data_dir;
    create_private_dir(data_dir)?;
    let secrets = data_dir.join("secrets");
    create_private_dir(&secrets)?;

    let mut stores = if purpose == Purpose::Serve && config.history.url.is_empty() {
        store::connect_serving(&config.database, data_dir).await?
    } else {
        store::connect(&config.database, data_dir).await?
    };
    if !config.history.url.is_empty() {
        let mongo = crate::store::MongoMessages::connect(
            &config.history.url,
            &config.history.database,
            config.chat.retention_days,
        )
        .await?;
        let mongo = Arc::new(mongo);
        stores.changes = mongo.clone();
        stores.conversations = mongo.clone();
        stores.search = mongo.clone();
        stores.messages = mongo;
    }
    let node = rand::random::<u64>() >> 1;
    let (bus, presence, cluster): (Arc<dyn Bus>, Arc<dyn Presence>, _) =
        if config.cluster.redis_url.is_empty() {
            (
                Arc::new(LocalBus::default()),
                Arc::new(MemoryPresence::default()),
                None,
            )
        } else {
            let url = &config.cluster.redis_url;
            let namespace = &config.cluster.namespace;
            let bus = crate::bus::RedisBus::connect(url, namespace).await?;
            let presence = Arc::new(
                crate::presence::RedisPresence::connect(
                    url,
                    namespace,
                    node,
                    Duration::from_secs(config.cluster.presence_ttl_secs),
                )
                .await?,
            );
            (Arc::new(bus), presence.clone(), Some(presence))
        };
    let jwt_secret = if config.auth.jwt_secret.is_empty() {
        crypto::secret_file(&secrets, "jwt.key")?.to_vec()
    } else {
        config.auth.jwt_secret.as_bytes().to_vec()
    };
    let keys = TokenKeys::new(
        &jwt_secret,
        config.auth.access_ttl_secs,
        config.auth.refresh_ttl_secs,
    );
    let cipher = Arc::new(FieldCipher::load(&config.security, &secrets)?);
    let mailer = Arc::new(Mailer::new(&config.email, &mail::mail_dir(data_dir))?);
    // Every chain plugins take part in is one snapshot that the registry swaps whole; the
    // chat service, the group policy and the upload service read it. With plugins off it
    // stays empty, which is the seed's behaviour everywhere.
    let hooks = SharedHooks::default();
    let uploads =
        Uploads::open(data_dir, &config.uploads, stores.uploads.clone())?.with_hooks(hooks.clone());
    let groups = GroupService::new(
        stores.groups.clone(),
        stores.messages.clone(),
        Arc::new(PluginGroupPolicy::new(hooks.clone())),
        GroupLimits {
            default_size: config.groups.default_size,
            max_size: config.groups.max_size,
            history: config.groups.history_visibility,
        },
        bus.clone(),
    )
    .with_max_joined(config.groups.max_joined, stores.counts.clone());
    let blocks = BlockService::new(
        stores.blocks.clone(),
        stores.users.clone(),
        stores.groups.clone(),
        groups.facts().clone(),
        bus.clone(),
    );
    let chat = ChatService::new(
        stores.messages.clone(),
        stores.users.clone(),
        groups.clone(),
        presence,
        bus.clone(),
        config.chat.max_message_chars,
        BatchLimits {
            max_messages: config.chat.batch_max_messages,
            max_bytes: config.chat.batch_max_bytes,
            queue: config.chat.writer_queue,
            store_timeout: Duration::from_secs(config.database.query_timeout_secs),
        },
    )
    .with_hooks(hooks.clone())
    .with_blocks(blocks.clone())
    .with_changes(stores.changes.clone())
    .with_recall_window(Duration::from_secs(config.chat.recall_window_secs))
    .with_mentions(Mentions::new(
        stores.conversations.clone(),
        groups.clone(),
        bus.clone(),
    ));
    let conversations = ConversationService::new(
        stores.friends.clone(),
        stores.groups.clone(),
        stores.messages.clone(),
        stores.conversations.clone(),
        chat.presence().clone(),
    );
    // Memberships and users the message path remembers stay true on every node.
    groups.facts().watch(&bus);
    let hub = Hub::start(
        node,
        &bus,
        crate::ws::limits::SocketCaps::from_config(&config.chat),
        crate::ws::limits::UserRate::from_config(&config.chat),
    );
    let kv: Arc<dyn PluginKv> = if config.cluster.redis_url.is_empty() {
        Arc::new(MemoryKv::with_max_keys(config.plugins.kv_max_keys))
    } else {
        Arc::new(
            RedisKv::connect(&config.cluster.redis_url, &config.cluster.namespace)
                .await?
                .with_max_keys(config.plugins.kv_max_keys),
        )
    };
    // In a cluster whose database can be shared, plugins live there and changes are
    // announced on the bus; a command run beside a server keeps to its folder.
    let plugin_cluster = (purpose == Purpose::Serve
        && !config.cluster.redis_url.is_empty()
        && stores.plugins.shared())
    .then(|| ClusterWiring {
        store: stores.plugins.clone(),
        bus: bus.clone(),
        verdicts_kept: config.cluster.verdicts_kept,
    });
    let plugins = Plugins::start(
        &config.plugins,
        data_dir,
        Wiring {
            hooks,
            kv,
            max_chars: config.chat.max_message_chars,
            node: config
                .cluster
                .node_name_or_default(config.server.listen.port()),
            cluster: plugin_cluster,
        },
    )
    .await
    .context("starting the plugins")?;
    let admin_token: Arc<str> = if config.admin.token.is_empty() {
        B64.encode(crypto::secret_file(&secrets, "admin.token")?)
            .into()
    } else {
        config.admin.token.as_str().into()
    };
    let friends = FriendService::new(stores.friends.clone(), stores.users.clone(), blocks.clone())
        .announcing(groups.facts().clone(), bus.clone())
        .with_max(config.friends.max_per_user, stores.counts.clone());
    // The message filters' context reads friend lists through the facts.
    groups.facts().friends.read_from(stores.friends.clone());
    let users = UserService::new(
        config,
        stores.clone(),
        AccountTools {
            keys,
            cipher,
            mailer,
            uploads: uploads.clone(),
            groups: groups.clone(),
            bus: bus.clone(),
        },
    );
    let search = crate::messages::search::SearchService::new(
        stores.search.clone(),
        stores.messages.clone(),
        groups.clone(),
    );
    // In a cluster every series is labelled with the node's name, as the plugins' are.
    let port = config.server.listen.port();
    let node =
        (!config.cluster.redis_url.is_empty()).then(|| config.cluster.node_name_or_default(port));
    let metrics = crate::metrics::Metrics::new(
        node.as_deref(),
        crate::metrics::Sources {
            hub: hub.clone(),
            store: chat.store_stats().clone(),
            bus: bus.stats(),
        },
    );
    if purpose == Purpose::Serve && config.metrics.token.is_empty() {
        tracing::warn!("/metrics opens with the admin token, which is deprecated: set [metrics] token for scrapers");
    }
    let readiness = api::health::Readiness::new(
        stores.users.clone(),
        (!config.history.url.is_empty()).then(|| stores.messages.clone()),
        config.plugins.enabled,
    );
    let sockets = Arc::new(crate::ws::session::Context {
        renewal: Arc::new(users.clone()),
        chat: chat.clone(),
        hub: hub.clone(),
        limits: config.chat.clone(),
    });
    let state = AppState {
        sockets,
        users,
        friends,
        groups,
        conversations,
        blocks,
        uploads,
        limits: Limits {
            max_body_bytes: config.server.max_body_bytes,
        },
        chat,
        hub,
        chat_limits: config.chat.clone(),
        cluster,
        plugins,
        admin_token,
        throttles: api::throttle::Throttles::new(&config.throttle, &config.server.trusted_proxies),
        search,
        audit: crate::audit::AuditLog::new(stores.audit.clone()),
        metrics,
        metrics_token: (!config.metrics.token.is_empty())
            .then(|| config.metrics.token.as_str().into()),
        origins: api::cors::parse_origins(&config.server.cors_origins)?,
        readiness,
    };
    Ok((state, stores))
}

impl App {
    /// Prepares the data folder, storage and services, and binds the listener.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("listening on {}", config.server.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        // Bound first, so a node's default name has its real port even with port 0.
        config.cluster.node_name = config.cluster.node_name_or_default(addr.port());
        let (state, stores) = services(&config, Purpose::Serve).await?;
        Ok(Self {
            listener,
            state,
            backups: crate::backup::Backups::new(&config, stores.messages.clone()),
            stores,
            addr,
            retention_days: config.chat.retention_days,
            connections: ConnectionLimits::from_config(&config.server),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state, for commands and tests that call services directly.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The stores, for tests that inspect what was written.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// Serves until `shutdown` resolves; then every socket finishes the frame it is
    /// handling and closes with 1001, and requests in flight finish, within a grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let janitor = tokio::spawn(janitor(self.stores.clone(), self.retention_days));
        let hub = self.state.hub.clone();
        let cluster = self.state.cluster.clone();
        // The backup route settles the message history of this process's stores.
        let router = api::router(self.state).layer(axum::Extension(self.backups));
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let signal_hub = hub.clone();
        // Every request carries the peer's address as `ConnectInfo` (the client address of
        // throttles and socket caps).
        let serve = api::serve::serve(self.listener, router, self.connections, async move {
            shutdown.await;
            signal_hub.begin_shutdown();
            let _ = stopping_tx.send(true);
        });
        // Upgraded sockets leave hyper's bookkeeping, so the hub's tracker is awaited too.
        let everything = async {
            serve.await;
            hub.tracker().wait().await;
            anyhow::Ok(())
        };
        let grace = async move {
            let _ = stopping_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(api::SHUTDOWN_GRACE).await;
        };
        let served = tokio::select! {
            served = everything => served,
            () = grace => {
                tracing::warn!("requests or sockets still open after the shutdown grace period; stopping anyway");
                Ok(())
            }
        };
        janitor.abort();
        // This node's users leave the shared online list now rather than after the ttl.
        if let Some(presence) = cluster {
            presence.shutdown().await;
        }
        served
    }
}

/// Hourly: forgets expired refresh tokens and messages past their retention.
async fn janitor(stores: Stores, retention_days: u32) {
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        if let Err(err) = stores
            .tokens
            .purge_expired_refresh(crate::tokens::now())
            .await
        {
            tracing::warn!(error = %err, "purging expired refresh tokens failed");
        }
        if retention_days > 0 {
            let cutoff = crate::users::now_millis() - i64::from(retention_days) * 86_400_000;
            match stores.messages.purge_before(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(messages = n, "purged messages past their retention"),
                Err(err) => tracing::warn!(error = %err, "purging old messages failed"),
            }
        }
    }
}

/// Creates a folder readable only by its owner (if it does not exist yet).
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}
