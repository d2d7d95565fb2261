//! The configuration tree: defaults, then a TOML file, then `CONFAB_*` environment variables.
//!
//! Every field is documented here and in `config.example.toml` (a test parses that file).
//! Unknown keys are rejected with their name, so a typo never silently falls back to a
//! default. After [`Config::load`] nothing in the host reads the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The prefix of the environment variables that configure the server.
const ENV_PREFIX: &str = "CONFAB_";
/// Environment variables with this prefix (after [`ENV_PREFIX`]) belong to the test
/// suite, not to the server.
const TEST_ENV_PREFIX: &str = "test_";
/// `CONFAB_*` variables of the commands rather than the server's configuration
/// (`CONFAB_CONFIG`, and `CONFAB_ADMIN_TOKEN` of `confab admin`), after [`ENV_PREFIX`].
const COMMAND_VARIABLES: &[&str] = &["config", "admin_token"];

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listening address, data folder and HTTP limits.
    pub server: ServerConfig,
    /// Where users, friends, groups and invites are stored.
    pub database: DatabaseConfig,
    /// Tokens and password hashing.
    pub auth: AuthConfig,
    /// Encryption of private data at rest.
    pub security: SecurityConfig,
    /// Open or invite-only registration.
    pub registration: RegistrationConfig,
    /// Verification mail.
    pub email: EmailConfig,
    /// File uploads and avatars.
    pub uploads: UploadConfig,
    /// Friend lists.
    pub friends: FriendsConfig,
    /// Group sizes.
    pub groups: GroupsConfig,
    /// Real-time chat: history, limits of sockets and messages.
    pub chat: ChatConfig,
    /// Where message history lives.
    pub history: HistoryConfig,
    /// Several nodes as one service.
    pub cluster: ClusterConfig,
    /// Logging.
    pub log: LogConfig,
    /// WebAssembly plugins: the watched folder, default limits, quarantine.
    pub plugins: PluginsConfig,
    /// Request rates of the account and operator routes, and password hashing at once.
    pub throttle: ThrottleConfig,
    /// The operator API under `/admin/` and `/metrics`.
    pub admin: AdminConfig,
    /// Who may read `/metrics`.
    pub metrics: MetricsConfig,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Folder for the SQLite database, uploads, outgoing mail and generated secrets.
    pub data_dir: PathBuf,
    /// Largest accepted request body that is not a file upload, in bytes.
    pub max_body_bytes: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed, as CIDR blocks such as
    /// `"127.0.0.1/32"`. Empty: the client address is always the socket's peer.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Seconds a client has to send a request's headers, from the connection's opening or,
    /// on a kept-alive connection, from the request's first byte; then it is closed.
    pub header_timeout_secs: u64,
    /// Seconds a kept-alive connection may stay silent between requests before it is closed.
    pub keepalive_idle_secs: u64,
    /// Seconds a request body may pause; also the head start before `body_min_bytes_per_sec`
    /// counts. A body that falls behind is answered with 408.
    pub body_timeout_secs: u64,
    /// Least average rate of a request body, in bytes per second, once `body_timeout_secs`
    /// have passed; 0: only pauses count.
    pub body_min_bytes_per_sec: u64,
    /// Seconds an answer may wait for the client to take more of it (a download the client
    /// stopped reading); then the connection is closed. A slow reader that keeps reading is
    /// never cut.
    pub write_timeout_secs: u64,
    /// Most connections open at once, WebSockets included; further connections wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// Most bytes the kernel holds unsent on a connection (`TCP_NOTSENT_LOWAT`, Linux
    /// only; 0: the kernel's default, which may be megabytes). A reader that stops reading
    /// then fills the server's own bounded queue rather than the kernel's buffer, and the
    /// close frame that follows (1013) reaches it as soon as it reads again.
    pub unsent_bytes: u32,
    /// Origins (`scheme://host[:port]`) whose browser pages may call the API and open
    /// WebSockets, or `["*"]` for any. Empty: no CORS headers at all, and sockets are not
    /// checked (see docs/security.md).
    pub cors_origins: Vec<String>,
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Empty: SQLite file `confab.db` in the data folder. Otherwise a `sqlite://` or
    /// `mysql://` URL.
    pub url: String,
    /// Largest number of pooled connections (MySQL, and SQLite readers).
    pub max_connections: u32,
    /// Seconds a message may wait, from its arrival, until it is stored, or a history or
    /// unread query may take, before its sender or reader gets an error frame (40001)
    /// instead of waiting on a stalled database.
    pub query_timeout_secs: u64,
    /// SQLite only: acknowledge a message once it is appended to the message log
    /// (`<data_dir>/message-log`) and synced, and write it into SQLite behind, in large
    /// transactions. Off: each batch is committed to SQLite before it is acknowledged.
    /// Either way an acknowledged message survives a crash or a power cut.
    pub message_log: bool,
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret for tokens. Empty: a random secret is generated once and kept in
    /// `<data_dir>/secrets/jwt.key` (mode 0600).
    pub jwt_secret: String,
    /// Lifetime of an access token (aToken), seconds.
    pub access_ttl_secs: u64,
    /// Lifetime of a refresh token (rToken), seconds.
    pub refresh_ttl_secs: u64,
    /// bcrypt cost for password digests (4..=31).
    pub bcrypt_cost: u32,
}

