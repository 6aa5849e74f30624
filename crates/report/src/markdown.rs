//! Markdown for `$GITHUB_STEP_SUMMARY` and pull-request comments.

use std::fmt::Write as _;

use crate::view::Report;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    if let Some(d) = &report.decision {
        let _ = writeln!(
            out,
            "## portcullis: stage `{}` {}\n",
            d.stage,
            if d.allowed { "✅ allowed" } else { "❌ denied" }
        );
        if let Some(h) = &report.digest {
            let _ = writeln!(out, "Model `sha256:{h}`\n");
        }
        for r in &d.reasons {
            let _ = writeln!(out, "- ❌ **{}**: {}", r.code, cell(&r.message));
        }
        if d.approvals_required > 0 {
            let _ = writeln!(
                out,
                "- Approvals: {} of {}{}",
                d.approvers.len(),
                d.approvals_required,
                if d.approvers.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.approvers.join(", "))
                }
            );
        }
        out.push('\n');
    }
    if !report.gates.is_empty() {
        out.push_str("| Gate | Kind | Verdict | Details |\n|---|---|---|---|\n");
        for g in &report.gates {
            let verdict = match g.verdict {
                Some(v) if v.passed() => "✅ pass".to_string(),
                Some(v) => format!("❌ {v}"),
                None => "❔ missing".to_string(),
            };
            let details = if g.passed() {
                g.metrics
                    .iter()
                    .take(6)
                    .map(|(k, v)| format!("{k}={}", crate::fmt_metric(*v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                g.reasons.join("; ")
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&g.name),
                g.kind,
                verdict,
                cell(&details)
            );
        }
    }
    if let Some(d) = &report.decision {
        if !d.notes.is_empty() {
            out.push_str("\n<details><summary>Notes</summary>\n\n");
            for n in &d.notes {
                let _ = writeln!(out, "- {}", cell(n));
            }
            out.push_str("\n</details>\n");
        }
    }
    out
}
