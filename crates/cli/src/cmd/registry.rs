//! The registry's client commands: push, promote, request, history, token,
//! log verify, and `verify --server`. The server URL comes from `--server`
//! or `PORTCULLIS_SERVER`, the token from `PORTCULLIS_TOKEN` (never a flag:
//! flags end up in shell history and process lists).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use base64::Engine as _;
use portcullis_engine::store::{Bundle, StoreError};
use portcullis_engine::{EvidenceStore, SystemClock};
use portcullis_evidence::{Envelope, Sha256Digest};
use portcullis_tlog::{Checkpoint, Tree, VerifierKey};
use serde_json::{json, Value};

use crate::common::{self, Exit, ModelArgs};

/// Where the registry is.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The registry's URL; also PORTCULLIS_SERVER. The token is read from
    /// PORTCULLIS_TOKEN.
    #[arg(long, env = "PORTCULLIS_SERVER", value_name = "URL")]
    pub server: String,
    /// Trust this PEM CA certificate (or bundle) for an https:// registry,
    /// in addition to the system's roots; also PORTCULLIS_CA_CERT.
    #[arg(long, env = "PORTCULLIS_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
}

/// A registry client.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client for `args`, with the token from the environment.
    pub fn new(args: &ServerArgs) -> Result<Client> {
        let base = args.server.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server {base}: expected an http:// or https:// URL");
        }
        let mut builder = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60));
        if let Some(path) = &args.ca_cert {
            let pem =
                std::fs::read(path).with_context(|| format!("--ca-cert {}: cannot read", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!(
                    "--ca-cert {}: expected PEM `BEGIN CERTIFICATE` blocks",
                    path.display()
                )
            })?;
            if certs.is_empty() {
                bail!("--ca-cert {}: no `BEGIN CERTIFICATE` block found", path.display());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().context("cannot build the HTTP client")?;
        Ok(Client {
            base,
            token: std::env::var("PORTCULLIS_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
            http,
        })
    }

    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::blocking::Response> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t.trim()),
            None => req,
        };
        let resp = req
            .send()
            .with_context(|| format!("{what}: cannot reach the registry at {}", self.base))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or(text);
        let hint = if status == reqwest::StatusCode::UNAUTHORIZED && self.token.is_none() {
            " (set PORTCULLIS_TOKEN to a token from `portcullis token create`)"
        } else {
            ""
        };
        Err(anyhow!(ServerError {
            status: status.as_u16(),
            message: format!("{what}: the registry answered {status}: {message}{hint}"),
        }))
    }

    /// GET a JSON document.
    pub fn get(&self, path: &str, what: &str) -> Result<Value> {
        let r = self.send(self.http.get(format!("{}{path}", self.base)), what)?;
        r.json()
            .with_context(|| format!("{what}: the registry's answer is not JSON"))
    }

    /// GET text.
    pub fn get_text(&self, path: &str, what: &str) -> Result<String> {
        let r = self.send(self.http.get(format!("{}{path}", self.base)), what)?;
        r.text()
            .with_context(|| format!("{what}: cannot read the registry's answer"))
    }

    /// POST JSON, answer JSON.
    pub fn post(&self, path: &str, body: &Value, what: &str) -> Result<Value> {
        let r = self.send(self.http.post(format!("{}{path}", self.base)).json(body), what)?;
        r.json()
            .with_context(|| format!("{what}: the registry's answer is not JSON"))
    }
}

impl Client {
    /// POST JSON; `None` on 204 No Content, else the JSON answer.
    pub fn post_opt(&self, path: &str, body: &Value, what: &str) -> Result<Option<Value>> {
        let r = self.send(self.http.post(format!("{}{path}", self.base)).json(body), what)?;
        if r.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        r.json()
            .map(Some)
            .with_context(|| format!("{what}: the registry's answer is not JSON"))
    }

    /// The registry's URL.
    pub fn base(&self) -> &str {
        &self.base
    }
}