/// `[security]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Base64 of 32 random bytes: the key that seals email and phone. Empty: generated once
    /// into `<data_dir>/secrets/data.key`.
    pub data_key: String,
    /// Id stored with every sealed value, so keys can be rotated.
    pub data_key_id: u32,
    /// Earlier keys, still able to open values sealed with them: `"<id>:<base64 key>"`.
    pub retired_data_keys: Vec<String>,
    /// Base64 of 32 random bytes: the key of the blind index that makes emails unique
    /// without storing them in clear. Empty: generated into `<data_dir>/secrets/index.key`.
    pub index_key: String,
}

/// Who may register.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RegistrationMode {
    /// Anyone may register.
    Open,
    /// Registration needs a single-use invite key.
    InviteOnly,
}

/// `[registration]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// `"open"` or `"invite-only"`.
    pub mode: RegistrationMode,
}

/// How verification mail leaves the server.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MailTransport {
    /// Each mail is written as an `.eml` file into `<data_dir>/mail`.
    File,
    /// Mail is sent through the SMTP relay in `[email.smtp]`.
    Smtp,
}

/// How the SMTP connection is secured; there is deliberately no clear-text option.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SmtpSecurity {
    /// TLS from the first byte (usually port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    Starttls,
}

/// `[email]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `"file"` or `"smtp"`.
    pub transport: MailTransport,
    /// The From header of verification mail.
    pub from: String,
    /// How long a verification code is valid, seconds.
    pub code_ttl_secs: u64,
    /// Wrong codes allowed before the code is void.
    pub max_attempts: u32,
    /// Least time between two codes sent for one account or to one address, seconds.
    pub resend_interval_secs: u64,
    /// The relay used when `transport = "smtp"`.
    pub smtp: SmtpConfig,
}

/// `[email.smtp]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Relay host name (checked against its TLS certificate).
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// `"tls"` or `"starttls"`.
    pub security: SmtpSecurity,
    /// Login name; empty for no authentication.
    pub username: String,
    /// Password for `username`.
    pub password: String,
    /// A PEM file with an extra CA to trust for the relay's certificate; empty: only the
    /// usual web roots.
    pub ca_file: PathBuf,
}

/// `[uploads]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    /// Largest file accepted by `POST /user/upload`, bytes.
    pub max_bytes: u64,
    /// Largest avatar accepted by `PUT /user/update`, bytes.
    pub avatar_max_bytes: u64,
    /// Most pixels (width times height, as the file's header declares them) of an image
    /// accepted as an upload or avatar, so a small file cannot claim a huge picture.
    pub max_image_pixels: u64,
    /// Bytes one user may upload with `POST /user/upload` per day (UTC); 0 for no limit.
    pub quota_bytes_per_day: u64,
    /// Bytes one user may upload with `POST /user/upload` in all; 0 for no limit.
    pub quota_bytes_total: u64,
}

/// `[groups]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GroupsConfig {
    /// Size of a group created without one (the seed's 200).
    pub default_size: i64,
    /// Largest size a client may ask for.
    pub max_size: i64,
    /// What new members of a new group read of the messages sent before they joined:
    /// `"joined"` (none of them) or `"all"`. The owner or an admin may change it per group.
    pub history_visibility: crate::groups::HistoryVisibility,
    /// Most groups one user may belong to, created ones included (1 to 100000); past it
    /// creating or joining another is refused with 30042.
    pub max_joined: u64,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        Self {
            default_size: 200,
            max_size: 5000,
            history_visibility: crate::groups::HistoryVisibility::Joined,
            max_joined: 1000,
        }
    }
}

/// `[friends]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FriendsConfig {
    /// Most users one user may have on their friend list (1 to 100000); past it adding
    /// another is refused with 30042.
    pub max_per_user: u64,
}

impl Default for FriendsConfig {
    fn default() -> Self {
        Self { max_per_user: 5000 }
    }
}

/// `[chat]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Days a message is kept; 0 keeps messages forever.
    pub retention_days: u32,
    /// Longest message text, in characters (at most 4000).
    pub max_message_chars: usize,
    /// Largest client frame, in bytes; larger frames get an error frame.
    pub max_frame_bytes: usize,
    /// Frames a socket may have waiting to be written before it counts as a slow reader
    /// and is closed with 1013.
    pub outbound_queue: usize,
    /// Messages a connection may send per second, on average.
    pub messages_per_second: u32,
    /// Messages a connection may send in a burst.
    pub message_burst: u32,
    /// Invalid frames in a row after which the socket is closed with 1008.
    pub invalid_frame_limit: u32,
    /// Seconds between server pings.
    pub ping_interval_secs: u64,
    /// Seconds without any frame from the client after which it counts as dead.
    pub idle_timeout_secs: u64,
    /// Frames of one socket being handled at once (stored, not yet answered). Past it the
    /// socket stops reading until an answer goes out: backpressure, never a growing buffer.
    pub window: usize,
    /// Bytes of frames waiting to be written to one socket before its reader counts as
    /// too slow (closed with 1013), beside the `outbound_queue` count.
    pub outbound_queue_bytes: usize,
    /// Most messages the writer commits in one transaction (group commit).
    pub batch_max_messages: usize,
    /// Most text bytes the writer commits in one transaction.
    pub batch_max_bytes: usize,
    /// Messages waiting for the writer, from all sockets, before senders wait their turn.
    pub writer_queue: usize,
    /// Sockets one user may hold open on one node; the next is closed with 1008.
    pub max_sockets_per_user: usize,
    /// Sockets one client address may hold open on one node; the next is closed with 1008.
    pub max_sockets_per_address: usize,
    /// Messages one user may send per second, on average, across all their sockets.
    pub user_messages_per_second: u32,
    /// Messages one user may send in a burst, across all their sockets.
    pub user_message_burst: u32,
    /// Most messages in one answer to a type-3 (unread) frame; the rest come with the next.
    pub unread_page: u32,
    /// Seconds after sending during which a sender may recall a message (group owners and
    /// admins may remove any message at any time).
    pub recall_window_secs: u64,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            retention_days: 90,
            max_message_chars: 4000,
            max_frame_bytes: 32 * 1024,
            outbound_queue: 256,
            messages_per_second: 20,
            message_burst: 40,
            invalid_frame_limit: 5,
            ping_interval_secs: 20,
            idle_timeout_secs: 60,
            window: 32,
            outbound_queue_bytes: 1024 * 1024,
            batch_max_messages: 256,
            batch_max_bytes: 1024 * 1024,
            writer_queue: 4096,
            max_sockets_per_user: 32,
            max_sockets_per_address: 512,
            user_messages_per_second: 30,
            user_message_burst: 60,
            unread_page: 200,
            recall_window_secs: 120,
        }
    }
}

