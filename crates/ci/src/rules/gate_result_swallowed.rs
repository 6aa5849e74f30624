//! `gate-result-swallowed`: the gate command's exit status is discarded in
//! the script (`|| true`, `set +e`, a trailing `exit 0`).

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::{loc, StepFacts};
use super::{Facts, Rule};
use crate::classify::{self, Kind};
use crate::model::System;

rule!(
    GATE_RESULT_SWALLOWED,
    "gate-result-swallowed",
    "Gate result swallowed in shell",
    High,
    "The gate command's exit status is discarded in the script (|| true, set +e, ; exit 0, returnStatus).",
    "Let the gate command's exit status fail the step; remove || true, set +e and trailing exit 0."
);

/// The check of [`GATE_RESULT_SWALLOWED`].
pub(crate) struct GateResultSwallowed;

impl Rule for GateResultSwallowed {
    fn info(&self) -> &RuleInfo {
        &GATE_RESULT_SWALLOWED
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        let p = f.p;
        for (j, job) in p.jobs.iter().enumerate() {
            let sfs = f.steps.get(j).map(Vec::as_slice).unwrap_or_default();
            for (s, (step, sf)) in job.steps.iter().zip(sfs).enumerate() {
                if !sf.is_real_gate() {
                    continue;
                }
                // GitLab script lines share one shell: an earlier `set +e`
                // disables failure for the gate line too.
                let earlier_set_e = (p.system == System::GitlabCi)
                    .then(|| {
                        job.steps.iter().take(s).find_map(|st| {
                            let r = st.run.as_ref()?;
                            r.value.find("set +e").map(|off| (r, off))
                        })
                    })
                    .flatten();
                if let Some((r, off)) = earlier_set_e {
                    out.push(
                        self.finding(format!(
                            "gate step {} runs after `set +e`, so its failure does not fail the job",
                            f.step_desc(j, s)
                        ))
                        .at(loc(f.file(j), r.pos_at(off, f.lines), "swallowed status"))
                        .related(f.step_loc(j, s, "gate")),
                    );
                } else if let Some(run) = &step.run {
                    if let Some((off, pat)) = swallowed(&run.value, sf) {
                        out.push(
                            self.finding(format!(
                                "gate step {} discards the gate's exit status with `{}`",
                                f.step_desc(j, s),
                                pat
                            ))
                            .at({
                                // Offsets map to lines only in the file whose
                                // lines the facts hold.
                                let file = f.step_file(j, s);
                                let pos = if file == p.file {
                                    run.pos_at(off, f.lines)
                                } else {
                                    run.pos
                                };
                                loc(file, pos, "swallowed status")
                            })
                            .related(f.step_loc(j, s, "gate")),
                        );
                    }
                }
            }
        }
    }
}

const SWALLOW: &[&str] = &[
    "|| true",
    "||true",
    "|| :",
    "|| exit 0",
    "|| echo",
    "set +e",
    "; exit 0",
    "returnstatus: true",
    "-erroraction silentlycontinue",
];

fn swallowed(script: &str, sf: &StepFacts) -> Option<(usize, &'static str)> {
    let lower = script.to_ascii_lowercase();
    let by_name = sf.hit.as_ref().is_some_and(|h| h.by_name);
    let mut offset = 0;
    for line in lower.split_inclusive('\n') {
        let gate_line = by_name
            || classify::PATTERNS
                .iter()
                .any(|p| p.kind == Kind::Gate && classify::line_matches(line, p));
        for pat in SWALLOW {
            let anywhere = matches!(*pat, "set +e" | "returnstatus: true");
            if !(gate_line || anywhere) {
                continue;
            }
            if let Some(at) = line.find(pat) {
                return Some((offset + at, pat));
            }
        }
        let t = line.trim();
        if t == "exit 0" && offset > 0 {
            return Some((offset + line.find("exit").unwrap_or(0), "exit 0"));
        }
        offset += line.len();
    }
    None
}