/// A non-2xx answer; `status` picks the exit code.
#[derive(Debug)]
pub struct ServerError {
    /// HTTP status.
    pub status: u16,
    /// What to tell the user.
    pub message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServerError {}

pub(crate) fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---- push --------------------------------------------------------------

/// Arguments of `push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The registry server's URL; also PORTCULLIS_SERVER. The token is read
    /// from PORTCULLIS_TOKEN. Not used with an oci:// target.
    #[arg(long, env = "PORTCULLIS_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Trust this PEM CA certificate (or bundle) for an https:// registry
    /// or OCI registry, besides the system's roots; also PORTCULLIS_CA_CERT.
    #[arg(long, env = "PORTCULLIS_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// The model's name in the registry server.
    #[arg(long)]
    pub name: Option<String>,
    /// The evidence directory.
    #[arg(long, default_value = portcullis_evidence::store::DEFAULT_DIR)]
    pub evidence: PathBuf,
    /// With an oci:// target: the model's files, checked to be the
    /// artifact's (needed when the artifact is not one file a layer).
    #[arg(long = "model", value_name = "PATH")]
    pub files: Option<PathBuf>,
    /// With an oci:// target: also attach this DSSE envelope, such as the
    /// signed summary `verify --attest FILE --key KEY` wrote (repeatable).
    #[arg(long, value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// The model's digest instead of MODEL_PATH (64 hex digits).
    #[arg(long, value_name = "SHA256", conflicts_with = "target")]
    pub digest: Option<String>,
    /// The model file or directory, whose bundle goes to the registry
    /// server; or the model's OCI artifact,
    /// oci://REGISTRY/REPOSITORY@sha256:DIGEST, to attach its evidence to
    /// as OCI 1.1 referrers.
    #[arg(value_name = "MODEL_PATH|OCI_REF")]
    pub target: Option<PathBuf>,
}

/// Runs `push`.
pub fn push(args: PushArgs) -> Result<Exit> {
    if let Some(target) = args.target.as_deref().filter(|t| crate::cmd::oci::is_oci(t)) {
        return crate::cmd::oci::push(
            target,
            &args.evidence,
            args.files.as_deref(),
            &args.attach,
            args.ca_cert.as_deref(),
        );
    }
    if args.files.is_some() || !args.attach.is_empty() {
        bail!("--model and --attach go with an oci:// target");
    }
    let (Some(server), Some(name)) = (args.server, args.name) else {
        bail!("push to a registry server needs --server URL (or PORTCULLIS_SERVER) and --name NAME; to attach evidence to an OCI artifact, give oci://REGISTRY/REPOSITORY@sha256:DIGEST");
    };
    let server = ServerArgs {
        server,
        ca_cert: args.ca_cert,
    };
    let model = ModelArgs {
        model: args.target,
        digest: args.digest,
    };
    let (digest, _) = model.resolve(None)?;
    let path = portcullis_evidence::store::DirStore::new(&args.evidence).bundle_path(&digest);
    let body = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read the evidence bundle {} (run `portcullis run` first, or pass --evidence DIR)",
            path.display()
        )
    })?;
    let client = Client::new(&server)?;
    let url = format!("/v1/models/{}/versions/{}/evidence", enc(&name), digest.to_hex());
    let r = client.send(
        client
            .http
            .post(format!("{}{url}", client.base))
            .header("content-type", "application/jsonl")
            .body(body),
        "push",
    )?;
    let report: Value = r.json().context("push: the registry's answer is not JSON")?;
    let rejected = report["rejected"].as_array().cloned().unwrap_or_default();
    eprintln!(
        "pushed {} to {} as {}: {} accepted, {} already held, {} rejected",
        path.display(),
        client.base,
        name,
        report["accepted"],
        report["duplicate"],
        rejected.len()
    );
    for r in &rejected {
        eprintln!(
            "  line {}: {}",
            r["line"],
            r["reason"].as_str().unwrap_or_default()
        );
    }
    println!("sha256:{}", digest.to_hex());
    Ok(if rejected.is_empty() {
        Exit::Ok
    } else {
        Exit::Denied
    })
}

