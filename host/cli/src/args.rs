//! The command line as clap parses it: raw flags only. `commands/` turns
//! them into library calls.

use clap::{Args, Parser, Subcommand};
use connhost::ConnectTo;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "connhost",
    version,
    about = "Run sandboxed connector components and manage their connections"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct Global {
    /// Store directory [default: the user's data dir]/connhost
    #[arg(long, global = true, env = "CONNHOST_HOME")]
    pub home: Option<PathBuf>,
    /// Keep the store in PostgreSQL (postgres://user@host/db[?schema=s&sslmode=require]); a password belongs in the URL only via the environment variable
    #[arg(
        long,
        global = true,
        env = "CONNHOST_DATABASE_URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// Print machine-readable JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Connect to ADDR:PORT when a plugin asks for HOST:PORT (TLS still checks HOST), like curl
    #[arg(long = "connect-to", value_name = "HOST:PORT:ADDR:PORT", global = true)]
    pub connect_to: Vec<ConnectTo>,
    /// Extra trust root(s) in PEM, in addition to the public web roots
    #[arg(long = "ca-file", value_name = "PEM", global = true)]
    pub ca_file: Vec<PathBuf>,
    /// Default deadline of one outbound HTTP request
    #[arg(long, value_name = "MS", global = true, default_value_t = 30_000)]
    pub http_timeout_ms: u64,
    /// Wall-clock limit of one plugin call
    #[arg(long, value_name = "MS", global = true, default_value_t = 60_000)]
    pub call_timeout_ms: u64,
    /// Plugin calls one team may run at once (more wait, then `busy`)
    #[arg(long, value_name = "N", global = true, default_value_t = 4)]
    pub calls_per_team: u32,
    /// Cores' worth of CPU one team's guest code may use
    #[arg(long, value_name = "CORES", global = true, default_value_t = 0.5)]
    pub guest_cpu_per_team: f64,
    /// Plugin calls of all teams at once (the instance pool)
    #[arg(long, value_name = "N", global = true, default_value_t = 64)]
    pub max_calls: u32,
    /// Team the caller acts for (a connection of another team is not found)
    #[arg(long, global = true, env = "CONNHOST_TEAM", default_value = "default")]
    pub team: String,
    /// Who is acting, for the audit log [default: $USER]
    #[arg(long, global = true, env = "CONNHOST_ACTOR")]
    pub actor: Option<String>,
    /// Renew access that expires within this many seconds before using it
    #[arg(long, value_name = "SECS", global = true, default_value_t = 60)]
    pub refresh_margin_secs: u64,
    /// Log to stderr (-v info, -vv debug)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Subcommand)]
pub enum Command {
    /// Add, list and inspect connector components
    #[command(subcommand)]
    Connector(ConnectorCmd),
    /// Create, verify, refresh, edit and delete connections
    #[command(subcommand)]
    Connection(ConnectionCmd),
    /// What uses the team's connections (flows, modules), and their pre-run check
    #[command(subcommand)]
    Usage(UsageCmd),
    /// Dynamic connections: pick one of several connections by run context
    #[command(subcommand)]
    Dynamic(DynamicCmd),
    /// Least-privilege scope planning
    #[command(subcommand)]
    Scopes(ScopesCmd),
    /// The team's audit log; `audit verify` checks the whole chain
    Audit {
        #[command(subcommand)]
        action: Option<AuditCmd>,
        #[arg(long)]
        connection: Option<String>,
        /// Unix seconds
        #[arg(long)]
        since: Option<u64>,
    },
    /// The team's provider definitions for data-driven connectors (the `generic` connector)
    #[command(subcommand)]
    Provider(ProviderCmd),
    /// The master key (operator)
    #[command(subcommand)]
    Key(KeyCmd),
    /// Serve the REST API (see README: "connhost as a service")
    Serve {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// The URL providers redirect browsers back to (default: http://LISTEN)
        #[arg(long)]
        public_url: Option<String>,
        /// Also run the local fake Celonis (as `demo` does) and reach
        /// https://acme.eu-1.celonis.cloud there: try the API offline
        #[arg(long)]
        demo_provider: bool,
        /// Renew expiring access in the background this often (0: only on use)
        #[arg(long, default_value_t = 30)]
        renew_every_secs: u64,
        #[command(flatten)]
        limits: ServeLimits,
    },
    /// API keys for `connhost serve` (operator)
    #[command(subcommand)]
    Apikey(ApikeyCmd),
    /// The store as a whole (operator)
    #[command(subcommand)]
    Store(StoreCmd),
    /// Walk create → verify → refresh → list → delete against a local fake Celonis
    Demo,
}

/// What one caller may take of `connhost serve` (README: "Limits").
#[derive(clap::Args, Clone, Debug)]
pub struct ServeLimits {
    /// Requests in flight per team (more: 429 busy)
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub requests_per_team: usize,
    /// Requests in flight in all
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_requests: usize,
    /// Unauthenticated requests in flight per client address
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub anonymous_per_client: usize,
    /// Open connections per client address
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub connections_per_client: usize,
    /// Request headers must arrive within this (also the keep-alive idle time)
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub header_timeout_secs: u64,
    /// A request body must arrive within this
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub body_timeout_secs: u64,
    /// Largest body of a component upload or a proxied request
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_upload_bytes: usize,
    /// Bytes of request bodies held at once, in all
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    pub bodies_in_flight_bytes: usize,
}

#[derive(Subcommand)]
pub enum ApikeyCmd {
    /// Make a key; it is printed once and never stored (only its hash)
    Create {
        /// The team the key acts for
        #[arg(long, conflicts_with = "operator")]
        team: Option<String>,
        /// An operator key (connectors, global settings) instead
        #[arg(long)]
        operator: bool,
        #[arg(long, default_value = "")]
        name: String,
        /// A team key's role: admin (everything), or member (never deletes
        /// a connection that usages still need)
        #[arg(long, default_value = "admin", requires = "team")]
        role: String,
    },
    /// List keys (never their secrets)
    List {
        #[arg(long)]
        team: Option<String>,
    },
    /// Revoke a key by id (`key_…`)
    Revoke { id: String },
}

#[derive(Subcommand)]
pub enum StoreCmd {
    /// Check every connection record and the audit chain; list what was
    /// quarantined. Exit 1 if anything is wrong.
    Check,
    /// Copy the whole store to another backend and verify the copy
    /// (documents byte for byte, every connection's tag, the audit
    /// chain). Run it again to resume one that was interrupted. Stop the
    /// writers of the source first. The key is CONNHOST_MASTER_KEY, or
    /// the source directory's master.key (which is not copied).
    Migrate {
        /// file://DIR, a directory, or postgres://… (a password only via
        /// PGPASSWORD)
        #[arg(long)]
        from: String,
        /// file://DIR, a directory, or postgres://…
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Re-wrap everything under a new master key; run it again to finish
    /// one that was interrupted. With `home/master.key` a new key is made
    /// and replaces it; with CONNHOST_MASTER_KEY, the new key comes from
    /// CONNHOST_NEW_MASTER_KEY. Afterwards the old key is refused.
    Rotate,
}

#[derive(Subcommand)]
pub enum UsageCmd {
    /// Register what a consumer needs from a connection (or dynamic:NAME)
    Add {
        #[arg(long)]
        consumer: String,
        #[arg(long)]
        connection: String,
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// active | scheduled | inactive
        #[arg(long, default_value = "active")]
        state: String,
    },
    List,
    Remove {
        #[arg(long)]
        consumer: String,
        #[arg(long)]
        connection: Option<String>,
    },
    /// Pre-run check: resolve the connection and require the scopes
    Check {
        #[arg(long)]
        consumer: String,
        /// KEY=VALUE run context for dynamic connections (repeatable)
        #[arg(long)]
        context: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum DynamicCmd {
    /// Create or replace a dynamic connection
    Put {
        name: String,
        #[arg(long)]
        connector: String,
        /// Context key it selects on, e.g. department
        #[arg(long)]
        key: String,
        /// VALUE=CONNECTION_ID (repeatable)
        #[arg(long = "choice")]
        choices: Vec<String>,
        #[arg(long)]
        default: Option<String>,
    },
    List,
    Remove {
        name: String,
    },
    /// Which connection a context selects
    Resolve {
        name: String,
        #[arg(long)]
        context: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum ScopesCmd {
    /// The union of the scopes usages need, checked against the catalogue
    Plan {
        #[arg(long)]
        connector: String,
        /// JSON file(s): a usage {"scopes": [...]} or a list of them
        #[arg(long = "usage")]
        usages: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ProviderCmd {
    /// Check a provider definition (JSON) and store it for the team; connect with --field provider=ID
    Add {
        file: PathBuf,
        /// Connector that interprets the definition
        #[arg(long, default_value = "generic")]
        connector: String,
    },
    /// Remove one of the team's provider definitions
    Remove { id: String },
    /// List the team's provider definitions and the shipped catalogue
    List {
        #[arg(long, default_value = "generic")]
        connector: String,
        /// Only providers whose id or name contains this (any case)
        #[arg(long)]
        search: Option<String>,
        /// Only this category (crm, support, dev-tools, …)
        #[arg(long)]
        category: Option<String>,
    },
    /// One provider: its fields, auth mode, verification, scopes and hosts
    Show { id: String },
}

#[derive(Subcommand)]
pub enum AuthorizeCmd {
    /// Start the consent flow: prints the authorize URL and a pending id
    Start {
        #[arg(long)]
        connector: String,
        /// Exact redirect URI registered with the provider
        #[arg(long)]
        redirect_uri: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Complete it with the URL the provider redirected the browser to
    Finish {
        pending: String,
        #[arg(long)]
        redirect_url: String,
    },
}

#[derive(Subcommand)]
pub enum ConnectorCmd {
    /// Add a connector component (a .wasm file, `builtin:celonis` or `builtin:generic`)
    Add { path: String },
    /// List connectors
    List,
    /// Show a connector's manifest: fields, auth kinds, scopes, hosts
    Show { id: String },
}

#[derive(Args)]
pub struct DataArgs {
    /// Connection name [default: connector name + counter]
    #[arg(long)]
    pub name: Option<String>,
    /// A non-secret field, NAME=VALUE (repeatable)
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
    /// A secret field, NAME=env:VAR | NAME=file:PATH | NAME=stdin (repeatable).
    /// Plain values are refused: they would land in shell history and `ps`.
    #[arg(long = "secret", value_name = "NAME=SOURCE")]
    pub secrets: Vec<String>,
}

#[derive(Subcommand)]
pub enum ConnectionCmd {
    /// Create a connection; prints its id
    Create {
        #[arg(long)]
        connector: String,
        /// For consent-flow auth kinds: wait for the provider's redirect on
        /// this loopback URI (e.g. http://127.0.0.1:8765/callback)
        #[arg(long)]
        redirect_uri: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Browser consent flow in two steps, for servers and scripts
    #[command(subcommand)]
    Authorize(AuthorizeCmd),
    /// Run consent again for a connection (same id; new tokens and scopes
    /// replace the old, which are revoked)
    Reauthorize {
        id: String,
        #[arg(long)]
        redirect_uri: String,
        /// Print the URL and pending id instead of waiting (finish with `authorize finish`)
        #[arg(long)]
        no_wait: bool,
    },
    /// List the team's connections
    List,
    /// Show one connection (secrets as set/unset, never values)
    Show { id: String },
    /// Call the service's API through a connection: the connector adds the
    /// credentials, access is renewed when needed. Prints the status and
    /// body (`--json`: status, headers, base64 body)
    Request {
        /// `conn_…` or `dynamic:NAME`
        id: String,
        /// GET, HEAD, POST, PUT, PATCH or DELETE
        method: String,
        /// A path (`/api/cloud`, resolved against the connection's origin) or an https URL
        url: String,
        /// `name:value` (repeatable); credentials are the connection's to add
        #[arg(long = "header")]
        headers: Vec<String>,
        /// The body: text, or `@FILE`
        #[arg(long)]
        data: Option<String>,
        /// Check this consumer's scopes on the connection first
        #[arg(long)]
        consumer: Option<String>,
        /// Run context for a dynamic connection (`key=value`, repeatable)
        #[arg(long)]
        context: Vec<String>,
    },
    /// Rename a connection
    Rename { id: String, name: String },
    /// Replace all data of a connection; secrets must be given again.
    /// The stored connection changes only if the new data verifies.
    Edit {
        id: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Call the service to check the connection works
    Verify { id: String },
    /// Renew expiring access now
    Refresh { id: String },
    /// Check that the connection has these scopes
    Check {
        id: String,
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// Replace one secret (e.g. a regenerated client secret); the
    /// connection changes only if it verifies with it
    SetSecret {
        id: String,
        /// NAME=env:VAR | NAME=file:PATH | NAME=stdin
        #[arg(long)]
        secret: String,
    },
    /// Revoke the connection's tokens, then delete it and its secrets
    Delete {
        id: String,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// Delete even though active or scheduled usages need it
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check the whole log's chain (operator): exit 1 at the first broken link
    Verify,
}
