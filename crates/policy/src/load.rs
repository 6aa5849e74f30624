//! Loading and checking a policy file.
//!
//! Like cargo-deny's config: parse into raw types with positions, then check
//! everything and collect every problem, so one run shows the user all of
//! them, each as `file:line:column: what is wrong (what was expected)`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_evidence::{GateSpec, PublicKey, Sha256Digest};
use serde_saphyr::{Location, Spanned};
use sha2::{Digest, Sha256};

use crate::model::{
    ApprovalRule, DataSource, GateDecl, ModelDecl, OnFail, Policy, Pos, Recheck, ServeDecl, Signer, Stage,
    WaiverRule,
};
/// The shortest `recheck.every`: re-runs are whole gate runs.
const MIN_RECHECK_EVERY: Duration = Duration::from_secs(60);

use crate::raw::{RawModel, RawPolicy, RawServe, RawSigner, RawStage, Scalar};

/// The largest policy file read, in bytes.
pub const MAX_POLICY_BYTES: u64 = 4 * 1024 * 1024;

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub pos: Pos,
    /// What is wrong, and what was expected.
    pub message: String,
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{path}: {source} (pass the policy with --policy, or create one with `portcullis init`)")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is over [`MAX_POLICY_BYTES`].
    #[error("{path}: {size} bytes is over the {MAX_POLICY_BYTES}-byte limit for a policy")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// The file's sha256 is not the one it was pinned to.
    #[error(
        "{path} has sha256 {got}, not the pinned {want}; refusing to verify against an unexpected policy"
    )]
    PinMismatch {
        /// The file.
        path: String,
        /// Its sha256 (hex).
        got: String,
        /// The pinned sha256 (hex).
        want: String,
    },
    /// The file has problems; every one is listed.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: String,
        /// The problems, in file order.
        problems: Vec<Problem>,
    },
}

fn render_problems(path: &str, problems: &[Problem]) -> String {
    let mut out = format!(
        "{path}: {} problem{} in the policy",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!("\n  {path}:{}: {}", p.pos, p.message));
    }
    out
}