/// `[history]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Empty: history is kept in the `[database]`. Otherwise a `mongodb://` URL.
    pub url: String,
    /// The MongoDB database name.
    pub database: String,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            database: "confab".to_owned(),
        }
    }
}

/// `[cluster]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Empty: one node, with the online list and delivery in memory. Otherwise a
    /// `redis://` URL shared by every node: the online list and delivery go through it.
    pub redis_url: String,
    /// Separates several deployments sharing one Redis; every node of one service uses the
    /// same namespace.
    pub namespace: String,
    /// Seconds after which a node that stopped refreshing (it died) drops its users from
    /// the online list.
    pub presence_ttl_secs: u64,
    /// This node's name, as the admin API, the console and `/metrics` show it. Empty: the
    /// host name and the port it listens on (`host:8080`). Each node of a cluster needs
    /// its own.
    pub node_name: String,
    /// How many verdicts the cluster's shared verdict log keeps (the newest, of all
    /// nodes), when plugins are shared through the database.
    pub verdicts_kept: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis_url: String::new(),
            namespace: "default".to_owned(),
            presence_ttl_secs: 10,
            node_name: String::new(),
            verdicts_kept: 10_000,
        }
    }
}

impl ClusterConfig {
    /// The node's name: `node_name`, or else the host name and `port`.
    pub fn node_name_or_default(&self, port: u16) -> String {
        if !self.node_name.is_empty() {
            return self.node_name.clone();
        }
        // The kernel's name for the host; a file rather than the environment, which the
        // server reads only while loading its configuration.
        let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|path| {
                let name = std::fs::read_to_string(path).ok()?;
                let name = name.trim();
                (!name.is_empty()).then(|| name.to_owned())
            })
            .unwrap_or_else(|| "confab".to_owned());
        format!("{host}:{port}")
    }
}

/// `[plugins]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Load plugins at all. Off, every hook keeps the host's built-in behaviour.
    pub enabled: bool,
    /// The folder of `<name>.wasm` + `<name>.toml` pairs; empty means `<data_dir>/plugins`.
    pub dir: PathBuf,
    /// When the folder does not exist yet, create it with the bundled plugins in it.
    pub install_bundled: bool,
    /// Watch the folder and apply changes while running.
    pub watch: bool,
    /// Quiet time, in milliseconds, after a change in the folder before it is read again.
    pub debounce_ms: u64,
    /// Memory cap of one plugin instance, MiB, for manifests that name none.
    pub memory_mib: u32,
    /// Deadline of one call, milliseconds, for manifests that name none.
    pub deadline_ms: u64,
    /// The most memory a manifest may ask for, MiB.
    pub max_memory_mib: u32,
    /// The longest deadline a manifest may ask for, milliseconds.
    pub max_deadline_ms: u64,
    /// Live instances per plugin, which is how many calls into it run at once.
    pub instances_per_plugin: u32,
    /// The most keys each plugin's key-value store holds. A write to a full store still
    /// succeeds: expired keys, then the least recently used ones, make room.
    pub kv_max_keys: usize,
    /// Failed calls in a row after which a plugin is quarantined.
    pub quarantine_after: u32,
    /// Seconds a quarantined plugin is skipped (its failure policy applies) before it is
    /// tried again.
    pub quarantine_secs: u64,
    /// Where compiled plugins are cached; empty means `<data_dir>/plugin-cache`.
    pub cache_dir: PathBuf,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::new(),
            install_bundled: true,
            watch: true,
            debounce_ms: 200,
            memory_mib: 16,
            deadline_ms: 10,
            max_memory_mib: 128,
            max_deadline_ms: 1000,
            instances_per_plugin: 8,
            kv_max_keys: 100_000,
            quarantine_after: 5,
            quarantine_secs: 30,
            cache_dir: PathBuf::new(),
        }
    }
}

/// `[admin]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// The bearer token of `/admin/` and `/metrics`. Empty: a random one is generated into
    /// `<data_dir>/secrets/admin.token` on first start and read from there.
    pub token: String,
}

/// `[throttle]`: how often one client address, and one account name, may call the routes
/// that check passwords, send mail or guard the operator API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Password hashes and checks (bcrypt) running at once; 0 means one per CPU core.
    pub bcrypt_concurrency: usize,
    /// Keys (addresses or names) one limiter remembers at most; past it, its requests share
    /// one bucket until idle keys are dropped.
    pub max_keys: usize,
    /// `/user/login`, per address and per user name.
    pub login: NamedThrottle,
    /// `/user/register`, per address and per user name.
    pub register: NamedThrottle,
    /// `/user/refresh`, per address.
    pub refresh: AddressThrottle,
    /// `/user/emailCheck`, per address and per email address asked for.
    pub email_check: NamedThrottle,
    /// `/admin/*` and `/metrics`, per address.
    pub admin: AddressThrottle,
}

