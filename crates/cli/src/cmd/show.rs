//! `portcullis show`: what an approver should see before signing.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Result;
use portcullis_evidence::predicate::parse_time;
use portcullis_evidence::EvidenceStore;
use portcullis_report::{human, GateView};

use crate::common::{self, Exit, ModelArgs};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy (its keys decide which evidence is trusted).
    #[arg(long, default_value = common::DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// The evidence directory.
    #[arg(long, default_value = portcullis_evidence::store::DEFAULT_DIR)]
    pub evidence: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

fn age_of(t: &str) -> String {
    match parse_time(t)
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
    {
        Some(d) => format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs() / 60 * 60))
        ),
        None => t.to_string(),
    }
}

/// Runs `show`.
pub fn run(args: Args) -> Result<Exit> {
    let policy = common::load_policy(&args.policy)?;
    let fallback = policy.model.as_ref().map(|m| m.path.clone());
    let (digest, name) = args.model.resolve(fallback.as_deref())?;
    let store = EvidenceStore::new(&args.evidence);
    let bundle = store.read(&digest).map_err(|e| anyhow::anyhow!("{e}"))?;
    let evidence = portcullis_policy::classify(&policy, &digest, &bundle);
    let now = SystemTime::now();
    let decisions: Vec<_> = policy
        .stages
        .keys()
        .map(|s| portcullis_policy::decide(&policy, s, &evidence, now))
        .collect();
    if args.json {
        let out = serde_json::json!({
            "digest": digest.to_hex(),
            "model": name,
            "bundle": bundle.path.display().to_string(),
            "gate_results": evidence.gate_results.iter().map(|r| serde_json::json!({
                "line": r.line, "signer": r.signer, "result": r.predicate
            })).collect::<Vec<_>>(),
            "approvals": evidence.approvals.iter().map(|a| serde_json::json!({
                "line": a.line, "signer": a.signer, "approval": a.predicate
            })).collect::<Vec<_>>(),
            "waivers": evidence.waivers.iter().map(|w| serde_json::json!({
                "line": w.line, "signer": w.signer, "waiver": w.predicate
            })).collect::<Vec<_>>(),
            "rejected": evidence.rejected.iter().map(|r| serde_json::json!({"line": r.line, "reason": r.reason})).collect::<Vec<_>>(),
            "stages": decisions,
        });
        print!("{}", portcullis_report::json::to_pretty(&out));
        return Ok(Exit::Ok);
    }
    let st = human::Style::new(
        std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none(),
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {name}\n  sha256:{}\n  bundle {}",
        st.bold("model"),
        digest.to_hex(),
        bundle.path.display()
    );
    let _ = writeln!(
        out,
        "\n{} ({} trusted)",
        st.bold("gate results"),
        evidence.gate_results.len()
    );
    for r in &evidence.gate_results {
        let p = &r.predicate;
        let v = GateView::from_predicate(p, Some(r.signer.clone()));
        let inputs: Vec<String> = p
            .inputs
            .iter()
            .map(|i| {
                let d = i
                    .digest
                    .as_ref()
                    .and_then(|d| d.get("sha256"))
                    .map(|h| format!(" sha256:{}", &h[..h.len().min(12)]))
                    .unwrap_or_default();
                format!("{} {}{d}", i.role, i.uri)
            })
            .collect();
        let _ = writeln!(
            out,
            "  line {:>3}  {} {} ({}) by {}, {}{}",
            r.line,
            if v.passed() {
                st.green("pass ")
            } else {
                st.red(p.verdict.as_str())
            },
            st.bold(&p.gate.name),
            p.gate.kind,
            r.signer,
            age_of(&p.finished_on),
            p.author
                .as_deref()
                .map(|a| format!(", author {a}"))
                .unwrap_or_default()
        );
        for reason in &p.reasons {
            let _ = writeln!(out, "             • {reason}");
        }
        for f in p.findings.iter().take(5) {
            let _ = writeln!(out, "             {}", human::finding_line(f, st));
        }
        if !p.metrics.is_empty() {
            let m: Vec<String> = p
                .metrics
                .iter()
                .take(8)
                .map(|(k, v)| format!("{k}={}", portcullis_report::fmt_metric(*v)))
                .collect();
            let _ = writeln!(out, "             {}", st.dim(&m.join("  ")));
        }
        if !inputs.is_empty() {
            let _ = writeln!(
                out,
                "             {}",
                st.dim(&format!("inputs: {}", inputs.join("; ")))
            );
        }
    }
    let _ = writeln!(out, "\n{} ({})", st.bold("approvals"), evidence.approvals.len());
    for a in &evidence.approvals {
        let p = &a.predicate;
        let _ = writeln!(
            out,
            "  line {:>3}  {} for '{}' {}{}",
            a.line,
            a.signer,
            p.stage,
            age_of(&p.signed_on),
            p.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default()
        );
    }
    for w in &evidence.waivers {
        let p = &w.predicate;
        let _ = writeln!(
            out,
            "  line {:>3}  {} waiver of '{}' for '{}' until {}: {}",
            w.line, w.signer, p.gate, p.stage, p.expires, p.reason
        );
    }
    if !evidence.rejected.is_empty() {
        let _ = writeln!(
            out,
            "\n{} ({})",
            st.yellow("not counted"),
            evidence.rejected.len()
        );
        for r in &evidence.rejected {
            let _ = writeln!(out, "  line {:>3}  {}", r.line, r.reason);
        }
    }
    let _ = writeln!(out, "\n{}", st.bold("stages"));
    for d in &decisions {
        if d.allowed {
            let _ = writeln!(out, "  {} {}", st.green("✓"), d.stage);
        } else {
            let _ = writeln!(out, "  {} {} still needs:", st.red("✗"), d.stage);
            for r in &d.reasons {
                let _ = writeln!(out, "      - {}", r.message);
            }
        }
    }
    print!("{out}");
    Ok(Exit::Ok)
}