impl PolicyError {
    /// The problems, for `Invalid`; empty otherwise.
    pub fn problems(&self) -> &[Problem] {
        match self {
            PolicyError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn pos(loc: &Location) -> Pos {
    Pos {
        line: loc.line(),
        column: loc.column(),
    }
}

fn spos<T>(s: &Spanned<T>) -> Pos {
    pos(&s.referenced)
}

/// Reads and checks a policy file.
///
/// # Errors
/// [`PolicyError`] listing every problem with its position.
pub fn load(path: &Path) -> Result<Policy, PolicyError> {
    load_checked(path, None, &|_| Ok(()))
}

/// Checks one gate spec against what its kind accepts (the gates crate's
/// registry); the policy knows no gate kinds itself.
pub type SpecCheck<'a> = &'a (dyn Fn(&GateSpec) -> Result<(), String> + 'a);

/// Reads and checks a policy file, checking every gate spec with `check` in
/// the same pass, so one error lists every policy and gate-spec problem in
/// file order. With `pin`, the file's bytes must hash to it; the policy is
/// parsed from exactly the bytes that were hashed.
///
/// # Errors
/// [`PolicyError`] listing every problem with its position, or
/// [`PolicyError::PinMismatch`].
pub fn load_checked(
    path: &Path,
    pin: Option<&Sha256Digest>,
    check: SpecCheck<'_>,
) -> Result<Policy, PolicyError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| PolicyError::Io {
        path: shown.clone(),
        source,
    })?;
    if meta.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge {
            path: shown,
            size: meta.len(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| PolicyError::Io {
        path: shown.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|e| PolicyError::Invalid {
        path: shown.clone(),
        problems: vec![Problem {
            pos: Pos::default(),
            message: format!("the file is not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        }],
    })?;
    let base = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let digest = Sha256Digest(Sha256::digest(&bytes).into());
    if let Some(want) = pin {
        if digest != *want {
            return Err(PolicyError::PinMismatch {
                path: shown,
                got: digest.to_hex(),
                want: want.to_hex(),
            });
        }
    }
    from_str_checked(&text, &shown, &base, digest, check)
}

/// Parses and checks policy text; relative paths resolve against `base`.
///
/// # Errors
/// [`PolicyError::Invalid`] listing every problem.
pub fn from_str(text: &str, shown: &str, base: &Path, digest: Sha256Digest) -> Result<Policy, PolicyError> {
    from_str_checked(text, shown, base, digest, &|_| Ok(()))
}

/// [`from_str`], checking every gate spec with `check` in the same pass.
///
/// # Errors
/// [`PolicyError::Invalid`] listing every problem.
pub fn from_str_checked(
    text: &str,
    shown: &str,
    base: &Path,
    digest: Sha256Digest,
    check: SpecCheck<'_>,
) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = serde_saphyr::from_str(text).map_err(|e| {
        let pos = e.location().map(|l| pos(&l)).unwrap_or_default();
        PolicyError::Invalid {
            path: shown.to_string(),
            problems: vec![Problem {
                pos,
                message: parse_message(&e),
            }],
        }
    })?;
    let mut c = Checker {
        problems: Vec::new(),
        base: base.to_path_buf(),
        spec_check: check,
    };
    let policy = c.check(raw, shown, digest);
    if c.problems.is_empty() {
        Ok(policy)
    } else {
        c.problems.sort_by_key(|p| (p.pos.line, p.pos.column));
        Err(PolicyError::Invalid {
            path: shown.to_string(),
            problems: c.problems,
        })
    }
}

/// serde-saphyr renders a snippet; the first line is the message.
fn parse_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML").trim().to_string();
    let first = first.strip_prefix("error: ").unwrap_or(&first).to_string();
    // Strip a trailing " at line X, column Y" the position already carries.
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_string(),
        None => first,
    }
}

struct Checker<'a> {
    problems: Vec<Problem>,
    base: PathBuf,
    spec_check: SpecCheck<'a>,
}

impl Checker<'_> {
    fn problem(&mut self, pos: Pos, message: impl Into<String>) {
        self.problems.push(Problem {
            pos,
            message: message.into(),
        });
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    fn duration(&mut self, s: &Spanned<String>, what: &str) -> Option<Duration> {
        match humantime::parse_duration(s.value.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    spos(s),
                    format!(
                        "{what}: '{}' is not a duration ({e}); write e.g. 12h, 7d or 2w",
                        s.value
                    ),
                );
                None
            }
        }
    }

    fn check(&mut self, raw: RawPolicy, _shown: &str, digest: Sha256Digest) -> Policy {
        if raw.version.value != 1 {
            self.problem(
                spos(&raw.version),
                format!("unsupported policy version {} (expected 1)", raw.version.value),
            );
        }
        let model = raw.model.map(|m| self.model(m, "model"));
        let reference = raw.reference.map(|m| self.model(m, "reference"));
        let data = raw
            .data
            .into_iter()
            .map(|(name, d)| {
                let d = d.value;
                let decl = DataSource {
                    path: self.resolve(&d.path),
                    label: d.label,
                    sensitive: d.sensitive.map(|s| s.to_vec()).unwrap_or_default(),
                    slices: d.slices.map(|s| s.to_vec()).unwrap_or_default(),
                    weight: d.weight,
                };
                (name, decl)
            })
            .collect();
        let runners = self.signers(raw.trust.runners, "runner");
        let approvers = self.signers(raw.trust.approvers, "approver");
        let services = self.services(raw.trust.services);
        let all_roles: BTreeSet<String> = approvers.iter().flat_map(|a| a.roles.iter().cloned()).collect();

        let mut gates = BTreeMap::new();
        for (name, spec) in raw.gates {
            if !is_id(&name) {
                self.problem(
                    spos(&spec),
                    format!("gate name '{name}' should be kebab-case letters, digits and '-'"),
                );
            }
            if let Err(e) = (self.spec_check)(&spec.value) {
                self.problem(spos(&spec), format!("gate '{name}': {e}"));
            }
            gates.insert(
                name,
                GateDecl {
                    pos: spos(&spec),
                    spec: spec.value,
                },
            );
        }

        let mut stages = BTreeMap::new();
        let names: Vec<String> = raw.stages.keys().cloned().collect();
        for name in &names {
            if let Some(stage) = self.resolve_stage(name, &raw.stages, &gates, &approvers, &all_roles) {
                stages.insert(name.clone(), stage);
            }
        }
        if stages.is_empty() && self.problems.is_empty() {
            self.problem(
                Pos::default(),
                "the policy declares no stages (expected e.g. `stages: {prod: {gates: [...]}}`)",
            );
        }
        Policy {
            path: PathBuf::new(),
            digest,
            model,
            reference,
            data,
            runners,
            approvers,
            services,
            stages,
            gates,
        }
    }

    fn model(&mut self, m: RawModel, what: &str) -> ModelDecl {
        ModelDecl {
            path: self.resolve(&m.path.value),
            kind: m.kind,
            serve: m.serve.map(|s| self.serve(s, what)),
        }
    }

    /// Checks the shape of a `serve:` block (one endpoint, known protocol,
    /// positive sizes); what the endpoint means is the gates' business.
    fn serve(&mut self, s: Spanned<RawServe>, what: &str) -> ServeDecl {
        let at = spos(&s);
        let r = s.value;
        match (&r.url, &r.command) {
            (Some(_), Some(c)) => self.problem(
                spos(c),
                format!("{what}.serve: give either `url` (with `protocol`) or `command`, not both"),
            ),
            (None, None) => self.problem(
                at,
                format!("{what}.serve: expected `url` (with `protocol: kserve-v2` or `mlflow`) or `command: [program, args…]`"),
            ),
            (None, Some(c)) if c.value.is_empty() => {
                self.problem(spos(c), format!("{what}.serve.command is empty"))
            }
            _ => {}
        }
        if let Some(u) = &r.url {
            if !(u.value.starts_with("http://") || u.value.starts_with("https://")) {
                self.problem(
                    spos(u),
                    format!(
                        "{what}.serve.url: '{}' is not an http:// or https:// URL",
                        u.value
                    ),
                );
            }
            if r.protocol.is_none() {
                self.problem(
                    spos(u),
                    format!("{what}.serve: a `url` needs `protocol: kserve-v2` or `protocol: mlflow`"),
                );
            }
        }
        if let Some(p) = &r.protocol {
            if !matches!(p.value.as_str(), "kserve-v2" | "mlflow") {
                self.problem(
                    spos(p),
                    format!(
                        "{what}.serve.protocol: unknown protocol '{}' (expected kserve-v2 or mlflow)",
                        p.value
                    ),
                );
            }
            if r.url.is_none() {
                self.problem(spos(p), format!("{what}.serve: `protocol` goes with `url`"));
            }
        }
        for (n, key) in [(&r.batch_size, "batch_size"), (&r.n_features, "n_features")] {
            if let Some(n) = n {
                if n.value == 0 {
                    self.problem(spos(n), format!("{what}.serve.{key} must be at least 1"));
                }
            }
        }
        let timeout = r
            .timeout
            .as_ref()
            .and_then(|t| self.duration(t, &format!("{what}.serve.timeout")));
        ServeDecl {
            protocol: r.protocol.map(|p| p.value),
            url: r.url.map(|u| u.value),
            command: r.command.map(|c| c.value).unwrap_or_default(),
            model_name: r.model_name,
            input: r.input,
            output: r.output,
            timeout,
            batch_size: r.batch_size.map(|b| b.value),
            retries: r.retries,
            headers: r.headers,
            classes: r
                .classes
                .into_iter()
                .map(|c| match c {
                    Scalar::Int(i) => i.to_string(),
                    Scalar::Text(t) => t,
                })
                .collect(),
            n_features: r.n_features.map(|n| n.value),
        }
    }

    fn signers(&mut self, raw: Vec<Spanned<RawSigner>>, what: &str) -> Vec<Signer> {
        let mut out: Vec<Signer> = Vec::new();
        for s in raw {
            let at = spos(&s);
            let r = s.value;
            let mut paths: Vec<Spanned<String>> = r.keys;
            if let Some(k) = r.key {
                paths.insert(0, k);
            }
            if paths.is_empty() {
                self.problem(
                    at,
                    format!("{what} '{}' has no `key` (a public key PEM file)", r.name),
                );
            }
            let mut keys = Vec::new();
            for p in &paths {
                match PublicKey::from_pem_file(&self.resolve(&p.value)) {
                    Ok(k) => keys.push(k),
                    Err(e) => self.problem(spos(p), format!("{what} '{}': {e}", r.name)),
                }
            }
            let roles = r.roles.map(|r| r.to_vec()).unwrap_or_default();
            if let Some(existing) = out.iter_mut().find(|o| o.name == r.name) {
                existing.keys.extend(keys);
                existing.roles.extend(roles);
            } else {
                out.push(Signer {
                    name: r.name,
                    keys,
                    roles,
                });
            }
        }
        out
    }

    fn services(&mut self, raw: Vec<Spanned<RawSigner>>) -> Vec<Signer> {
        for s in &raw {
            if s.value.roles.is_some() {
                self.problem(
                    spos(s),
                    format!(
                        "service '{}' has `roles`; a service holds none, the approver it signs for does (see `trust.approvers`)",
                        s.value.name
                    ),
                );
            }
        }
        self.signers(raw, "service")
    }

    fn resolve_stage(
        &mut self,
        name: &str,
        raw: &BTreeMap<String, Spanned<RawStage>>,
        gates: &BTreeMap<String, GateDecl>,
        approvers: &[Signer],
        all_roles: &BTreeSet<String>,
    ) -> Option<Stage> {
        // Walk `extends` from the root ancestor down to this stage.
        let mut chain: Vec<&str> = vec![name];
        let mut cur = raw.get(name)?;
        while let Some(parent) = &cur.value.extends {
            if chain.contains(&parent.value.as_str()) {
                self.problem(
                    spos(parent),
                    format!(
                        "stage '{name}': `extends` forms a cycle ({} → {})",
                        chain.join(" → "),
                        parent.value
                    ),
                );
                return None;
            }
            match raw.get(&parent.value) {
                Some(p) => {
                    chain.push(&parent.value);
                    cur = p;
                }
                None => {
                    // Report the dangling parent only once, on the stage that names it.
                    if chain.len() == 1 {
                        self.problem(
                            spos(parent),
                            format!(
                                "stage '{name}' extends unknown stage '{}' (stages: {})",
                                parent.value,
                                raw.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        );
                    }
                    return None;
                }
            }
        }
        let mut stage = Stage {
            name: name.to_string(),
            gates: Vec::new(),
            approvals: None,
            max_evidence_age: None,
            waivable: BTreeMap::new(),
            recheck: None,
        };
        for (depth, s) in chain.iter().rev().enumerate() {
            let Some(rs) = raw.get(*s) else { continue };
            let rs = &rs.value;
            // Problems inside an ancestor are reported when that ancestor is
            // resolved itself; only the stage's own lines report here.
            let report = depth + 1 == chain.len();
            for g in &rs.gates {
                if !gates.contains_key(&g.value) {
                    if report {
                        self.problem(
                            spos(g),
                            format!(
                                "stage '{s}' requires gate '{}', which is not defined under `gates:` (defined: {})",
                                g.value,
                                list_or_none(gates.keys())
                            ),
                        );
                    }
                } else if !stage.gates.contains(&g.value) {
                    stage.gates.push(g.value.clone());
                }
            }
            if let Some(a) = &rs.approvals {
                let roles = a.value.roles.as_ref().map(|r| r.to_vec()).unwrap_or_default();
                let max_age = match &a.value.max_age {
                    Some(m) if report => self.duration(m, "approvals.max_age"),
                    Some(m) => humantime::parse_duration(m.value.trim()).ok(),
                    None => None,
                };
                if report {
                    self.check_approvals(s, a, &roles, approvers, all_roles);
                }
                stage.approvals = Some(ApprovalRule {
                    required: a.value.required,
                    roles,
                    forbid_author: a.value.forbid_author,
                    max_age,
                });
            }
            if let Some(m) = &rs.max_evidence_age {
                stage.max_evidence_age = if report {
                    self.duration(m, "max_evidence_age")
                } else {
                    humantime::parse_duration(m.value.trim()).ok()
                };
            }
            for (gate, w) in &rs.waivable {
                if report && !gates.contains_key(gate) {
                    self.problem(
                        spos(w),
                        format!("stage '{s}': `waivable` names unknown gate '{gate}'"),
                    );
                }
                let roles = w.value.roles.to_vec();
                if report {
                    for r in &roles {
                        if !all_roles.contains(r) {
                            self.problem(
                                spos(w),
                                format!("stage '{s}': waiver role '{r}' is held by no approver under `trust.approvers`"),
                            );
                        }
                    }
                }
                let max_duration = match &w.value.max_duration {
                    Some(m) if report => self.duration(m, "waivable.max_duration"),
                    Some(m) => humantime::parse_duration(m.value.trim()).ok(),
                    None => None,
                };
                stage
                    .waivable
                    .insert(gate.clone(), WaiverRule { roles, max_duration });
            }
            if let Some(r) = &rs.recheck {
                stage.recheck = self.recheck(s, r, gates, report);
            }
        }
        Some(stage)
    }

    /// A stage's `recheck`, checked (problems only when `report`).
    fn recheck(
        &mut self,
        stage: &str,
        r: &Spanned<crate::raw::RawRecheck>,
        gates: &BTreeMap<String, GateDecl>,
        report: bool,
    ) -> Option<Recheck> {
        let every = if report {
            self.duration(&r.value.every, "recheck.every")
        } else {
            humantime::parse_duration(r.value.every.value.trim()).ok()
        }?;
        if report && every < MIN_RECHECK_EVERY {
            self.problem(
                spos(&r.value.every),
                format!(
                    "stage '{stage}': recheck.every is {}, under the 1m minimum",
                    r.value.every.value.trim()
                ),
            );
        }
        if report && r.value.gates.is_empty() {
            self.problem(
                spos(r),
                format!("stage '{stage}': recheck.gates is empty; name the gates to re-run"),
            );
        }
        let mut names = Vec::new();
        for g in &r.value.gates {
            if !gates.contains_key(&g.value) {
                if report {
                    self.problem(
                        spos(g),
                        format!(
                            "stage '{stage}': recheck names gate '{}', which is not defined under `gates:` (defined: {})",
                            g.value,
                            list_or_none(gates.keys())
                        ),
                    );
                }
            } else if !names.contains(&g.value) {
                names.push(g.value.clone());
            }
        }
        let on_fail = match r.value.on_fail.as_ref().map(|o| (o, o.value.trim())) {
            None | Some((_, "flag")) => OnFail::Flag,
            Some((_, "revoke")) => OnFail::Revoke,
            Some((o, other)) => {
                if report {
                    self.problem(
                        spos(o),
                        format!("stage '{stage}': recheck.on_fail is '{other}'; expected `flag` or `revoke`"),
                    );
                }
                OnFail::Flag
            }
        };
        Some(Recheck {
            every: every.max(MIN_RECHECK_EVERY),
            gates: names,
            on_fail,
        })
    }

    fn check_approvals(
        &mut self,
        stage: &str,
        a: &Spanned<crate::raw::RawApprovals>,
        roles: &[String],
        approvers: &[Signer],
        all_roles: &BTreeSet<String>,
    ) {
        if a.value.required == 0 {
            self.problem(
                spos(a),
                format!("stage '{stage}': approvals.required is 0; remove `approvals` or require at least 1"),
            );
        }
        for r in roles {
            if !all_roles.contains(r) {
                self.problem(
                    spos(a),
                    format!(
                        "stage '{stage}': approval role '{r}' is held by no approver under `trust.approvers`"
                    ),
                );
            }
        }
        let eligible = approvers
            .iter()
            .filter(|ap| roles.is_empty() || ap.roles.iter().any(|r| roles.contains(r)))
            .count();
        if u64::from(a.value.required) > eligible as u64 {
            self.problem(
                spos(a),
                format!(
                    "stage '{stage}': {} approvals required but only {eligible} approver{} eligible, so the stage could never be allowed",
                    a.value.required,
                    if eligible == 1 { " is" } else { "s are" }
                ),
            );
        }
    }
}

fn list_or_none<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = it.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}
