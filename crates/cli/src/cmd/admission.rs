//! `portcullis admission`: the Kubernetes admission webhook's other faces.
//!
//! - `manifests` prints the `ValidatingWebhookConfiguration` that points a
//!   cluster's admission at the webhook, one entry per stage selecting the
//!   namespaces labelled `portcullis.dev/stage: <stage>`.
//! - `review FILE` answers one `AdmissionReview` with the webhook's own
//!   code: the registry's (`--server`) or offline from evidence attached in
//!   OCI registries (`--policy`), for dry runs and tests.
//! - `serve --policy` runs the offline webhook.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;

use crate::common::Exit;

/// `portcullis admission …`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the ValidatingWebhookConfiguration YAML for `kubectl apply -f -`.
    Manifests(ManifestArgs),
    /// Answer one AdmissionReview (from FILE or -) as the webhook would; exit 0 allowed, 1 denied.
    Review(ReviewArgs),
    /// Run the webhook without a registry: evidence is read from the OCI registry each model is in.
    Serve(ServeArgs),
}

/// Which OCI registries the admission webhook connects to.
#[derive(Debug, clap::Args)]
pub struct OciRegistryArgs {
    /// Read model manifests and evidence only from these OCI registries
    /// (host[:port], repeatable or comma-separated; also
    /// PORTCULLIS_OCI_REGISTRIES); references elsewhere are denied without
    /// a connection. Default: any registry a workload names.
    #[arg(
        long = "oci-registry",
        env = "PORTCULLIS_OCI_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub oci_registries: Vec<String>,
}

impl OciRegistryArgs {
    /// Sets the webhook's allowlist; call once, before answering reviews.
    pub fn apply(&self) {
        portcullis_server::admission::allow_oci_registries(self.oci_registries.clone());
    }
}

/// Arguments of `admission review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// The stage the namespace is labelled with.
    #[arg(long)]
    pub stage: String,
    /// Ask this registry server (token from PORTCULLIS_TOKEN); also
    /// PORTCULLIS_SERVER.
    #[arg(
        long,
        env = "PORTCULLIS_SERVER",
        value_name = "URL",
        conflicts_with = "policy"
    )]
    pub server: Option<String>,
    /// Decide offline with this policy, from evidence attached to each
    /// model's OCI artifact.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Refuse unless the policy file's sha256 is exactly this.
    #[arg(long, value_name = "SHA256", requires = "policy")]
    pub policy_sha256: Option<String>,
    /// Trust this PEM CA certificate for an https:// registry server.
    #[arg(long, env = "PORTCULLIS_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    #[command(flatten)]
    pub oci: OciRegistryArgs,
    /// Report problems as warnings and admit.
    #[arg(long)]
    pub warn: bool,
    /// The AdmissionReview JSON, or - for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Arguments of `admission serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The deployer's policy.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Refuse to start unless the policy file's sha256 is exactly this.
    #[arg(long, value_name = "SHA256")]
    pub policy_sha256: Option<String>,
    /// Address to listen on (port 0 picks a free one; the first line on
    /// stdout says which).
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// The webhook's TLS certificate (PEM chain); the API server calls
    /// webhooks over HTTPS only. Without it, plain HTTP on a loopback
    /// address only, for tests.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub oci: OciRegistryArgs,
}

/// The largest AdmissionReview read (the API server's request limit).
const MAX_REVIEW: u64 = 3 * 1024 * 1024;

fn load_policy(path: &std::path::Path, pin: Option<&str>) -> Result<portcullis_policy::Policy> {
    let pin = pin
        .map(portcullis_evidence::Sha256Digest::from_hex)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--policy-sha256: {e}"))?;
    Ok(portcullis_engine::load_policy_pinned(path, pin.as_ref())?)
}