/// A route limited per client address and per account name.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NamedThrottle {
    /// For one client address.
    pub address: Rate,
    /// For one name (user name or email address) in the request.
    pub name: Rate,
}

/// A route limited per client address.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AddressThrottle {
    /// For one client address.
    pub address: Rate,
}

/// A rate: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Requests per minute, on average.
    pub per_minute: u32,
    /// Requests at once after a quiet spell.
    pub burst: u32,
}

impl Rate {
    const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            bcrypt_concurrency: 0,
            max_keys: 100_000,
            login: NamedThrottle {
                address: Rate::new(30, 10),
                name: Rate::new(5, 5),
            },
            register: NamedThrottle {
                address: Rate::new(5, 10),
                name: Rate::new(5, 5),
            },
            refresh: AddressThrottle {
                address: Rate::new(30, 20),
            },
            email_check: NamedThrottle {
                address: Rate::new(5, 5),
                name: Rate::new(2, 3),
            },
            admin: AddressThrottle {
                address: Rate::new(300, 100),
            },
        }
    }
}

impl ThrottleConfig {
    /// Checks ranges: every rate and burst positive, the bounds sane.
    fn validate(&self) -> anyhow::Result<()> {
        if self.bcrypt_concurrency > 1024 {
            anyhow::bail!("throttle.bcrypt_concurrency must be 0 (one per core) to 1024");
        }
        if self.max_keys == 0 || self.max_keys > 10_000_000 {
            anyhow::bail!("throttle.max_keys must be between 1 and 10000000");
        }
        let rates = [
            ("login.address", self.login.address),
            ("login.name", self.login.name),
            ("register.address", self.register.address),
            ("register.name", self.register.name),
            ("refresh.address", self.refresh.address),
            ("email_check.address", self.email_check.address),
            ("email_check.name", self.email_check.name),
            ("admin.address", self.admin.address),
        ];
        for (key, rate) in rates {
            if rate.per_minute == 0 || rate.burst == 0 {
                anyhow::bail!("throttle.{key}.per_minute and burst must be positive");
            }
        }
        Ok(())
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `"info"` or `"confab=debug,info"`; `RUST_LOG` wins when set.
    pub filter: String,
    /// `"text"` for people, or `"json"`: one object per line, for log collectors.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[metrics]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The bearer token of `/metrics`, which opens nothing else. Empty: the admin token
    /// opens `/metrics` (deprecated; set this). Set: only this token does.
    pub token: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            max_body_bytes: 64 * 1024,
            trusted_proxies: Vec::new(),
            header_timeout_secs: 15,
            keepalive_idle_secs: 30,
            body_timeout_secs: 20,
            body_min_bytes_per_sec: 500,
            write_timeout_secs: 60,
            max_connections: 10_000,
            unsent_bytes: 128 * 1024,
            cors_origins: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 8,
            query_timeout_secs: 10,
            message_log: true,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            access_ttl_secs: 8 * 3600,
            refresh_ttl_secs: 14 * 24 * 3600,
            bcrypt_cost: 12,
        }
    }
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            data_key: String::new(),
            data_key_id: 1,
            retired_data_keys: Vec::new(),
            index_key: String::new(),
        }
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            mode: RegistrationMode::Open,
        }
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            transport: MailTransport::File,
            from: "Confab <no-reply@localhost>".to_owned(),
            code_ttl_secs: 120,
            max_attempts: 5,
            resend_interval_secs: 60,
            smtp: SmtpConfig::default(),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: String::new(),
            ca_file: PathBuf::new(),
        }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            avatar_max_bytes: 2 * 1024 * 1024,
            max_image_pixels: 40_000_000,
            quota_bytes_per_day: 200 * 1024 * 1024,
            quota_bytes_total: 2 * 1024 * 1024 * 1024,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            security: SecurityConfig::default(),
            registration: RegistrationConfig::default(),
            email: EmailConfig::default(),
            uploads: UploadConfig::default(),
            friends: FriendsConfig::default(),
            groups: GroupsConfig::default(),
            chat: ChatConfig::default(),
            history: HistoryConfig::default(),
            cluster: ClusterConfig::default(),
            log: LogConfig::default(),
            plugins: PluginsConfig::default(),
            throttle: ThrottleConfig::default(),
            admin: AdminConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Config {
    /// Defaults, then the TOML file if given, then `CONFAB_*` variables from the process
    /// environment (`CONFAB_SERVER__LISTEN` sets `server.listen`), read by figment's own
    /// [`Env`] provider: each variable sets the one key its name gives, and its value is a
    /// value (a string, number, boolean or list), never configuration text, so a newline or
    /// a `[table]` inside it cannot set another key.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let env = Env::prefixed(ENV_PREFIX).split("__").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            !COMMAND_VARIABLES.contains(&key.as_str()) && !key.starts_with(TEST_ENV_PREFIX)
        });
        Self::extract(Self::file_layer(file)?.merge(Environment::Process(env)))
    }

    /// [`Config::load`] with an explicit environment, for tests: each variable is read as
    /// [`Env`] reads it (the key split on `__`, the value parsed by figment as one value).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let given = Environment::Given(env.into_iter().collect());
        Self::extract(Self::file_layer(file)?.merge(given))
    }

    /// The defaults, then the TOML file if given.
    fn file_layer(file: Option<&Path>) -> anyhow::Result<Figment> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        Ok(figment)
    }

    /// Defaults, then the TOML `text`, checked: what [`Config::load_from`] makes of a file
    /// holding `text` and an empty environment.
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        let figment = Figment::from(Serialized::defaults(Config::default()));
        Self::extract(figment.merge(Toml::string(text)))
    }

    /// The configuration the layers of `figment` describe, or every reason it is invalid.
    fn extract(figment: Figment) -> anyhow::Result<Self> {
        let config: Config = figment.extract().map_err(|e| {
            let mut msg = String::from("invalid configuration");
            for err in e {
                msg.push_str(&format!("\n  - {err}"));
            }
            anyhow::anyhow!(msg)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values serde cannot: ranges and combinations.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            anyhow::bail!("auth.bcrypt_cost must be between 4 and 31");
        }
        if self.auth.access_ttl_secs == 0 || self.auth.refresh_ttl_secs == 0 {
            anyhow::bail!("auth.access_ttl_secs and auth.refresh_ttl_secs must be positive");
        }
        if self.email.transport == MailTransport::Smtp && self.email.smtp.host.is_empty() {
            anyhow::bail!("email.smtp.host is required when email.transport = \"smtp\"");
        }
        if self.email.max_attempts == 0 || self.email.code_ttl_secs == 0 {
            anyhow::bail!("email.max_attempts and email.code_ttl_secs must be positive");
        }
        if self.server.max_body_bytes < 1024 {
            anyhow::bail!("server.max_body_bytes must be at least 1024");
        }
        let server = &self.server;
        if !(1..=300).contains(&server.header_timeout_secs) {
            anyhow::bail!("server.header_timeout_secs must be between 1 and 300");
        }
        if !(1..=3600).contains(&server.keepalive_idle_secs)
            || !(1..=3600).contains(&server.body_timeout_secs)
        {
            anyhow::bail!(
                "server.keepalive_idle_secs and server.body_timeout_secs must be between 1 and 3600"
            );
        }
        if !(1..=3600).contains(&server.write_timeout_secs) {
            anyhow::bail!("server.write_timeout_secs must be between 1 and 3600");
        }
        if !(1..=1_000_000).contains(&server.max_connections) {
            anyhow::bail!("server.max_connections must be between 1 and 1000000");
        }
        if server.unsent_bytes > 64 * 1024 * 1024 {
            anyhow::bail!("server.unsent_bytes must be at most 67108864 (64 MiB)");
        }
        if !(1..=100_000).contains(&self.groups.max_joined) {
            anyhow::bail!("groups.max_joined must be between 1 and 100000");
        }
        if !(1..=100_000).contains(&self.friends.max_per_user) {
            anyhow::bail!("friends.max_per_user must be between 1 and 100000");
        }
        if self.groups.default_size < 1 || self.groups.default_size > self.groups.max_size {
            anyhow::bail!("groups.default_size must be between 1 and groups.max_size");
        }
        let uploads = &self.uploads;
        if !(1..=1_000_000_000).contains(&uploads.max_image_pixels) {
            anyhow::bail!("uploads.max_image_pixels must be between 1 and 1000000000");
        }
        if !(16..=100_000_000).contains(&self.plugins.kv_max_keys) {
            anyhow::bail!("plugins.kv_max_keys must be between 16 and 100000000");
        }
        for (key, quota) in [
            ("quota_bytes_per_day", uploads.quota_bytes_per_day),
            ("quota_bytes_total", uploads.quota_bytes_total),
        ] {
            if quota != 0 && quota < uploads.max_bytes {
                anyhow::bail!(
                    "uploads.{key} must be 0 (no limit) or at least uploads.max_bytes, so a file of the largest size fits"
                );
            }
        }
        let chat = &self.chat;
        if chat.max_message_chars == 0 || chat.max_message_chars > 4000 {
            anyhow::bail!("chat.max_message_chars must be between 1 and 4000");
        }
        if chat.outbound_queue == 0 || chat.messages_per_second == 0 || chat.message_burst == 0 {
            anyhow::bail!(
                "chat.outbound_queue, messages_per_second and message_burst must be positive"
            );
        }
        if chat.window == 0
            || chat.window > 1024
            || chat.batch_max_messages == 0
            || chat.batch_max_messages > 4096
            || chat.writer_queue == 0
        {
            anyhow::bail!(
                "chat.window must be 1 to 1024, chat.batch_max_messages 1 to 4096, and chat.writer_queue positive"
            );
        }
        if chat.outbound_queue_bytes < chat.max_frame_bytes
            || chat.batch_max_bytes < chat.max_frame_bytes
        {
            anyhow::bail!(
                "chat.outbound_queue_bytes and chat.batch_max_bytes must be at least chat.max_frame_bytes"
            );
        }
        if chat.max_frame_bytes < 1024
            || chat.ping_interval_secs == 0
            || chat.idle_timeout_secs <= chat.ping_interval_secs
        {
            anyhow::bail!("chat.max_frame_bytes must be at least 1024, and chat.idle_timeout_secs longer than chat.ping_interval_secs");
        }
        if chat.max_sockets_per_user == 0
            || chat.max_sockets_per_address == 0
            || chat.user_messages_per_second == 0
            || chat.user_message_burst == 0
            || chat.unread_page == 0
            || chat.unread_page > 10_000
        {
            anyhow::bail!(
                "chat.max_sockets_per_user, max_sockets_per_address, user_messages_per_second and user_message_burst must be positive, and chat.unread_page 1 to 10000"
            );
        }
        if chat.recall_window_secs > 30 * 86_400 {
            anyhow::bail!("chat.recall_window_secs must be at most 2592000 (30 days)");
        }
        if !(1..=300).contains(&self.database.query_timeout_secs) {
            anyhow::bail!("database.query_timeout_secs must be between 1 and 300");
        }
        self.check_secrets()?;
        if !self.history.url.is_empty() && !self.history.url.starts_with("mongodb") {
            anyhow::bail!("history.url must be empty or a mongodb:// URL");
        }
        if self.cluster.node_name.chars().count() > 100
            || self.cluster.node_name.chars().any(char::is_control)
        {
            anyhow::bail!(
                "cluster.node_name must be at most 100 characters, none of them control characters"
            );
        }
        if !(100..=10_000_000).contains(&self.cluster.verdicts_kept) {
            anyhow::bail!("cluster.verdicts_kept must be between 100 and 10000000");
        }
        if !self.cluster.redis_url.is_empty() && self.cluster.presence_ttl_secs == 0 {
            anyhow::bail!("cluster.presence_ttl_secs must be positive");
        }
        if self.database.max_connections == 0 {
            anyhow::bail!("database.max_connections must be positive");
        }
        self.throttle.validate()?;
        crate::api::cors::parse_origins(&self.server.cors_origins)?;
        Ok(())
    }

    /// A copy fit to show: every secret replaced by `"***"` (an empty one stays empty, so
    /// it still says "generated into the data folder"), and passwords cut out of URLs.
    pub fn masked(&self) -> Self {
        fn mask(secret: &mut String) {
            if !secret.is_empty() {
                *secret = MASK.to_owned();
            }
        }
        let mut shown = self.clone();
        mask(&mut shown.auth.jwt_secret);
        mask(&mut shown.security.data_key);
        mask(&mut shown.security.index_key);
        for key in &mut shown.security.retired_data_keys {
            // The id before the colon is not secret and tells keys apart.
            let id = key.split_once(':').map(|(id, _)| id.to_owned());
            *key = match id {
                Some(id) => format!("{id}:{MASK}"),
                None => MASK.to_owned(),
            };
        }
        mask(&mut shown.email.smtp.password);
        mask(&mut shown.admin.token);
        mask(&mut shown.metrics.token);
        for url in [
            &mut shown.database.url,
            &mut shown.history.url,
            &mut shown.cluster.redis_url,
        ] {
            *url = mask_url_password(url);
        }
        shown
    }

    /// Refuses secrets too short to resist guessing. Empty ones are generated at start.
    fn check_secrets(&self) -> anyhow::Result<()> {
        let jwt = self.auth.jwt_secret.len();
        if jwt > 0 && jwt < MIN_JWT_SECRET_BYTES {
            anyhow::bail!(
                "auth.jwt_secret is too weak: {jwt} bytes, at least {MIN_JWT_SECRET_BYTES} are needed \
                 (leave it empty and one is generated and kept in the data folder)"
            );
        }
        let admin = self.admin.token.chars().count();
        if admin > 0 && admin < MIN_ADMIN_TOKEN_CHARS {
            anyhow::bail!(
                "admin.token is too weak: {admin} characters, at least {MIN_ADMIN_TOKEN_CHARS} are needed \
                 (leave it empty and one is generated in <data_dir>/secrets/admin.token)"
            );
        }
        let metrics = self.metrics.token.chars().count();
        if metrics > 0 && metrics < MIN_ADMIN_TOKEN_CHARS {
            anyhow::bail!(
                "metrics.token is too weak: {metrics} characters, at least {MIN_ADMIN_TOKEN_CHARS} are needed"
            );
        }
        Ok(())
    }

    /// A configuration for tests: a free port on loopback, the given data folder, a cheap
    /// bcrypt cost and a fresh random token secret that the test can read.
    pub fn for_tests(data_dir: &Path) -> Self {
        let mut config = Config::default();
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.server.data_dir = data_dir.to_path_buf();
        config.auth.bcrypt_cost = 4;
        // Random per call, but known to the test, which may sign its own tokens with it.
        let mut secret = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut secret);
        config.auth.jwt_secret = hex::encode(secret);
        config.log.filter = "warn".to_owned();
        // Tests that exercise plugins turn them on with a folder of their own.
        config.plugins.enabled = false;
        config
    }
}