// ---- promote and requests -----------------------------------------------

/// Arguments of `promote`.
#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The stage to promote to.
    #[arg(long)]
    pub stage: String,
    /// The model's name in the registry.
    pub name: String,
    /// The digest to promote (`portcullis digest MODEL` prints it; a
    /// `sha256:` prefix is fine).
    pub digest: String,
    /// Print the registry's JSON.
    #[arg(long)]
    pub json: bool,
}

fn describe(req: &Value) {
    let id = &req["id"];
    let state = req["state"].as_str().unwrap_or("?");
    eprintln!(
        "request {id}: {} {} → {} is {state}",
        req["model"].as_str().unwrap_or("?"),
        req["digest"].as_str().map_or("?".into(), |d| format!(
            "{}…",
            d.chars().take(12).collect::<String>()
        )),
        req["stage"].as_str().unwrap_or("?"),
    );
    if let Some(reasons) = req
        .pointer("/decision/decision/reasons")
        .and_then(Value::as_array)
    {
        for r in reasons {
            eprintln!("  missing: {}", r["message"].as_str().unwrap_or_default());
        }
    }
}

fn digest_arg(s: &str) -> Result<String> {
    let d = s.strip_prefix("sha256:").unwrap_or(s);
    Sha256Digest::from_hex(d).map_err(|e| anyhow!("digest '{s}': {e}"))?;
    Ok(d.to_ascii_lowercase())
}

fn request_exit(req: &Value) -> Exit {
    if req["state"] == "promoted" {
        Exit::Ok
    } else {
        Exit::Denied
    }
}

/// Runs `promote`.
pub fn promote(args: PromoteArgs) -> Result<Exit> {
    let client = Client::new(&args.server)?;
    let body = json!({"stage": args.stage, "digest": digest_arg(&args.digest)?});
    let req = client.post(
        &format!("/v1/models/{}/requests", enc(&args.name)),
        &body,
        "promote",
    )?;
    if args.json {
        print_json(&req)?;
    } else {
        describe(&req);
        println!("{}", req["id"]);
    }
    Ok(request_exit(&req))
}

/// `request` subcommands: the approval inbox from the terminal.
#[derive(Debug, clap::Subcommand)]
pub enum RequestCommand {
    /// List requests (open ones by default: what waits for approval).
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// open, promoted, rejected, conflict or all.
        #[arg(long, default_value = "open")]
        state: String,
    },
    /// One request and what its stage still needs.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// Request id.
        id: i64,
    },
    /// Approve a request: the registry signs for your token's identity, or
    /// give --key to sign it yourself and upload the envelope.
    Approve {
        #[command(flatten)]
        server: ServerArgs,
        /// Request id.
        id: i64,
        /// Why you approve.
        #[arg(long)]
        comment: Option<String>,
        /// Sign with your own approver key instead of the registry's.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Reject a request, saying why.
    Reject {
        #[command(flatten)]
        server: ServerArgs,
        /// Request id.
        id: i64,
        /// Why (required).
        #[arg(long)]
        comment: String,
    },
}

/// Captures what the engine appends (an approval, a re-check's result),
/// to upload it.
pub(crate) struct Capture(pub(crate) std::sync::Mutex<Option<Envelope>>);

impl EvidenceStore for Capture {
    fn append(&self, _: &Sha256Digest, envelope: &Envelope) -> Result<String, StoreError> {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(envelope.clone());
        Ok("upload".into())
    }
    fn read(&self, _: &Sha256Digest) -> Result<Bundle, StoreError> {
        Ok(Bundle {
            location: "upload".into(),
            sha256: None,
            envelopes: vec![],
            corrupt: vec![],
        })
    }
    fn list(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        Ok(vec![])
    }
    fn location(&self, _: &Sha256Digest) -> String {
        "upload".into()
    }
}

