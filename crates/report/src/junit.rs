//! JUnit XML: each gate is a test case; a stage's approval requirement is
//! one more. CI systems show failures with their reasons.

use std::fmt::Write as _;

use portcullis_evidence::Verdict;

use crate::view::Report;

/// Escapes text for XML attributes and content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The report as JUnit XML.
pub fn render(report: &Report) -> String {
    let suite = report
        .decision
        .as_ref()
        .map_or_else(|| "portcullis".to_string(), |d| format!("portcullis.{}", d.stage));
    let mut cases = String::new();
    let (mut failures, mut errors, mut tests) = (0, 0, 0);
    for g in &report.gates {
        tests += 1;
        let time = g.duration_ms.map_or(0.0, |ms| ms as f64 / 1000.0);
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\"",
            xml_escape(&format!("{suite}.{}", g.kind)),
            xml_escape(&g.name)
        );
        let body = g.reasons.join("\n");
        match g.verdict {
            Some(Verdict::Pass) => cases.push_str("/>\n"),
            Some(Verdict::Error) => {
                errors += 1;
                let _ = write!(
                    cases,
                    ">\n      <error message=\"{}\">{}</error>\n    </testcase>\n",
                    xml_escape(g.error.as_deref().unwrap_or("error")),
                    xml_escape(&body)
                );
            }
            Some(Verdict::Fail) | None => {
                failures += 1;
                let first = g.reasons.first().map_or("failed", String::as_str);
                let _ = write!(
                    cases,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(first),
                    xml_escape(&body)
                );
            }
        }
    }
    if let Some(d) = &report.decision {
        if d.approvals_required > 0 {
            tests += 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"approvals\"",
                xml_escape(&suite)
            );
            match d
                .reasons
                .iter()
                .find(|r| r.code == portcullis_policy::ReasonCode::ApprovalsMissing)
            {
                Some(r) => {
                    failures += 1;
                    let _ = write!(
                        cases,
                        ">\n      <failure message=\"{0}\">{0}</failure>\n    </testcase>\n",
                        xml_escape(&r.message)
                    );
                }
                None => cases.push_str("/>\n"),
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"portcullis\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n{cases}  </testsuite>\n</testsuites>\n",
        xml_escape(&suite)
    )
}
