//! Evidence in OCI registries: `push oci://…` attaches a model's evidence
//! to the model's artifact as OCI 1.1 referrers, and `verify --evidence
//! oci://…` decides from what is attached there.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use portcullis_engine::store::DirStore;
use portcullis_engine::{EvidenceStore, SystemClock};
use portcullis_evidence::{Envelope, Sha256Digest};
use portcullis_oci::{Client, Fetched, ModelDigest, OciStore, Options, Reference};
use portcullis_policy::Policy;
use portcullis_report::Report;

use crate::common::{self, Exit, OutputArgs};
use crate::progress::Terminal;

/// Whether `target` names an OCI artifact rather than a path.
pub fn is_oci(target: &Path) -> bool {
    target.to_str().is_some_and(|s| s.starts_with("oci://"))
}

fn client(ca_cert: Option<&Path>) -> Result<Client> {
    let ca_cert = ca_cert
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read the CA certificate {}", p.display())))
        .transpose()?;
    Ok(Client::new(&Options {
        ca_cert,
        ..Options::default()
    })?)
}

fn parse(target: &Path) -> Result<Reference> {
    let text = target.to_str().unwrap_or_default();
    Ok(text.parse::<Reference>()?)
}

/// The artifact's manifest and the model digest its evidence is bound to:
/// the digest of its file layers, checked against the files at `files`
/// when they are given (or taken from them when the artifact is not one
/// file a layer).
fn model_of(client: &Client, at: &Reference, files: Option<&Path>) -> Result<(Fetched, Sha256Digest)> {
    let reference = at
        .reference()
        .with_context(|| format!("{at}: name the model's tag or, better, its digest (@sha256:…)"))?;
    let fetched = client.manifest(at, &reference)?;
    let derived: Result<ModelDigest, _> = portcullis_oci::model_digest(at, &fetched);
    let local = files
        .map(|p| portcullis_engine::digest_artifact(p, &Default::default(), &Terminal::new()))
        .transpose()?;
    let digest = match (derived, local) {
        (Ok(d), Some(l)) if d.digest != l.digest => bail!(
            "the files at {} (sha256:{}) are not the artifact {} (its files are sha256:{})",
            files
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            l.digest.to_hex(),
            at.at(fetched.digest),
            d.digest.to_hex()
        ),
        (Ok(d), _) => d.digest,
        (Err(_), Some(l)) => l.digest,
        (Err(e), None) => return Err(e.into()),
    };
    Ok((fetched, digest))
}

/// `push oci://…`: attach the model's evidence bundle (and any
/// `attach`ed envelopes, such as `verify --attest`'s signed summary).
pub fn push(
    target: &Path,
    evidence: &Path,
    files: Option<&Path>,
    attach: &[PathBuf],
    ca_cert: Option<&Path>,
) -> Result<Exit> {
    let at = parse(target)?;
    let client = client(ca_cert)?;
    let (fetched, digest) = model_of(&client, &at, files)?;
    let bundle = DirStore::new(evidence).read(&digest)?;
    let mut envelopes: Vec<Envelope> = bundle.envelopes.into_iter().map(|(_, e)| e).collect();
    for path in attach {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let e: Envelope = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: not a DSSE envelope (sign the summary: `verify --attest FILE --key KEY`)",
                path.display()
            )
        })?;
        envelopes.push(e);
    }
    if envelopes.is_empty() {
        bail!(
            "no evidence for sha256:{} in {} (the model in {}); run `portcullis run` on its files first, or pass --evidence DIR",
            digest.to_hex(),
            evidence.display(),
            at.at(fetched.digest)
        );
    }
    let report = portcullis_oci::push_evidence(&client, &at, &fetched, &digest, &envelopes)?;
    for m in &report.manifests {
        eprintln!(
            "{} {} ({} envelope{}) sha256:{}",
            if m.existed { "held  " } else { "pushed" },
            m.artifact_type,
            m.envelopes,
            if m.envelopes == 1 { "" } else { "s" },
            m.digest.to_hex()
        );
    }
    eprintln!(
        "evidence for model sha256:{} attached to {} ({})",
        digest.to_hex(),
        at.at(fetched.digest),
        if report.referrers_api {
            "referrers API".to_string()
        } else {
            format!("referrers tag {}", portcullis_oci::fallback_tag(&fetched.digest))
        }
    );
    println!("sha256:{}", digest.to_hex());
    Ok(Exit::Ok)
}

/// What `verify --evidence oci://…` needs.
pub struct Verify<'a> {
    /// The artifact holding the evidence.
    pub target: &'a Path,
    /// The deployer's policy.
    pub policy: &'a Policy,
    /// Its path, for messages.
    pub policy_path: &'a Path,
    /// The stage.
    pub stage: &'a str,
    /// The model's files, when the deployer has them.
    pub files: Option<&'a Path>,
    /// Write the Verification Summary here.
    pub attest: Option<&'a Path>,
    /// Sign it with this key.
    pub key: Option<&'a portcullis_engine::SigningKey>,
    /// A CA certificate for the registry.
    pub ca_cert: Option<&'a Path>,
    /// How to render.
    pub out: &'a OutputArgs,
}

/// `verify --evidence oci://…`: decide from the evidence attached to the
/// model's artifact, with the deployer's policy.
pub fn verify(v: &Verify<'_>) -> Result<Exit> {
    let at = parse(v.target)?;
    let client = client(v.ca_cert)?;
    let (fetched, digest) = model_of(&client, &at, v.files)?;
    let store = OciStore::fetch(&client, &at, &fetched.digest, digest)?;
    for c in &store.bundle().corrupt {
        eprintln!(
            "warning: {}: entry {} skipped: {}",
            store.location(&digest),
            c.line,
            c.reason
        );
    }
    let decided = portcullis_engine::decide(v.policy, v.stage, &store, &digest, &SystemClock)?;
    if let Some(path) = v.attest {
        let name = v
            .files
            .and_then(Path::file_name)
            .map_or_else(|| at.repository.clone(), |n| n.to_string_lossy().into_owned());
        let summary = portcullis_engine::summarise(v.policy, v.stage, &name, &decided, &SystemClock, v.key)?;
        std::fs::write(path, summary.to_json()? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut report = Report::of_decision(v.policy, &decided.decision, &digest);
    report.model = Some(at.at(fetched.digest).to_string());
    v.out.emit(&report, Some(&v.policy_path.display().to_string()))?;
    Ok(common::exit_of(&decided.decision))
}
