//! `portcullis server`: run the registry.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use portcullis_engine::{SigningKey, SystemClock};
use portcullis_server::store::{PostgresStore, SqliteStore, Store};
use portcullis_server::{Config, Registry};

use crate::common::Exit;

/// Arguments of `server`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free one; the first line on
    /// stdout says which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the registry keeps its state: a SQLite file (created if
    /// missing), or a PostgreSQL URL (`postgres://user@host/db`, or a
    /// `host=… dbname=…` string) for several servers sharing one database.
    /// Read from PORTCULLIS_DATABASE when set, so a password stays out of
    /// the process list.
    #[arg(
        long,
        env = "PORTCULLIS_DATABASE",
        default_value = ".portcullis/registry.db",
        hide_env_values = true
    )]
    pub database: String,
    /// The registry's signing key: signs API approvals, deploy-time
    /// verification summaries and log checkpoints. Created with its .pub
    /// beside it when missing; policies trust the .pub under `trust.services`.
    #[arg(long, default_value = ".portcullis/registry.key")]
    pub key: PathBuf,
    /// A model the registry serves and its policy: NAME=POLICY_FILE (repeat).
    #[arg(long = "policy", value_name = "NAME=FILE")]
    pub policies: Vec<String>,
    /// The audit log's origin (and checkpoint key name).
    #[arg(long, default_value = "localhost/portcullis-registry")]
    pub origin: String,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs
    /// --tls-key. Without it the server speaks plain HTTP, for 127.0.0.1 or
    /// behind a TLS-terminating proxy.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key in PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub oci: crate::cmd::admission::OciRegistryArgs,
    /// How often the registry looks for re-checks that are due (the
    /// policies' `stages.X.recheck.every`).
    #[arg(long, default_value = "30s")]
    pub recheck_tick: String,
}

fn load_or_create_key(path: &Path) -> Result<SigningKey> {
    if path.exists() {
        return SigningKey::from_pem_file(path).with_context(|| format!("--key {}", path.display()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = SigningKey::generate();
    crate::cmd::keygen::write_private(path, &key.to_pem()?)?;
    let public = path.with_extension("pub");
    std::fs::write(&public, key.public().to_pem())
        .with_context(|| format!("cannot write {}", public.display()))?;
    eprintln!(
        "created the registry key {} and {}; trust it in each policy under `trust.services`",
        path.display(),
        public.display()
    );
    Ok(key)
}

/// A PostgreSQL connection string, as opposed to a file path.
fn is_postgres(database: &str) -> bool {
    database.starts_with("postgres://")
        || database.starts_with("postgresql://")
        || (database.contains('=') && database.contains("dbname"))
}

/// The URL with any password replaced, for messages.
fn redacted(database: &str) -> String {
    if let Some((scheme, rest)) = database.split_once("://") {
        if let Some((auth, host)) = rest.split_once('@') {
            let user = auth.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
        return database.to_string();
    }
    database
        .split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn open_store(database: &str) -> Result<Arc<dyn Store>> {
    if is_postgres(database) {
        let store = PostgresStore::connect(database).with_context(|| {
            format!(
                "--database {}: cannot use this PostgreSQL database; check that the server is up, \
                 the user may connect and create tables, and the URL is right",
                redacted(database)
            )
        })?;
        eprintln!("registry state in PostgreSQL at {}", redacted(database));
        return Ok(Arc::new(store));
    }
    let path = PathBuf::from(database);
    let store = SqliteStore::open(&path).with_context(|| format!("--database {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Enqueues due re-checks every `tick`, for as long as the server runs.
async fn schedule_rechecks(registry: Arc<Registry>, tick: std::time::Duration) {
    let mut timer = tokio::time::interval(tick);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        let r = registry.clone();
        match tokio::task::spawn_blocking(move || r.schedule_rechecks()).await {
            Ok(Ok(ids)) if !ids.is_empty() => eprintln!("re-checks queued: jobs {ids:?}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("re-check scheduler: {e}"),
            Err(e) => eprintln!("re-check scheduler: {e}"),
        }
    }
}

/// Runs `server`.
pub fn run(args: Args) -> Result<Exit> {
    let mut policies = Vec::new();
    for p in &args.policies {
        let Some((name, file)) = p.split_once('=') else {
            bail!("--policy {p}: expected NAME=FILE, e.g. --policy fraud-detector=portcullis.yaml");
        };
        policies.push((name.trim().to_string(), PathBuf::from(file.trim())));
    }
    if policies.is_empty() {
        eprintln!("warning: no --policy NAME=FILE given; the registry serves no models");
    }
    let key = load_or_create_key(&args.key)?;
    let store = open_store(&args.database)?;
    let config = Config {
        policies,
        key,
        origin: args.origin,
        bootstrap_token: std::env::var("PORTCULLIS_BOOTSTRAP_TOKEN").ok(),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(portcullis_server::tls::server_config(cert, key)?),
        _ => None,
    };
    let tick = portcullis_gates::params::parse_duration(&args.recheck_tick)
        .map_err(|e| anyhow::anyhow!("--recheck-tick: {e}"))?
        .max(std::time::Duration::from_secs(1));
    let registry = Registry::open(store, config, Arc::new(SystemClock)).map_err(anyhow::Error::msg)?;
    args.oci.apply();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!(
            "listening on {}://{addr}",
            if tls.is_some() { "https" } else { "http" }
        );
        std::io::stdout().flush()?;
        eprintln!(
            "web UI: {}://{addr}/ui (sign in with a token from `portcullis token create`)",
            if tls.is_some() { "https" } else { "http" }
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let registry = Arc::new(registry);
        tokio::spawn(schedule_rechecks(registry.clone(), tick));
        match tls {
            Some(tls) => portcullis_server::serve_tls(listener, tls, registry, shutdown).await,
            None => portcullis_server::serve(listener, registry, shutdown).await,
        }
        .context("server failed")
    })?;
    Ok(Exit::Ok)
}
