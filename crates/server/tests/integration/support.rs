//! A registry on 127.0.0.1:0 over a SQLite file in a temp dir (or a fresh
//! PostgreSQL database), keys and a policy written there, and a blocking
//! HTTP client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_engine::store::DirStore;
use portcullis_engine::{SigningKey, Silent, StageRequest, SystemClock};
use portcullis_evidence::Sha256Digest;
pub use portcullis_server::store::testdb::TestDb;
use portcullis_server::store::{PostgresStore, SqliteStore, Store};
use portcullis_server::{Config, Registry};
use serde_json::Value;

pub const POLICY: &str = r#"
version: 1
model: { path: model }
trust:
  runners:
    - { name: ci, key: ci.pub }
  approvers:
    - { name: alice, key: alice.pub, roles: [model-risk] }
    - { name: bob, key: bob.pub, roles: [model-risk] }
    - { name: carol, key: carol.pub, roles: [ml-lead] }
  services:
    - { name: registry, key: registry.pub }
stages:
  dev:
    gates: [smoke]
  prod:
    extends: dev
    approvals: { required: 2, roles: [model-risk], forbid_author: true }
gates:
  smoke: { kind: command, argv: ["true"] }
"#;

/// Where a test registry keeps its state.
#[derive(Debug, Clone)]
pub enum Backend {
    /// `registry.db` in the server's temp dir.
    Sqlite,
    /// A connection string to a database of its own ([`TestDb`]).
    Postgres(String),
}

pub const BOOT: &str = "boot-secret-for-tests";

pub struct Server {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub http: reqwest::blocking::Client,
    pub keys: Vec<(String, SigningKey)>,
    pub registry_key: SigningKey,
    pub backend: Backend,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn dup(k: &SigningKey) -> SigningKey {
    SigningKey::from_pem(&k.to_pem().unwrap(), "key").unwrap()
}

pub fn write_keys(dir: &Path, names: &[&str]) -> Vec<(String, SigningKey)> {
    names
        .iter()
        .map(|n| {
            let k = SigningKey::generate();
            std::fs::write(dir.join(format!("{n}.pub")), k.public().to_pem()).unwrap();
            (n.to_string(), k)
        })
        .collect()
}

/// Starts a registry serving model `m` with [`POLICY`].
pub fn start() -> Server {
    start_with(POLICY)
}

pub fn start_with(policy: &str) -> Server {
    start_on(policy, Backend::Sqlite)
}

pub fn start_on(policy: &str, backend: Backend) -> Server {
    start_serving(policy, backend, None)
}

/// The committed test CA and certificates (`tests/fixtures/tls/generate.sh`).
pub fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls")
}

/// As [`start`], over HTTPS with the test certificate; the client trusts
/// the test CA.
pub fn start_tls() -> Server {
    let tls =
        portcullis_server::tls::server_config(&tls_dir().join("server.pem"), &tls_dir().join("server.key"))
            .unwrap();
    start_serving(POLICY, Backend::Sqlite, Some(tls))
}

fn start_serving(policy: &str, backend: Backend, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_keys(dir.path(), &["ci", "alice", "bob", "carol", "mallory"]);
    let registry_key = SigningKey::generate();
    std::fs::write(dir.path().join("registry.pub"), registry_key.public().to_pem()).unwrap();
    std::fs::create_dir_all(dir.path().join("model")).unwrap();
    std::fs::write(dir.path().join("model/weights.bin"), b"weights v1").unwrap();
    std::fs::write(dir.path().join("portcullis.yaml"), policy).unwrap();
    boot_with(dir, keys, registry_key, backend, tls)
}

/// (Re)starts a registry over the database in `dir`.
pub fn boot(
    dir: tempfile::TempDir,
    keys: Vec<(String, SigningKey)>,
    registry_key: SigningKey,
    backend: Backend,
) -> Server {
    boot_with(dir, keys, registry_key, backend, None)
}