/// The shortest `auth.jwt_secret` accepted, in bytes (HS256 keys should be at least as
/// long as the hash).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The shortest `admin.token` accepted, in characters.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 24;

/// What stands for a secret in [`Config::masked`].
const MASK: &str = "***";

/// `scheme://user:password@host` with the password replaced by [`MASK`].
fn mask_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:{MASK}{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

/// The `CONFAB_*` layer, read the same way wherever the variables come from. A value it
/// cannot use is reported with the variable's name and the key it sets
/// (`CONFAB_CHAT__WINDOW (chat.window)`).
enum Environment {
    /// The process's variables, through figment's own [`Env`] provider.
    Process(Env),
    /// Variables given by a test.
    Given(Vec<(String, String)>),
}

impl figment::Provider for Environment {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable").interpolater(|_, keys| {
            let name: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("{ENV_PREFIX}{} ({})", name.join("__"), keys.join("."))
        })
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        match self {
            Environment::Process(env) => env.data(),
            Environment::Given(vars) => {
                let mut dict = figment::value::Dict::new();
                for (name, value) in vars {
                    let Some(key) = env_key(name) else { continue };
                    let value = value.parse().unwrap_or_else(|never| match never {});
                    insert_at(&mut dict, &key, value);
                }
                Ok(figment::Profile::Default.collect(dict))
            }
        }
    }
}