/// Runs a `request` subcommand.
pub fn request(cmd: RequestCommand) -> Result<Exit> {
    match cmd {
        RequestCommand::List { server, state } => {
            let client = Client::new(&server)?;
            let q = if state == "all" {
                String::new()
            } else {
                format!("?state={}", enc(&state))
            };
            let v = client.get(&format!("/v1/requests{q}"), "request list")?;
            print_json(&v)?;
            Ok(Exit::Ok)
        }
        RequestCommand::Show { server, id } => {
            let client = Client::new(&server)?;
            let v = client.get(&format!("/v1/requests/{id}"), "request show")?;
            describe(&v);
            print_json(&v)?;
            Ok(Exit::Ok)
        }
        RequestCommand::Approve {
            server,
            id,
            comment,
            key,
        } => {
            let client = Client::new(&server)?;
            let mut body = json!({ "comment": comment });
            if let Some(k) = key {
                let key = common::signing_key(Some(&k), "request approve")?;
                let req = client.get(&format!("/v1/requests/{id}"), "request approve")?;
                let digest = Sha256Digest::from_hex(req["digest"].as_str().unwrap_or_default())
                    .map_err(|e| anyhow!("the registry's request {id} has a bad digest: {e}"))?;
                let capture = Capture(std::sync::Mutex::new(None));
                let name = k
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                portcullis_engine::approve(
                    &portcullis_engine::ApprovalRequest {
                        digest: &digest,
                        model_name: req["model"].as_str().unwrap_or_default(),
                        stage: req["stage"].as_str().unwrap_or_default(),
                        approver: &name,
                        comment: comment.as_deref(),
                        expires: None,
                    },
                    &capture,
                    &key,
                    &SystemClock,
                )?;
                let env = capture
                    .0
                    .into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                body["envelope"] = serde_json::to_value(env)?;
            }
            let v = client.post(&format!("/v1/requests/{id}/approve"), &body, "request approve")?;
            describe(&v);
            Ok(request_exit(&v))
        }
        RequestCommand::Reject { server, id, comment } => {
            let client = Client::new(&server)?;
            let v = client.post(
                &format!("/v1/requests/{id}/reject"),
                &json!({ "comment": comment }),
                "request reject",
            )?;
            describe(&v);
            Ok(Exit::Ok)
        }
    }
}

// ---- history -------------------------------------------------------------

/// Arguments of `history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The model's name.
    pub name: String,
    /// The stage.
    #[arg(long)]
    pub stage: String,
    /// Only the digest that held the stage at this RFC 3339 time.
    #[arg(long)]
    pub at: Option<String>,
}

/// Runs `history`.
pub fn history(args: HistoryArgs) -> Result<Exit> {
    let client = Client::new(&args.server)?;
    let mut path = format!(
        "/v1/models/{}/stages/{}/history",
        enc(&args.name),
        enc(&args.stage)
    );
    if let Some(at) = &args.at {
        path.push_str(&format!("?at={}", enc(at)));
    }
    let v = client.get(&path, "history")?;
    let moves = v["moves"].as_array().cloned().unwrap_or_default();
    if moves.is_empty() {
        eprintln!(
            "no digest held '{}' of '{}'{}",
            args.stage,
            args.name,
            args.at.as_ref().map(|t| format!(" at {t}")).unwrap_or_default()
        );
    }
    print_json(&v)?;
    Ok(if moves.is_empty() { Exit::Denied } else { Exit::Ok })
}

// ---- verify --server -----------------------------------------------------