fn boot_with(
    dir: tempfile::TempDir,
    keys: Vec<(String, SigningKey)>,
    registry_key: SigningKey,
    backend: Backend,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Server {
    let store: Arc<dyn Store> = match &backend {
        Backend::Sqlite => Arc::new(SqliteStore::open(&dir.path().join("registry.db")).unwrap()),
        Backend::Postgres(url) => Arc::new(PostgresStore::connect(url).unwrap()),
    };
    let config = Config {
        policies: vec![("m".into(), dir.path().join("portcullis.yaml"))],
        key: dup(&registry_key),
        origin: "test.local/registry".into(),
        bootstrap_token: Some(BOOT.into()),
    };
    let registry = Arc::new(Registry::open(store, config, Arc::new(SystemClock)).unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut http = reqwest::blocking::Client::builder();
    if tls.is_some() {
        let ca = std::fs::read(tls_dir().join("ca.pem")).unwrap();
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
    }
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let shutdown = async {
                let _ = rx.await;
            };
            match tls {
                Some(tls) => portcullis_server::serve_tls(listener, tls, registry, shutdown).await,
                None => portcullis_server::serve(listener, registry, shutdown).await,
            }
            .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    Server {
        dir,
        url: format!("{scheme}://{addr}"),
        http: http.build().unwrap(),
        keys,
        registry_key,
        backend,
        stop: Some(tx),
        thread: Some(thread),
    }
}

impl Server {
    pub fn key(&self, name: &str) -> &SigningKey {
        &self.keys.iter().find(|(n, _)| n == name).unwrap().1
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Stops the server and gives back what a restart needs.
    pub fn stop(mut self) -> (tempfile::TempDir, Vec<(String, SigningKey)>, SigningKey, Backend) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (
            dir,
            std::mem::take(&mut self.keys),
            dup(&self.registry_key),
            self.backend.clone(),
        )
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut req = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "DELETE" => self.http.delete(url),
            other => panic!("method {other}"),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub fn token(&self, identity: &str, role: &str) -> String {
        let (s, v) = self.call(
            "POST",
            "/v1/tokens",
            Some(BOOT),
            Some(&format!(r#"{{"identity":"{identity}","role":"{role}"}}"#)),
        );
        assert_eq!(s, 201, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// Runs the `dev` stage's gates with the runner key into a directory
    /// store and returns the model digest and the bundle's text.
    pub fn run_dev(&self, author: &str) -> (Sha256Digest, String) {
        self.run_dev_on(None, author)
    }

    /// As [`Server::run_dev`], on another model directory.
    pub fn run_dev_on(&self, model: Option<&Path>, author: &str) -> (Sha256Digest, String) {
        let policy = portcullis_engine::load_policy(&self.path().join("portcullis.yaml")).unwrap();
        let store = DirStore::new(self.path().join("evidence"));
        let eval = portcullis_engine::evaluate_stage(
            &StageRequest {
                policy: &policy,
                stage: "dev",
                only: &[],
                model,
                author: Some(author),
                seed: 0,
                deadline: None,
            },
            &store,
            self.key("ci"),
            &SystemClock,
            &Silent,
        )
        .unwrap();
        let digest = eval.manifest.digest;
        let text = std::fs::read_to_string(store.bundle_path(&digest)).unwrap();
        (digest, text)
    }

    pub fn push(&self, token: &str, digest: &Sha256Digest, body: &str) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/v1/models/m/versions/{}/evidence", digest.to_hex()),
            Some(token),
            Some(body),
        )
    }

    pub fn promote(&self, token: &str, stage: &str, digest: &Sha256Digest) -> (u16, Value) {
        self.call(
            "POST",
            "/v1/models/m/requests",
            Some(token),
            Some(&format!(
                r#"{{"stage":"{stage}","digest":"{}"}}"#,
                digest.to_hex()
            )),
        )
    }
}