/// Puts `value` at the dotted `key` inside `dict`, making the tables on the way, as
/// figment's [`Env`] nests its variables.
fn insert_at(dict: &mut figment::value::Dict, key: &str, value: figment::value::Value) {
    use figment::value::{Dict, Value};
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, rest)) => {
            let table = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(table, Value::Dict(..)) {
                *table = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = table {
                insert_at(inner, rest, value);
            }
        }
    }
}

/// The configuration key an environment variable sets, as [`Config::load`]'s [`Env`]
/// provider reads it: `CONFAB_AUTH__JWT_SECRET` sets `auth.jwt_secret`. `None` for a
/// variable that is not the server's (no prefix, `CONFAB_CONFIG`, `CONFAB_TEST_*`, or an
/// empty part).
fn env_key(name: &str) -> Option<String> {
    let head = name.get(..ENV_PREFIX.len())?;
    if !head.eq_ignore_ascii_case(ENV_PREFIX) {
        return None;
    }
    let key = name[ENV_PREFIX.len()..]
        .trim()
        .to_ascii_lowercase()
        .replace("__", ".");
    let ours = !COMMAND_VARIABLES.contains(&key.as_str()) && !key.starts_with(TEST_ENV_PREFIX);
    (ours && !key.split('.').any(str::is_empty)).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_validate() {
        let config = Config::load_from(None, env(&[])).expect("defaults load");
        assert_eq!(config, Config::default());
        assert_eq!(config.server.listen.port(), 8080);
    }

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.toml");
        let config = Config::load_from(Some(&path), env(&[])).expect("example parses");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn masked_configurations_show_no_secret() {
        let mut config = Config::default();
        config.auth.jwt_secret = "a-very-long-jwt-secret-of-forty-characters".to_owned();
        config.security.data_key = "c2VjcmV0LWRhdGEta2V5".to_owned();
        config.security.retired_data_keys = vec!["3:b2xkLWtleQ==".to_owned()];
        config.email.smtp.password = "smtp-pass".to_owned();
        config.admin.token = "admin-token-admin-token-admin".to_owned();
        config.database.url = "mysql://root:db-pass@127.0.0.1:3306/confab".to_owned();
        config.cluster.redis_url = "redis://:redis-pass@127.0.0.1:6379/0".to_owned();
        config.history.url = "mongodb://127.0.0.1:27017".to_owned();
        let shown = toml::to_string(&config.masked()).expect("serialises");
        for secret in [
            "a-very-long-jwt-secret",
            "c2VjcmV0",
            "b2xkLWtleQ",
            "smtp-pass",
            "admin-token",
            "db-pass",
            "redis-pass",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
        }
        assert!(
            shown.contains("mysql://root:***@127.0.0.1:3306/confab"),
            "{shown}"
        );
        assert!(shown.contains("redis://:***@127.0.0.1:6379/0"), "{shown}");
        assert!(shown.contains("mongodb://127.0.0.1:27017"), "{shown}");
        assert!(shown.contains("\"3:***\""), "{shown}");
        // Empty secrets stay empty: they mean "generated into the data folder".
        let defaults = Config::default().masked();
        assert!(defaults.auth.jwt_secret.is_empty() && defaults.admin.token.is_empty());
        // What is shown is itself a configuration that loads.
        let reparsed: Config = toml::from_str(&shown).expect("the shown text parses");
        assert_eq!(reparsed.server, config.server);
    }

    #[test]
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"127.0.0.1:9000\"\nmax_body_bytes = 4096\n",
        )
        .expect("write");
        let config = Config::load_from(
            Some(&path),
            env(&[
                ("CONFAB_SERVER__LISTEN", "127.0.0.1:9100"),
                ("CONFAB_REGISTRATION__MODE", "invite-only"),
                ("CONFAB_TEST_MYSQL_URL", "mysql://ignored"),
                ("HOME", "/root"),
            ]),
        )
        .expect("loads");
        assert_eq!(config.server.listen.port(), 9100);
        assert_eq!(config.server.max_body_bytes, 4096);
        assert_eq!(config.registration.mode, RegistrationMode::InviteOnly);
    }

    #[test]
    fn an_environment_value_is_one_value_whatever_it_contains() {
        let secret = format!(
            "{}\n[admin]\ntoken = \"an-admin-token-set-by-injection\"\n[plugins]\nenabled = false",
            "s".repeat(32)
        );
        let config = Config::load_from(
            None,
            env(&[
                ("CONFAB_AUTH__JWT_SECRET", &secret),
                ("CONFAB_LOG__FILTER", "warn\nchat.window = 1"),
            ]),
        )
        .expect("loads");
        assert_eq!(config.auth.jwt_secret, secret, "the whole value, as given");
        assert_eq!(config.log.filter, "warn\nchat.window = 1");
        assert_eq!(config.admin, AdminConfig::default());
        assert_eq!(config.plugins, PluginsConfig::default());
        assert_eq!(config.chat, ChatConfig::default());
        // Numbers, booleans and lists are still read as such.
        let config = Config::load_from(
            None,
            env(&[
                ("CONFAB_PLUGINS__KV_MAX_KEYS", "64"),
                ("CONFAB_PLUGINS__ENABLED", "false"),
                ("CONFAB_SECURITY__RETIRED_DATA_KEYS", "[\"3:a2V5\"]"),
            ]),
        )
        .expect("loads");
        assert_eq!(config.plugins.kv_max_keys, 64);
        assert!(!config.plugins.enabled);
        assert_eq!(config.security.retired_data_keys, ["3:a2V5"]);
        // A value that starts like a number is still one value: the key it names refuses
        // it, and the error names the variable.
        let err = Config::load_from(
            None,
            env(&[(
                "CONFAB_CHAT__WINDOW",
                "8\n[admin]\ntoken = \"an-admin-token-set-by-injection\"",
            )]),
        )
        .expect_err("not a number");
        assert!(
            err.to_string()
                .contains("CONFAB_CHAT__WINDOW (chat.window)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[server]\nlisten_addr = \"127.0.0.1:9000\"\n").expect("write");
        let err = Config::load_from(Some(&path), env(&[])).expect_err("unknown key");
        assert!(err.to_string().contains("listen_addr"), "{err}");

        let err = Config::load_from(None, env(&[("CONFAB_AUTH__JWT_SECRT", "x")]))
            .expect_err("unknown env key");
        assert!(err.to_string().contains("jwt_secrt"), "{err}");

        let err = Config::load_from(None, env(&[("CONFAB_SERVER__LISTEN", "nowhere")]))
            .expect_err("bad address");
        assert!(err.to_string().contains("listen"), "{err}");
    }

    #[test]
    fn throttles_and_trusted_proxies_load_and_are_checked() {
        let config = Config::load_from(
            None,
            env(&[
                ("CONFAB_THROTTLE__LOGIN__NAME__BURST", "9"),
                (
                    "CONFAB_SERVER__TRUSTED_PROXIES",
                    "[\"10.0.0.0/8\", \"::1/128\"]",
                ),
            ]),
        )
        .expect("loads");
        assert_eq!(config.throttle.login.name.burst, 9);
        let defaults = ThrottleConfig::default();
        assert_eq!(
            config.throttle.login.name.per_minute,
            defaults.login.name.per_minute
        );
        assert_eq!(config.throttle.login.address, defaults.login.address);
        assert_eq!(config.server.trusted_proxies.len(), 2);

        let err = Config::load_from(
            None,
            env(&[("CONFAB_THROTTLE__ADMIN__ADDRESS__PER_MINUTE", "0")]),
        )
        .expect_err("a zero rate");
        assert!(err.to_string().contains("throttle.admin.address"), "{err}");
        let err = Config::load_from(
            None,
            env(&[("CONFAB_SERVER__TRUSTED_PROXIES", "[\"not-a-network\"]")]),
        )
        .expect_err("not a CIDR block");
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Config::load_from(Some(Path::new("/nonexistent/confab.toml")), env(&[]))
            .expect_err("missing");
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn upload_quotas_fit_the_largest_file_and_history_has_two_values() {
        for key in ["QUOTA_BYTES_PER_DAY", "QUOTA_BYTES_TOTAL"] {
            let var = format!("CONFAB_UPLOADS__{key}");
            let err = Config::load_from(None, env(&[(var.as_str(), "1024")]))
                .expect_err("below max_bytes");
            let named = key.to_ascii_lowercase();
            assert!(format!("{err:#}").contains(&named), "{named}: {err:#}");
            Config::load_from(None, env(&[(var.as_str(), "0")])).expect("0 is no limit");
        }
        let all = Config::load_from(None, env(&[("CONFAB_GROUPS__HISTORY_VISIBILITY", "all")]))
            .expect("all");
        assert_eq!(
            all.groups.history_visibility,
            crate::groups::HistoryVisibility::All
        );
        let err = Config::load_from(
            None,
            env(&[("CONFAB_GROUPS__HISTORY_VISIBILITY", "everyone")]),
        )
        .expect_err("not a visibility");
        assert!(format!("{err:#}").contains("history_visibility"), "{err:#}");
    }

    #[test]
    fn list_caps_out_of_range_are_named() {
        for (var, key) in [
            ("CONFAB_FRIENDS__MAX_PER_USER", "friends.max_per_user"),
            ("CONFAB_GROUPS__MAX_JOINED", "groups.max_joined"),
        ] {
            for value in ["0", "100001"] {
                let err = Config::load_from(None, env(&[(var, value)])).expect_err("out of range");
                assert!(format!("{err:#}").contains(key), "{key}: {err:#}");
            }
        }
        let fine = Config::load_from(None, env(&[("CONFAB_FRIENDS__MAX_PER_USER", "7")]))
            .expect("in range");
        assert_eq!(fine.friends.max_per_user, 7);
    }

    #[test]
    fn connection_limits_out_of_range_are_named() {
        for (key, value) in [
            ("header_timeout_secs", "0"),
            ("header_timeout_secs", "301"),
            ("keepalive_idle_secs", "0"),
            ("body_timeout_secs", "0"),
            ("max_connections", "0"),
            ("unsent_bytes", "67108865"),
            ("write_timeout_secs", "0"),
            ("write_timeout_secs", "3601"),
        ] {
            let var = format!("CONFAB_SERVER__{}", key.to_ascii_uppercase());
            let err =
                Config::load_from(None, env(&[(var.as_str(), value)])).expect_err("out of range");
            assert!(format!("{err:#}").contains(key), "{key}: {err:#}");
        }
    }
}