/// Asks the registry whether `model` (its recomputed digest) is what
/// `stage` holds and is allowed now; writes the signed summary to `attest`.
pub fn verify_remote(
    server: &ServerArgs,
    name: Option<&str>,
    stage: &str,
    model: &std::path::Path,
    attest: Option<&std::path::Path>,
) -> Result<Exit> {
    let m =
        portcullis_engine::digest_artifact(model, &Default::default(), &crate::progress::Terminal::new())?;
    let name = name.map_or(m.model_name.clone(), str::to_string);
    let client = Client::new(server)?;
    let v = client.get(
        &format!("/v1/models/{}/stages/{}", enc(&name), enc(stage)),
        "verify",
    )?;
    let held = v["digest"].as_str().unwrap_or_default();
    if let Some(path) = attest {
        common::write_output(Some(path), &serde_json::to_string_pretty(&v["summary"])?)?;
    }
    if held != m.digest.to_hex() {
        eprintln!(
            "DENIED: '{stage}' of '{name}' holds sha256:{held}, but {} is sha256:{}; promote this digest first",
            model.display(),
            m.digest.to_hex()
        );
        return Ok(Exit::Denied);
    }
    if v["allowed"] != true {
        eprintln!("DENIED: '{stage}' holds this digest, but it is no longer allowed:");
        for r in v
            .pointer("/decision/decision/reasons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            eprintln!("  {}", r["message"].as_str().unwrap_or_default());
        }
        return Ok(Exit::Denied);
    }
    eprintln!(
        "ALLOWED: sha256:{held} is '{stage}' of '{name}' on {}",
        client.base
    );
    Ok(Exit::Ok)
}

// ---- tokens --------------------------------------------------------------

/// `token` subcommands (admin).
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints the secret alone on stdout (shown once).
    Create {
        #[command(flatten)]
        server: ServerArgs,
        /// Who holds it (an approver's name must match the policy's).
        #[arg(long)]
        identity: String,
        /// admin, runner, reader, approver or approver:<policy role>.
        #[arg(long)]
        role: String,
    },
    /// List tokens (no secrets).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke a token by id.
    Revoke {
        #[command(flatten)]
        server: ServerArgs,
        /// Token id (from `token list`).
        id: i64,
    },
}

/// Runs a `token` subcommand.
pub fn token(cmd: TokenCommand) -> Result<Exit> {
    match cmd {
        TokenCommand::Create {
            server,
            identity,
            role,
        } => {
            let client = Client::new(&server)?;
            let v = client.post(
                "/v1/tokens",
                &json!({"identity": identity, "role": role}),
                "token create",
            )?;
            println!("{}", v["token"].as_str().unwrap_or_default());
            eprintln!("token {} for {identity} ({role}); it is not shown again", v["id"]);
        }
        TokenCommand::List { server } => print_json(&Client::new(&server)?.get("/v1/tokens", "token list")?)?,
        TokenCommand::Revoke { server, id } => {
            let client = Client::new(&server)?;
            client.send(
                client.http.delete(format!("{}/v1/tokens/{id}", client.base)),
                "token revoke",
            )?;
            eprintln!("revoked token {id}");
        }
    }
    Ok(Exit::Ok)
}

// ---- log verify ----------------------------------------------------------

/// `log` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Check the registry's audit log: the checkpoint's signature, the root
    /// recomputed from every entry, and that it extends a saved checkpoint.
    Verify {
        #[command(flatten)]
        server: ServerArgs,
        /// The log's verifier key (`<origin>+<keyid>+<key>`, from
        /// `GET /v1/log/key` once, kept somewhere the operator cannot
        /// edit); also PORTCULLIS_LOG_KEY. Without it the key the server
        /// presents is used, which proves consistency but not identity.
        #[arg(long, env = "PORTCULLIS_LOG_KEY", value_name = "VKEY")]
        log_key: Option<String>,
        /// A checkpoint saved earlier (by --save): the log must extend it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Save the verified checkpoint here for next time.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
}

