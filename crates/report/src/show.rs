//! `show`: everything recorded about a model, and what each stage still
//! needs, as terminal text or JSON.

use std::fmt::Write as _;
use std::time::SystemTime;

use portcullis_evidence::predicate::parse_time;
use portcullis_policy::{Decision, Evidence};
use serde::Serialize;

use crate::human::{self, Style};
use crate::GateView;

/// What `show` renders.
#[derive(Debug, Clone, Copy)]
pub struct ShowView<'a> {
    /// The model's digest (hex).
    pub digest: &'a str,
    /// The model's name.
    pub model: &'a str,
    /// Where its bundle is.
    pub bundle: &'a str,
    /// The trusted evidence and what did not count.
    pub evidence: &'a Evidence,
    /// Each stage's decision.
    pub decisions: &'a [Decision],
    /// Now, for ages.
    pub now: SystemTime,
}

/// Frozen JSON of `show`, version 1. Serialised through a
/// `serde_json::Value`, so every object's keys are sorted.
pub mod v1 {
    use portcullis_evidence::predicate::{ApprovalPredicate, GateResultPredicate, WaiverPredicate};
    use portcullis_policy::Decision;
    use serde::Serialize;

    /// The top-level object.
    #[derive(Debug, Serialize)]
    pub struct Show<'a> {
        /// The model's digest.
        pub digest: &'a str,
        /// The model's name.
        pub model: &'a str,
        /// Where its bundle is.
        pub bundle: &'a str,
        /// Trusted gate results.
        pub gate_results: Vec<Signed<'a, GateResultPredicate>>,
        /// Trusted approvals.
        pub approvals: Vec<Signed<'a, ApprovalPredicate>>,
        /// Trusted waivers.
        pub waivers: Vec<Signed<'a, WaiverPredicate>>,
        /// Lines that do not count.
        pub rejected: Vec<Rejected<'a>>,
        /// Each stage's decision.
        pub stages: &'a [Decision],
    }

    /// A trusted statement: its bundle line, its signer, and its predicate
    /// under the key `result`, `approval` or `waiver`.
    #[derive(Debug)]
    pub struct Signed<'a, P> {
        /// The bundle line.
        pub line: usize,
        /// The signer's identity in the policy.
        pub signer: &'a str,
        /// The key the predicate is under.
        pub key: &'static str,
        /// The predicate.
        pub predicate: &'a P,
    }

    impl<P: Serialize> Serialize for Signed<'_, P> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap as _;
            let mut m = s.serialize_map(Some(3))?;
            m.serialize_entry("line", &self.line)?;
            m.serialize_entry("signer", self.signer)?;
            m.serialize_entry(self.key, self.predicate)?;
            m.end()
        }
    }

    /// A line that does not count.
    #[derive(Debug, Serialize)]
    pub struct Rejected<'a> {
        /// The bundle line.
        pub line: usize,
        /// Why.
        pub reason: &'a str,
    }
}

fn signed<'a, P>(items: &'a [portcullis_policy::Accepted<P>], key: &'static str) -> Vec<v1::Signed<'a, P>> {
    items
        .iter()
        .map(|a| v1::Signed {
            line: a.line,
            signer: &a.signer,
            key,
            predicate: &a.predicate,
        })
        .collect()
}

/// `show --json`.
pub fn json(view: &ShowView<'_>) -> String {
    let out = v1::Show {
        digest: view.digest,
        model: view.model,
        bundle: view.bundle,
        gate_results: signed(&view.evidence.gate_results, "result"),
        approvals: signed(&view.evidence.approvals, "approval"),
        waivers: signed(&view.evidence.waivers, "waiver"),
        rejected: view
            .evidence
            .rejected
            .iter()
            .map(|r| v1::Rejected {
                line: r.line,
                reason: &r.reason,
            })
            .collect(),
        stages: view.decisions,
    };
    crate::json::to_pretty(&to_sorted(&out))
}

/// Every object's keys sorted, as the format has always been written.
fn to_sorted<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

fn age_of(t: &str, now: SystemTime) -> String {
    match parse_time(t).ok().and_then(|t| now.duration_since(t).ok()) {
        Some(d) => format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(d.as_secs() / 60 * 60))
        ),
        None => t.to_string(),
    }
}

/// `show` as terminal text.
pub fn human(view: &ShowView<'_>, st: Style) -> String {
    let evidence = view.evidence;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}\n  sha256:{}\n  bundle {}",
        st.bold("model"),
        view.model,
        view.digest,
        view.bundle
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
                    .sha256
                    .map(|h| {
                        let hex = h.to_hex();
                        format!(" sha256:{}", hex.get(..12).unwrap_or(&hex))
                    })
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
            age_of(&p.finished_on, view.now),
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
                .map(|(k, v)| format!("{k}={}", crate::fmt_metric(*v)))
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
            age_of(&p.signed_on, view.now),
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
    for d in view.decisions {
        if d.allowed {
            let _ = writeln!(out, "  {} {}", st.green("✓"), d.stage);
        } else {
            let _ = writeln!(out, "  {} {} still needs:", st.red("✗"), d.stage);
            for r in &d.reasons {
                let _ = writeln!(out, "      - {}", r.message);
            }
        }
    }
    out
}