fn review(a: &ReviewArgs) -> Result<Exit> {
    let mut text = Vec::new();
    let name = a.file.display().to_string();
    if name == "-" {
        std::io::stdin().take(MAX_REVIEW + 1).read_to_end(&mut text)
    } else {
        std::fs::File::open(&a.file).and_then(|f| f.take(MAX_REVIEW + 1).read_to_end(&mut text))
    }
    .with_context(|| format!("cannot read {name}"))?;
    if text.len() as u64 > MAX_REVIEW {
        bail!("{name}: over the {MAX_REVIEW}-byte limit of an AdmissionReview");
    }
    let body: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("{name}:{}:{}: not JSON: {e}", e.line(), e.column()))?;
    a.oci.apply();
    let answer = match (&a.policy, &a.server) {
        (Some(policy), _) => {
            let policy = load_policy(policy, a.policy_sha256.as_deref())?;
            let check = portcullis_server::admission::OfflineCheck {
                policy: &policy,
                clock: &portcullis_engine::SystemClock,
            };
            portcullis_server::admission::review(&check, &body, &a.stage, a.warn)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?
        }
        (None, Some(server)) => {
            let server = crate::cmd::registry::ServerArgs {
                server: server.clone(),
                ca_cert: a.ca_cert.clone(),
            };
            let mode = if a.warn { "&mode=warn" } else { "" };
            let path = format!(
                "/v1/admission?stage={}{mode}",
                crate::cmd::registry::enc(&a.stage)
            );
            crate::cmd::registry::Client::new(&server)?.post(&path, &body, "admission review")?
        }
        (None, None) => {
            bail!("give --server URL (ask the registry) or --policy FILE (decide offline from OCI evidence)")
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    let allowed = answer.pointer("/response/allowed") == Some(&serde_json::Value::Bool(true));
    if let Some(m) = answer
        .pointer("/response/status/message")
        .and_then(|m| m.as_str())
    {
        eprintln!("DENIED: {m}");
    }
    for w in answer
        .pointer("/response/warnings")
        .and_then(|w| w.as_array())
        .into_iter()
        .flatten()
    {
        eprintln!("warning: {}", w.as_str().unwrap_or_default());
    }
    Ok(if allowed { Exit::Ok } else { Exit::Denied })
}

fn serve(a: &ServeArgs) -> Result<Exit> {
    let policy = load_policy(&a.policy, a.policy_sha256.as_deref())?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(portcullis_server::tls::server_config(cert, key)?),
        _ if a.listen.ip().is_loopback() => None,
        _ => bail!(
            "--listen {}: the API server calls webhooks over HTTPS only; give --tls-cert and --tls-key (plain HTTP is for loopback addresses)",
            a.listen
        ),
    };
    portcullis_server::admission::oci_client().map_err(anyhow::Error::msg)?;
    a.oci.apply();
    let offline = Arc::new(portcullis_server::webhook::Offline {
        policy,
        clock: Arc::new(portcullis_engine::SystemClock),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("cannot listen on {}", a.listen))?;
        let addr = listener.local_addr()?;
        println!(
            "listening on {}://{addr}",
            if tls.is_some() { "https" } else { "http" }
        );
        std::io::stdout().flush()?;
        eprintln!(
            "admission webhook (offline, policy {}): POST /v1/admission/STAGE",
            a.policy.display()
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        portcullis_server::serve_webhook(listener, tls, offline, shutdown)
            .await
            .context("webhook server failed")
    })?;
    Ok(Exit::Ok)
}

/// Arguments of `admission manifests`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// A stage to enforce (repeatable); namespaces labelled
    /// `portcullis.dev/stage: STAGE` are checked against it.
    #[arg(long = "stage", required = true)]
    pub stages: Vec<String>,
    /// The webhook's HTTPS base URL as the API server reaches it (the
    /// registry server's, or an offline webhook's outside the cluster).
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "serve",
        conflicts_with = "serve"
    )]
    pub url: Option<String>,
    /// Also print a Deployment and Service that run the offline webhook
    /// (`admission serve`) from this image, whose PATH has `portcullis`;
    /// the webhooks then call that Service.
    #[arg(long, value_name = "IMAGE")]
    pub serve: Option<String>,
    /// The namespace of the offline webhook's Deployment and Service.
    #[arg(long, default_value = "portcullis", requires = "serve")]
    pub namespace: String,
    /// The sha256 the offline webhook pins its policy file to.
    #[arg(long, value_name = "SHA256", requires = "serve")]
    pub policy_sha256: Option<String>,
    /// The CA certificate (PEM) that signed the webhook's certificate.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: PathBuf,
    /// `warn` admits everything and returns the problems as warnings.
    #[arg(long, value_parser = ["enforce", "warn"], default_value = "enforce")]
    pub mode: String,
    /// Seconds the API server waits before the webhook fails (and, with
    /// failurePolicy Fail, the request is denied).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=30))]
    pub timeout: u8,
}