fn unhex(s: &str) -> Result<[u8; 32]> {
    let d = Sha256Digest::from_hex(s).map_err(|e| anyhow!("the registry sent a bad hash '{s}': {e}"))?;
    Ok(d.0)
}

/// Runs a `log` subcommand.
pub fn log(cmd: LogCommand) -> Result<Exit> {
    let LogCommand::Verify {
        server,
        log_key,
        checkpoint,
        save,
    } = cmd;
    let client = Client::new(&server)?;
    let vkey_text = match log_key {
        Some(k) => k,
        None => {
            let k = client.get_text("/v1/log/key", "log verify")?;
            eprintln!(
                "warning: no --log-key; using the key the registry presents ({}). Pin it: --log-key '{}'",
                k.trim(),
                k.trim()
            );
            k
        }
    };
    let vkey = VerifierKey::parse(vkey_text.trim()).map_err(|e| anyhow!("--log-key: {e}"))?;
    let note = client.get_text("/v1/log/checkpoint", "log verify")?;
    let cp = Checkpoint::open(&note, vkey.name(), vkey.key()).map_err(|e| {
        anyhow!(
            "the registry's checkpoint does not verify against {}: {e}",
            vkey.name()
        )
    })?;
    if cp.origin != vkey.name() {
        bail!("the checkpoint is for log '{}', not '{}'", cp.origin, vkey.name());
    }
    let mut tree = Tree::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    while tree.len() < cp.size {
        let end = cp.size.min(tree.len() + 1000);
        let page = client.get(
            &format!("/v1/log/entries?start={}&end={end}", tree.len()),
            "log verify",
        )?;
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            bail!(
                "the registry returned no entries from {} though its checkpoint has {}",
                tree.len(),
                cp.size
            );
        }
        for e in entries {
            let bytes = b64
                .decode(e.as_str().unwrap_or_default())
                .map_err(|err| anyhow!("entry {}: not base64: {err}", tree.len()))?;
            tree.push(portcullis_tlog::leaf_hash(&bytes));
        }
    }
    if tree.len() != cp.size || tree.root() != cp.root {
        eprintln!(
            "FAILED: the {} entries served do not hash to the signed root of size {}",
            tree.len(),
            cp.size
        );
        return Ok(Exit::Denied);
    }
    let hex = |h: &[u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
    if let Some(path) = &checkpoint {
        let saved_text =
            std::fs::read_to_string(path).with_context(|| format!("--checkpoint {}", path.display()))?;
        let saved = Checkpoint::open(&saved_text, vkey.name(), vkey.key())
            .map_err(|e| anyhow!("--checkpoint {}: {e}", path.display()))?;
        if saved.size > cp.size {
            eprintln!(
                "FAILED: the log shrank from {} entries (saved checkpoint) to {}: history was rewritten",
                saved.size, cp.size
            );
            return Ok(Exit::Denied);
        }
        let proof = client.get(
            &format!("/v1/log/proof/consistency?from={}&to={}", saved.size, cp.size),
            "log verify",
        )?;
        let hashes = proof["hashes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|h| unhex(h.as_str().unwrap_or_default()))
            .collect::<Result<Vec<_>>>()?;
        if let Err(e) =
            portcullis_tlog::verify_consistency(saved.size, cp.size, &saved.root, &cp.root, &hashes)
        {
            eprintln!(
                "FAILED: the log of {} entries does not extend the saved checkpoint of {} ({e}): history was rewritten",
                cp.size, saved.size
            );
            return Ok(Exit::Denied);
        }
        eprintln!(
            "consistent with the saved checkpoint of {} entries (root {})",
            saved.size,
            hex(&saved.root)
        );
    }
    if let Some(path) = &save {
        std::fs::write(path, &note).with_context(|| format!("--save {}", path.display()))?;
    }
    eprintln!(
        "log verified: {} entries, root {}, signed by {}",
        cp.size,
        hex(&cp.root),
        vkey.name()
    );
    Ok(Exit::Ok)
}