/// Runs `admission`.
pub fn run(c: Command) -> Result<Exit> {
    match c {
        Command::Manifests(a) => {
            print!("{}", manifests(&a)?);
            Ok(Exit::Ok)
        }
        Command::Review(a) => review(&a),
        Command::Serve(a) => serve(&a),
    }
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The manifest text.
///
/// # Errors
/// An unreadable CA file, a URL that is not https, a stage that is not a
/// DNS label.
pub fn manifests(a: &ManifestArgs) -> Result<String> {
    let url = match &a.url {
        Some(url) => {
            let url = url.trim_end_matches('/');
            if !url.starts_with("https://") || url.contains(char::is_whitespace) || url.contains(['?', '#']) {
                bail!("--url {url}: the API server calls webhooks over HTTPS only, without a query or fragment; give https://HOST:PORT");
            }
            Some(url.to_string())
        }
        None => None,
    };
    if !dns_label(&a.namespace) {
        bail!("--namespace {}: not a DNS label", a.namespace);
    }
    if let Some(pin) = &a.policy_sha256 {
        portcullis_evidence::Sha256Digest::from_hex(pin)
            .map_err(|e| anyhow::anyhow!("--policy-sha256: {e}"))?;
    }
    let ca =
        std::fs::read(&a.ca_cert).with_context(|| format!("reading --ca-cert {}", a.ca_cert.display()))?;
    if !String::from_utf8_lossy(&ca).contains("-----BEGIN CERTIFICATE-----") {
        bail!("--ca-cert {}: not a PEM certificate", a.ca_cert.display());
    }
    let bundle = base64::engine::general_purpose::STANDARD.encode(&ca);
    let mut out = String::from("# Generated by `portcullis admission manifests`.\n");
    if let Some(image) = &a.serve {
        if image.is_empty() || image.contains(char::is_whitespace) || image.contains(['"', '\\']) {
            bail!("--serve {image}: not an image reference");
        }
        out.push_str(&offline_manifests(
            image,
            &a.namespace,
            a.policy_sha256.as_deref(),
        ));
    } else {
        out.push_str(
            "# The API server needs a registry token for these webhooks in its\n\
             # admission configuration (kubeConfigFile); see docs/server.md.\n",
        );
    }
    out.push_str(
        "apiVersion: admissionregistration.k8s.io/v1\n\
         kind: ValidatingWebhookConfiguration\n\
         metadata:\n  name: portcullis\nwebhooks:\n",
    );
    let mode = if a.mode == "warn" { "/warn" } else { "" };
    for stage in &a.stages {
        if !dns_label(stage) {
            bail!("--stage {stage}: a stage name here must be a DNS label (lowercase letters, digits, '-')");
        }
        let client = match &url {
            Some(url) => format!("      url: \"{url}/v1/admission/{stage}{mode}\"\n"),
            None => format!(
                "      service:\n        namespace: {}\n        name: {WEBHOOK}\n        port: 443\n        path: \"/v1/admission/{stage}{mode}\"\n",
                a.namespace
            ),
        };
        out.push_str(&format!(
            "  - name: {stage}.models.portcullis.dev\n    admissionReviewVersions: [v1]\n    sideEffects: None\n    failurePolicy: Fail\n    timeoutSeconds: {}\n    namespaceSelector:\n      matchLabels:\n        portcullis.dev/stage: {stage}\n    rules:\n      - {{apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}}\n      - {{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, statefulsets, daemonsets, replicasets]}}\n      - {{apiGroups: [batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [jobs, cronjobs]}}\n      - {{apiGroups: [serving.kserve.io], apiVersions: [\"*\"], operations: [CREATE, UPDATE], resources: [inferenceservices]}}\n      - {{apiGroups: [machinelearning.seldon.io, mlops.seldon.io], apiVersions: [\"*\"], operations: [CREATE, UPDATE], resources: [seldondeployments, models]}}\n    clientConfig:\n{client}      caBundle: {bundle}\n",
            a.timeout
        ));
    }
    Ok(out)
}

/// The name of the offline webhook's Deployment and Service.
const WEBHOOK: &str = "portcullis-webhook";

/// The offline webhook's Deployment and Service. The policy comes from
/// the ConfigMap `portcullis-policy` (key `portcullis.yaml`) with its key
/// files in `portcullis-keys` (mounted as `keys/` beside it), and the TLS
/// pair from the Secret `portcullis-webhook-tls`.
fn offline_manifests(image: &str, namespace: &str, pin: Option<&str>) -> String {
    let pin = pin.map_or(String::new(), |p| format!(", --policy-sha256, \"{p}\""));
    format!(
        "# The offline webhook: kubectl -n {namespace} create configmap portcullis-policy --from-file=portcullis.yaml\n\
         # kubectl -n {namespace} create configmap portcullis-keys --from-file=keys/\n\
         # kubectl -n {namespace} create secret tls portcullis-webhook-tls --cert=webhook.pem --key=webhook.key\n\
         apiVersion: apps/v1\n\
         kind: Deployment\n\
         metadata:\n  name: {WEBHOOK}\n  namespace: {namespace}\n  labels: {{app.kubernetes.io/name: {WEBHOOK}}}\n\
         spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app.kubernetes.io/name: {WEBHOOK}}}\n\
         \x20 template:\n    metadata:\n      labels: {{app.kubernetes.io/name: {WEBHOOK}}}\n\
         \x20   spec:\n      automountServiceAccountToken: false\n\
         \x20     securityContext: {{runAsNonRoot: true, runAsUser: 65532, seccompProfile: {{type: RuntimeDefault}}}}\n\
         \x20     containers:\n        - name: webhook\n          image: \"{image}\"\n\
         \x20         command: [portcullis]\n\
         \x20         args: [admission, serve, --policy, /etc/portcullis/policy/portcullis.yaml{pin}, --listen, \"0.0.0.0:8443\", --tls-cert, /etc/portcullis/tls/tls.crt, --tls-key, /etc/portcullis/tls/tls.key]\n\
         \x20         env:\n\
         \x20           - {{name: PORTCULLIS_REGISTRY_USERNAME, valueFrom: {{secretKeyRef: {{name: portcullis-registry, key: username, optional: true}}}}}}\n\
         \x20           - {{name: PORTCULLIS_REGISTRY_PASSWORD, valueFrom: {{secretKeyRef: {{name: portcullis-registry, key: password, optional: true}}}}}}\n\
         \x20         ports: [{{name: https, containerPort: 8443}}]\n\
         \x20         readinessProbe: {{httpGet: {{path: /healthz, port: https, scheme: HTTPS}}, periodSeconds: 5}}\n\
         \x20         livenessProbe: {{httpGet: {{path: /healthz, port: https, scheme: HTTPS}}, periodSeconds: 20}}\n\
         \x20         resources: {{requests: {{cpu: 50m, memory: 64Mi}}, limits: {{memory: 256Mi}}}}\n\
         \x20         securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}\n\
         \x20         volumeMounts:\n\
         \x20           - {{name: policy, mountPath: /etc/portcullis/policy, readOnly: true}}\n\
         \x20           - {{name: keys, mountPath: /etc/portcullis/policy/keys, readOnly: true}}\n\
         \x20           - {{name: tls, mountPath: /etc/portcullis/tls, readOnly: true}}\n\
         \x20     volumes:\n\
         \x20       - {{name: policy, configMap: {{name: portcullis-policy}}}}\n\
         \x20       - {{name: keys, configMap: {{name: portcullis-keys}}}}\n\
         \x20       - {{name: tls, secret: {{secretName: portcullis-webhook-tls}}}}\n\
         ---\n\
         apiVersion: v1\n\
         kind: Service\n\
         metadata:\n  name: {WEBHOOK}\n  namespace: {namespace}\n\
         spec:\n  selector: {{app.kubernetes.io/name: {WEBHOOK}}}\n  ports: [{{name: https, port: 443, targetPort: https}}]\n\
         ---\n"
    )
}
