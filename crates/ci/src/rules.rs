//! The rules: one registry line per rule, and the analysis that fires them.
//!
//! Every rule reads the same per-pipeline facts (which steps deploy, which
//! gate, the job graph and the conditions), computed once in [`Facts`]. The
//! id of a rule is its docs anchor in `docs/audit-ci.md`, its config key and
//! its inline-ignore key, so ids never change.

use std::collections::{HashMap, HashSet};

use portcullis_evidence::{Confidence, Finding, Location, RuleInfo, Severity};

use crate::classify::{self, Hit, Kind};
use crate::model::{Job, Pipeline, Step, System, Text};
use crate::yaml::Pos;

macro_rules! rule {
    ($name:ident, $id:literal, $title:literal, $sev:ident, $desc:literal, $help:literal) => {
        /// Registry entry for the rule of the same id.
        pub const $name: RuleInfo = RuleInfo {
            id: $id,
            name: $title,
            description: $desc,
            help: $help,
            default_severity: Severity::$sev,
            docs: concat!("audit-ci.md#", $id),
        };
    };
}

rule!(
    DEPLOY_WITHOUT_GATE,
    "deploy-without-gate",
    "Deploy with no gate before it",
    High,
    "A model deploy or publish step has no evaluation, scan or red-team gate on every path that leads to it.",
    "Add a gate job (portcullis, garak, modelscan, an eval suite) and make the deploy job need it."
);
rule!(DEPLOY_WITHOUT_APPROVAL, "deploy-without-approval", "Deploy with no human approval", Medium,
    "A model deploy runs without any human approval construct in the pipeline (GitHub environment, GitLab protected environment or blocking manual job, Azure deployment environment, Jenkins input, Argo suspend).",
    "Run the deploy in a protected environment with required reviewers, or add a blocking approval step; approval rules themselves live in platform settings.");
rule!(GATE_ALLOWED_TO_FAIL, "gate-allowed-to-fail", "Gate allowed to fail", High,
    "A gate step or job is marked so its failure is ignored (continue-on-error, allow_failure, continueOnError, catchError, onError: continue, continueOn).",
    "Remove the failure override from the gate so a failing evaluation stops the pipeline.");
rule!(DEPLOY_RUNS_ON_GATE_FAILURE, "deploy-runs-on-gate-failure", "Deploy runs even if the gate fails", Critical,
    "The deploy is guarded by a condition that also runs it after a failure (always(), !cancelled(), failure(), when: always, succeededOrFailed(), post always, finally, depends on .Failed).",
    "Use the default success condition on the deploy, or test the gate's result explicitly.");
rule!(
    GATE_RESULT_SWALLOWED,
    "gate-result-swallowed",
    "Gate result swallowed in shell",
    High,
    "The gate command's exit status is discarded in the script (|| true, set +e, ; exit 0, returnStatus).",
    "Let the gate command's exit status fail the step; remove || true, set +e and trailing exit 0."
);
rule!(
    FAKE_GATE,
    "fake-gate",
    "Fake gate",
    High,
    "A job or step named as a test, evaluation or scan only echoes or succeeds without checking anything.",
    "Make the job run the real evaluation, or rename it so nobody mistakes it for a gate."
);
rule!(GATE_NOT_ON_DEPLOY_PATH, "gate-not-on-deploy-path", "Gate not on the deploy path", High,
    "The pipeline has a gate, but the deploy does not wait for it (a sibling job, GitLab needs: [], an optional need).",
    "Make the deploy job need the gate job (directly or through jobs that need it).");
rule!(CONDITIONAL_GATE_BYPASS, "conditional-gate-bypass", "Gate skipped by a condition the deploy lacks", High,
    "The gate runs on fewer events, branches or inputs than the deploy, so some runs deploy without it (gate only on pull requests, an input that skips evaluation).",
    "Give the gate no condition the deploy lacks, or give the deploy the same condition.");
rule!(
    ALWAYS_TRUE_CONDITION,
    "always-true-condition",
    "Condition that is always true",
    High,
    "An if: mixes text outside ${{ }} with an expression, so it is a non-empty string and always true.",
    "Put the whole condition inside one ${{ }} expression, or write it without ${{ }}."
);
rule!(MANUAL_APPROVAL_NOT_BLOCKING, "manual-approval-not-blocking", "Manual approval job that does not block", High,
    "A GitLab manual job meant as an approval has allow_failure true (the default for manual jobs), so later jobs run without anyone clicking it.",
    "Set allow_failure: false on the manual job, or use a protected environment.");
rule!(
    APPROVAL_WITHOUT_SUBMITTER,
    "approval-without-submitter",
    "Anyone can approve",
    Medium,
    "A Jenkins input approves a deploy without a submitter list, so anyone with build access can approve.",
    "Add submitter: 'group-or-user' to the input."
);
rule!(DEPLOY_TARGET_FROM_INPUT, "deploy-target-from-input", "Deploy target picked by a free user input", Medium,
    "The deploy step or its environment takes a free-text user input, so whoever starts the run chooses where the model goes.",
    "Use a choice input with fixed targets, or derive the target from the branch.");
rule!(GATE_UNPINNED, "gate-unpinned", "Gate pinned to a branch or tag", Medium,
    "A gate action or reusable workflow is referenced by a branch or tag instead of a full commit SHA, so its content can change under the pipeline.",
    "Pin the gate to a full 40-character commit SHA.");
rule!(JOB_GRAPH_CYCLE, "job-graph-cycle", "Job graph has a cycle", High,
    "Jobs wait for each other in a cycle; the platform rejects or never runs them and no path can be proven gated.",
    "Remove one of the edges in the cycle.");
rule!(PIPELINE_NOT_ANALYSABLE, "pipeline-not-analysable", "Pipeline or part of it not analysable", Medium,
    "A file or a referenced part could not be analysed (scripted Jenkins pipeline, remote include, missing template), so gates in it are not seen.",
    "Move the logic into a form the auditor reads (declarative Jenkins, local includes), or audit the referenced file.");

/// Every rule, one line each.
pub static RULES: &[RuleInfo] = &[
    DEPLOY_WITHOUT_GATE,
    DEPLOY_WITHOUT_APPROVAL,
    GATE_ALLOWED_TO_FAIL,
    DEPLOY_RUNS_ON_GATE_FAILURE,
    GATE_RESULT_SWALLOWED,
    FAKE_GATE,
    GATE_NOT_ON_DEPLOY_PATH,
    CONDITIONAL_GATE_BYPASS,
    ALWAYS_TRUE_CONDITION,
    MANUAL_APPROVAL_NOT_BLOCKING,
    APPROVAL_WITHOUT_SUBMITTER,
    DEPLOY_TARGET_FROM_INPUT,
    GATE_UNPINNED,
    JOB_GRAPH_CYCLE,
    PIPELINE_NOT_ANALYSABLE,
];

/// Starts a finding for `rule` at its default severity.
pub fn finding(rule: &RuleInfo, message: impl Into<String>) -> Finding {
    Finding::new(rule.id, rule.default_severity, message).fix(rule.help)
}

fn loc(file: &str, pos: Pos, label: &str) -> Location {
    Location::file(file).line_col(pos.line, pos.col).label(label)
}

/// What one step is, for the rules.
#[derive(Debug, Clone)]
struct StepFacts {
    hit: Option<Hit>,
    /// A gate by name whose script does nothing.
    fake: bool,
}

impl StepFacts {
    fn is_deploy(&self) -> bool {
        self.hit.as_ref().is_some_and(|h| h.kind == Kind::Deploy)
    }
    fn is_real_gate(&self) -> bool {
        !self.fake && self.hit.as_ref().is_some_and(|h| h.kind == Kind::Gate)
    }
    fn is_gate_like(&self) -> bool {
        self.fake || self.is_real_gate()
    }
}

/// Per-pipeline facts every rule reads.
struct Facts<'a> {
    p: &'a Pipeline,
    lines: &'a [&'a str],
    index: HashMap<&'a str, usize>,
    steps: Vec<Vec<StepFacts>>,
    fake_job: Vec<bool>,
    cyclic: HashSet<usize>,
}

fn step_is_trivial(step: &Step) -> bool {
    let run_trivial = step
        .run
        .as_ref()
        .is_none_or(|r| classify::is_trivial_script(&r.value));
    let uses_trivial = step.uses.as_ref().is_none_or(|u| {
        let l = u.value.to_ascii_lowercase();
        l.contains("checkout") || l.contains("setup-") || l.contains("cache")
    });
    run_trivial && uses_trivial
}

impl<'a> Facts<'a> {
    fn new(p: &'a Pipeline, lines: &'a [&'a str]) -> Self {
        let index = p
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.id.as_str(), i))
            .collect();
        let steps: Vec<Vec<StepFacts>> = p
            .jobs
            .iter()
            .map(|j| {
                j.steps
                    .iter()
                    .map(|s| {
                        let hit = classify::classify_step(s);
                        let fake = hit.as_ref().is_some_and(|h| h.kind == Kind::Gate && h.by_name)
                            && step_is_trivial(s);
                        StepFacts { hit, fake }
                    })
                    .collect()
            })
            .collect();
        let fake_job = p
            .jobs
            .iter()
            .zip(&steps)
            .map(|(j, sf)| {
                let named =
                    classify::is_check_name(&j.id) || j.name.as_deref().is_some_and(classify::is_check_name);
                named
                    && !j.steps.is_empty()
                    && j.steps.iter().all(step_is_trivial)
                    && !sf.iter().any(StepFacts::is_real_gate)
            })
            .collect();
        let mut facts = Facts {
            p,
            lines,
            index,
            steps,
            fake_job,
            cyclic: HashSet::new(),
        };
        facts.cyclic = facts.find_cycles();
        facts
    }

    fn preds(&self, j: usize, with_optional: bool) -> Vec<usize> {
        self.p
            .jobs
            .get(j)
            .map(|job| {
                job.needs
                    .iter()
                    .filter(|e| with_optional || !e.optional)
                    .filter_map(|e| self.index.get(e.to.as_str()).copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn find_cycles(&self) -> HashSet<usize> {
        // Iterative three-colour DFS; members of any back edge's cycle are marked.
        let n = self.p.jobs.len();
        let mut colour = vec![0u8; n];
        let mut cyclic = HashSet::new();
        for root in 0..n {
            if colour.get(root) != Some(&0) {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            let mut path: Vec<usize> = vec![root];
            if let Some(c) = colour.get_mut(root) {
                *c = 1;
            }
            while let Some((node, next)) = stack.last().copied() {
                let preds = self.preds(node, true);
                if let Some(&m) = preds.get(next) {
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                    match colour.get(m) {
                        Some(0) => {
                            if let Some(c) = colour.get_mut(m) {
                                *c = 1;
                            }
                            stack.push((m, 0));
                            path.push(m);
                        }
                        Some(1) => {
                            if let Some(start) = path.iter().position(|&x| x == m) {
                                cyclic.extend(path.iter().skip(start).copied());
                            }
                        }
                        _ => {}
                    }
                } else {
                    if let Some(c) = colour.get_mut(node) {
                        *c = 2;
                    }
                    stack.pop();
                    path.pop();
                }
            }
        }
        cyclic
    }

    fn job_gate_like(&self, j: usize) -> bool {
        self.fake_job.get(j).copied().unwrap_or(false)
            || self
                .steps
                .get(j)
                .is_some_and(|s| s.iter().any(StepFacts::is_gate_like))
    }

    /// All jobs upstream of `j`.
    fn ancestors(&self, j: usize, with_optional: bool) -> Vec<usize> {
        let mut seen = HashSet::new();
        let mut todo = self.preds(j, with_optional);
        let mut out = Vec::new();
        while let Some(a) = todo.pop() {
            if a == j || !seen.insert(a) {
                continue;
            }
            out.push(a);
            todo.extend(self.preds(a, with_optional));
        }
        out.sort_unstable();
        out
    }

    fn step_loc(&self, j: usize, s: usize, label: &str) -> Location {
        let pos = self
            .p
            .jobs
            .get(j)
            .and_then(|job| job.steps.get(s))
            .map(|st| {
                let hit_off = self
                    .steps
                    .get(j)
                    .and_then(|v| v.get(s))
                    .and_then(|f| f.hit.as_ref())
                    .and_then(|h| h.run_offset);
                match (hit_off, &st.run) {
                    (Some(off), Some(run)) if self.foreign(j).is_none() => run.pos_at(off, self.lines),
                    _ => st.pos,
                }
            })
            .unwrap_or_default();
        loc(self.file(j), pos, label)
    }

    fn step_desc(&self, j: usize, s: usize) -> String {
        let job = self.p.jobs.get(j);
        let step = job.and_then(|jb| jb.steps.get(s));
        format!(
            "'{}' in job '{}'",
            step.map(Step::label).unwrap_or_default(),
            job.map(Job::label).unwrap_or_default()
        )
    }

    /// Gate-like (job, step) pairs that lie on the deploy's path.
    fn path_gates(&self, j: usize, s: usize) -> Vec<(usize, Option<usize>)> {
        let mut out = Vec::new();
        if let Some(sf) = self.steps.get(j) {
            for (i, f) in sf.iter().enumerate().take(s) {
                if f.is_gate_like() {
                    out.push((j, Some(i)));
                }
            }
        }
        for a in self.ancestors(j, false) {
            if self.fake_job.get(a).copied().unwrap_or(false) {
                out.push((a, None));
            }
            if let Some(sf) = self.steps.get(a) {
                for (i, f) in sf.iter().enumerate() {
                    if f.is_gate_like() {
                        out.push((a, Some(i)));
                    }
                }
            }
        }
        out
    }

    /// The file job `j` is written in.
    fn file(&self, j: usize) -> &str {
        self.foreign(j).unwrap_or(&self.p.file)
    }

    fn foreign(&self, j: usize) -> Option<&str> {
        self.p.jobs.get(j).and_then(|jb| jb.file.as_deref())
    }

    fn gate_loc(&self, g: (usize, Option<usize>)) -> Location {
        match g.1 {
            Some(s) => self.step_loc(g.0, s, "gate"),
            None => loc(
                self.file(g.0),
                self.p.jobs.get(g.0).map(|j| j.pos).unwrap_or_default(),
                "gate",
            ),
        }
    }

    fn deploys(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (j, sf) in self.steps.iter().enumerate() {
            for (s, f) in sf.iter().enumerate() {
                if f.is_deploy() {
                    out.push((j, s));
                }
            }
        }
        out
    }

    fn deploy_confidence(&self, j: usize, s: usize) -> Confidence {
        self.steps
            .get(j)
            .and_then(|v| v.get(s))
            .and_then(|f| f.hit.as_ref())
            .map_or(Confidence::Low, |h| h.confidence)
    }
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether a gate condition restricts when the gate runs in a way a deploy
/// could avoid (event, branch, input, variable), as opposed to a pure status
/// check like `success()`.
fn restricts(cond: &str) -> bool {
    let c = normalise(cond);
    let status_only = [
        "success()",
        "succeeded()",
        "${{success()}}",
        "on_success",
        "always",
    ];
    !status_only.contains(&c.as_str())
        && !c.is_empty()
        && !crate::github::runs_on_failure(&c)
        && !crate::azure::runs_on_failure(&c)
}

fn conditions_of(job: &Job, step: Option<&Step>) -> Vec<Text> {
    let mut v = job.conditions.clone();
    if let Some(s) = step {
        v.extend(s.conditions.iter().cloned());
    }
    v
}

fn references_input(text: &str, name: &str) -> Option<usize> {
    let forms = [
        format!("inputs.{name}"),
        format!("parameters.{name}"),
        format!("params.{name}"),
        format!("${{{name}}}"),
        format!("${name}"),
        format!("%{name}%"),
    ];
    for f in &forms {
        let mut from = 0;
        while let Some(rel) = text.get(from..).and_then(|t| t.find(f.as_str())) {
            let at = from + rel;
            let end = at + f.len();
            let next = text.get(end..).and_then(|t| t.chars().next());
            if next.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-')) {
                return Some(at);
            }
            from = end;
        }
    }
    None
}

/// The repository alias of an unresolved `template: path@repo` marker.
fn template_repo(what: &str) -> Option<&str> {
    let rest = what.strip_prefix("template '")?;
    let tpl = rest.split('\'').next()?;
    let (_, repo) = tpl.rsplit_once('@')?;
    (!repo.is_empty()).then_some(repo)
}

/// Words of a job name or environment that say the target is not
/// production: a deploy there is how a model is evaluated before release.
const PREPRODUCTION: &[&str] = &[
    "test",
    "testing",
    "staging",
    "dev",
    "development",
    "qa",
    "sandbox",
    "nonprod",
    "preprod",
    "uat",
];

/// The words of a name, split at non-alphanumerics and at camelCase humps
/// (`DeployToTest` → deploy, to, test), lowercased.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Whether a deploy job targets a pre-production stage by its id, name or
/// environment (and none of them says production).
fn is_preproduction(job: &Job) -> bool {
    let mut words = name_words(&job.id);
    words.extend(job.name.as_deref().map(name_words).unwrap_or_default());
    words.extend(
        job.environment
            .as_ref()
            .map(|e| name_words(&e.value))
            .unwrap_or_default(),
    );
    let prod = words
        .iter()
        .any(|w| w == "prod" || w == "production" || w == "prd");
    !prod && words.iter().any(|w| PREPRODUCTION.contains(&w.as_str()))
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

/// Runs every rule over one pipeline.
pub fn check(p: &Pipeline, lines: &[&str]) -> Vec<Finding> {
    let f = Facts::new(p, lines);
    let mut out = Vec::new();
    let deploys = f.deploys();
    // A GitHub workflow only ever called by other workflows: its caller's
    // job is the deploy that needs the gate and the approval, and the caller
    // is audited where it is written.
    let reusable = p.system == System::GithubActions
        && !p.triggers.is_empty()
        && p.triggers.iter().all(|t| t.value == "workflow_call");
    let any_gate = (0..p.jobs.len()).any(|j| f.job_gate_like(j));

    for &j in &{
        let mut c: Vec<usize> = f.cyclic.iter().copied().collect();
        c.sort_unstable();
        c
    } {
        if let Some(job) = p.jobs.get(j) {
            out.push(
                finding(
                    &JOB_GRAPH_CYCLE,
                    format!("job '{}' is part of a dependency cycle", job.label()),
                )
                .at(loc(f.file(j), job.pos, "job")),
            );
        }
    }

    // Many steps from one other repository are one blind spot: report the
    // first, with the count, rather than one finding per template line.
    let mut seen_repos: HashMap<&str, usize> = HashMap::new();
    for m in &p.unresolved {
        if let Some(r) = template_repo(&m.what) {
            *seen_repos.entry(r).or_insert(0) += 1;
        }
    }
    let mut reported_repos: HashSet<&str> = HashSet::new();
    for m in &p.unresolved {
        let repo = template_repo(&m.what);
        if let Some(r) = repo {
            if !reported_repos.insert(r) {
                continue;
            }
        }
        let more = repo
            .and_then(|r| seen_repos.get(r))
            .filter(|n| **n > 1)
            .map(|n| {
                format!(
                    " (and {} more templates from '{}')",
                    n - 1,
                    repo.unwrap_or_default()
                )
            })
            .unwrap_or_default();
        out.push(
            finding(
                &PIPELINE_NOT_ANALYSABLE,
                format!("not analysed: {}{more}; gates defined there are not seen", m.what),
            )
            .at(loc(&p.file, m.pos, "unresolved"))
            .confidence(Confidence::High),
        );
    }

    for &(j, s) in &deploys {
        let Some(job) = p.jobs.get(j) else { continue };
        let Some(step) = job.steps.get(s) else {
            continue;
        };
        let desc = f.step_desc(j, s);
        let dloc = f.step_loc(j, s, "deploy step");
        let conf = f.deploy_confidence(j, s);
        let gates = f.path_gates(j, s);
        let upstream_gate_workflow = p.triggers.iter().any(|t| {
            t.value
                .strip_prefix("workflow_run:")
                .is_some_and(|w| classify::classify_name(w) == Some(Kind::Gate))
        });
        let preprod = is_preproduction(job);
        if gates.is_empty() && !upstream_gate_workflow && !reusable {
            let optional_gate = f.ancestors(j, true).into_iter().find(|&a| f.job_gate_like(a));
            let elsewhere = (0..p.jobs.len()).find(|&a| a != j && f.job_gate_like(a));
            match optional_gate.or(elsewhere) {
                Some(g) => {
                    let how = if optional_gate.is_some() {
                        "only through an optional need"
                    } else if job.empty_needs.is_some() {
                        "because it declares needs: []"
                    } else {
                        "from a job it does not wait for"
                    };
                    let gl = f
                        .steps
                        .get(g)
                        .and_then(|v| v.iter().position(StepFacts::is_gate_like));
                    out.push(
                        finding(
                            &GATE_NOT_ON_DEPLOY_PATH,
                            format!(
                                "deploy step {desc} can run without gate job '{}': reached {how}",
                                p.jobs.get(g).map(Job::label).unwrap_or_default()
                            ),
                        )
                        .at(dloc.clone())
                        .related(f.gate_loc((g, gl)))
                        .confidence(conf),
                    );
                }
                None => {
                    let c = if p.unresolved.is_empty() {
                        conf
                    } else {
                        Confidence::Low
                    };
                    let _ = any_gate;
                    let mut fd = finding(
                        &DEPLOY_WITHOUT_GATE,
                        format!(
                            "deploy step {desc} has no evaluation or scan gate on any path before it{}",
                            if preprod {
                                " (the job names a pre-production target, so this is reported as low)"
                            } else {
                                ""
                            }
                        ),
                    )
                    .at(dloc.clone())
                    .confidence(c);
                    if preprod {
                        fd.severity = Severity::Low;
                    }
                    out.push(fd);
                }
            }
        } else if let Some(&g) = gates.first() {
            // Runs on failure: step-level when the gate is in the same job,
            // job-level or edge-level otherwise.
            let same_job = gates.iter().any(|x| x.0 == j);
            let marker = if same_job {
                step.runs_on_failure.clone()
            } else {
                None
            }
            .or_else(|| job.runs_on_failure.clone())
            .or_else(|| job.needs.iter().find_map(|e| e.on_failure.clone()));
            if let Some(m) = marker {
                out.push(
                    finding(
                        &DEPLOY_RUNS_ON_GATE_FAILURE,
                        format!(
                            "deploy step {desc} runs even when the gate fails, because of `{}`",
                            m.what
                        ),
                    )
                    .at(loc(f.file(j), m.pos, "condition"))
                    .related(dloc.clone())
                    .related(f.gate_loc(g))
                    .confidence(Confidence::High),
                );
            }
            // Conditional bypass: the gate has a restricting condition the
            // deploy lacks, and skipping the gate does not skip the deploy.
            let deploy_conds: String = conditions_of(job, Some(step))
                .iter()
                .map(|t| normalise(&t.value))
                .collect::<Vec<_>>()
                .join("&&");
            for &(gj, gs) in &gates {
                let Some(gjob) = p.jobs.get(gj) else { continue };
                let gstep = gs.and_then(|i| gjob.steps.get(i));
                let mut conds: Vec<(Text, bool)> = gstep
                    .map(|st| st.conditions.iter().map(|c| (c.clone(), true)).collect())
                    .unwrap_or_default();
                if gj != j {
                    conds.extend(gjob.conditions.iter().map(|c| (c.clone(), false)));
                }
                for (cond, step_level) in conds {
                    if !restricts(&cond.value) || deploy_conds.contains(&normalise(&cond.value)) {
                        continue;
                    }
                    let skip_blocks =
                        !step_level && p.system.skip_propagates() && job.runs_on_failure.is_none();
                    if skip_blocks {
                        continue;
                    }
                    out.push(
                        finding(
                            &CONDITIONAL_GATE_BYPASS,
                            format!(
                                "gate only runs when `{}`, but deploy step {desc} does not have that condition",
                                cond.value.trim()
                            ),
                        )
                        .at(dloc.clone())
                        .related(loc(f.file(gj), cond.pos, "gate condition"))
                        .confidence(Confidence::Medium),
                    );
                }
            }
        }

        // Approval.
        let mut approvers: Vec<usize> = f.ancestors(j, true);
        approvers.push(j);
        let approved = approvers.iter().any(|&a| {
            p.jobs.get(a).is_some_and(|jb| {
                jb.approval.is_some() || jb.manual.as_ref().is_some_and(|(_, b)| *b || a == j)
            })
        });
        if !approved && !reusable && !preprod {
            out.push(
                finding(
                    &DEPLOY_WITHOUT_APPROVAL,
                    format!(
                        "deploy step {desc} has no human approval in the pipeline definition (approval rules that live only in platform settings cannot be seen in the file)"
                    ),
                )
                .at(dloc.clone())
                .confidence(if conf == Confidence::High {
                    Confidence::Medium
                } else {
                    Confidence::Low
                }),
            );
        }
        for &a in &approvers {
            let Some(jb) = p.jobs.get(a) else { continue };
            if let Some(ap) = &jb.approval {
                if p.system == System::Jenkins && ap.submitter.is_none() && !ap.settings_only {
                    out.push(
                        finding(
                            &APPROVAL_WITHOUT_SUBMITTER,
                            format!(
                                "`{}` approves deploy step {desc} but names no submitter, so anyone with build access can approve",
                                ap.what
                            ),
                        )
                        .at(loc(f.file(a), ap.pos, "approval"))
                        .related(dloc.clone()),
                    );
                }
            }
            if a != j {
                if let Some((m, false)) = &jb.manual {
                    if !f.steps.get(a).is_some_and(|v| v.iter().any(StepFacts::is_deploy)) {
                        out.push(
                            finding(
                                &MANUAL_APPROVAL_NOT_BLOCKING,
                                format!(
                                    "manual job '{}' does not block deploy step {desc}: without allow_failure: false the pipeline continues without it",
                                    jb.label()
                                ),
                            )
                            .at(loc(f.file(a), m.pos, "manual job"))
                            .related(dloc.clone()),
                        );
                    }
                }
            }
        }

        // Deploy target from a free input.
        for input in p.inputs.iter().filter(|i| i.free_text) {
            let mut texts: Vec<&Text> = Vec::new();
            texts.extend(step.run.iter());
            texts.extend(step.with.iter().map(|(_, t)| t));
            texts.extend(job.environment.iter());
            let hit = texts
                .iter()
                .find_map(|t| references_input(&t.value, &input.name).map(|off| t.pos_at(off, lines)));
            if let Some(pos) = hit {
                out.push(
                    finding(
                        &DEPLOY_TARGET_FROM_INPUT,
                        format!(
                            "deploy step {desc} uses free-text input '{}', so the person starting the run picks the target",
                            input.name
                        ),
                    )
                    .at(loc(f.file(j), pos, "input use"))
                    .related(loc(&p.file, input.pos, "input"))
                    .related(dloc.clone()),
                );
            }
        }
    }

    let has_deploy = !deploys.is_empty();
    for (j, job) in p.jobs.iter().enumerate() {
        let sfs = f.steps.get(j).map(Vec::as_slice).unwrap_or_default();
        let job_gate = sfs.iter().any(StepFacts::is_real_gate);
        if job_gate {
            if let Some(m) = &job.allow_failure {
                out.push(
                    finding(
                        &GATE_ALLOWED_TO_FAIL,
                        format!(
                            "gate job '{}' may fail without stopping the pipeline (`{}`)",
                            job.label(),
                            m.what
                        ),
                    )
                    .at(loc(f.file(j), m.pos, "failure override")),
                );
            }
        }
        if f.fake_job.get(j).copied().unwrap_or(false)
            && (has_deploy || classify::classify_name(job.label()) == Some(Kind::Gate))
        {
            out.push(
                finding(
                    &FAKE_GATE,
                    format!(
                        "job '{}' looks like a check but its steps only print or succeed",
                        job.label()
                    ),
                )
                .at(loc(f.file(j), job.pos, "job")),
            );
        }
        for (s, (step, sf)) in job.steps.iter().zip(sfs).enumerate() {
            if sf.fake && !f.fake_job.get(j).copied().unwrap_or(false) {
                out.push(
                    finding(
                        &FAKE_GATE,
                        format!(
                            "step '{}' in job '{}' is named as a gate but only prints or succeeds",
                            step.label(),
                            job.label()
                        ),
                    )
                    .at(loc(f.file(j), step.pos, "step")),
                );
            }
            if !sf.is_real_gate() {
                continue;
            }
            if let Some(m) = &step.allow_failure {
                out.push(
                    finding(
                        &GATE_ALLOWED_TO_FAIL,
                        format!(
                            "gate step {} may fail without failing the job (`{}`)",
                            f.step_desc(j, s),
                            m.what
                        ),
                    )
                    .at(loc(f.file(j), m.pos, "failure override"))
                    .related(f.step_loc(j, s, "gate")),
                );
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
                    finding(
                        &GATE_RESULT_SWALLOWED,
                        format!(
                            "gate step {} runs after `set +e`, so its failure does not fail the job",
                            f.step_desc(j, s)
                        ),
                    )
                    .at(loc(f.file(j), r.pos_at(off, lines), "swallowed status"))
                    .related(f.step_loc(j, s, "gate")),
                );
            } else if let Some(run) = &step.run {
                if let Some((off, pat)) = swallowed(&run.value, sf) {
                    out.push(
                        finding(
                            &GATE_RESULT_SWALLOWED,
                            format!(
                                "gate step {} discards the gate's exit status with `{}`",
                                f.step_desc(j, s),
                                pat
                            ),
                        )
                        .at(loc(f.file(j), run.pos_at(off, lines), "swallowed status"))
                        .related(f.step_loc(j, s, "gate")),
                    );
                }
            }
            // Only GitHub references can name a commit: an Azure `task:
            // Name@2` picks a major version of a marketplace task, and there
            // is no finer pin to ask for.
            let pinnable = p.system == System::GithubActions;
            if let (Some(uses), true) = (&step.uses, pinnable) {
                if let Some(r) = unpinned_ref(&uses.value) {
                    out.push(
                        finding(
                            &GATE_UNPINNED,
                            format!("gate `{}` is pinned to '{}', not a commit SHA", uses.value, r),
                        )
                        .at(loc(f.file(j), uses.pos, "gate reference")),
                    );
                }
            }
        }
    }

    if p.system == System::GithubActions {
        for job in &p.jobs {
            let conds = job
                .conditions
                .iter()
                .chain(job.steps.iter().flat_map(|s| s.conditions.iter()));
            for c in conds {
                if always_true(&c.value) {
                    out.push(
                        finding(
                            &ALWAYS_TRUE_CONDITION,
                            format!(
                                "`if: {}` has text outside ${{{{ }}}}, so it is a non-empty string and always true",
                                c.value
                            ),
                        )
                        .at(loc(&p.file, c.pos, "condition")),
                    );
                }
            }
        }
    }
    out
}

/// Whether a GitHub `if:` mixes literal text with an expression.
fn always_true(cond: &str) -> bool {
    let t = cond.trim();
    if !t.contains("${{") {
        return false;
    }
    let single = t.starts_with("${{") && t.ends_with("}}") && t.matches("${{").count() == 1;
    !single
}

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

fn unpinned_ref(uses: &str) -> Option<&str> {
    if uses.starts_with("./") || uses.starts_with("docker://") {
        return None;
    }
    let (_, r) = uses.rsplit_once('@')?;
    let pinned = r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit());
    (!pinned).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_anchor_their_docs() {
        let mut seen = HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "duplicate {}", r.id);
            assert!(r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_eq!(r.docs, format!("audit-ci.md#{}", r.id));
        }
    }

    #[test]
    fn always_true_spots_text_outside_the_expression() {
        assert!(always_true("${{ github.ref }} == 'refs/heads/main'"));
        assert!(!always_true("${{ github.ref == 'refs/heads/main' }}"));
        assert!(!always_true("github.ref == 'refs/heads/main'"));
    }

    #[test]
    fn only_full_shas_count_as_pinned() {
        assert_eq!(unpinned_ref("acme/eval@main"), Some("main"));
        assert_eq!(
            unpinned_ref("acme/eval@0123456789abcdef0123456789abcdef01234567"),
            None
        );
        assert_eq!(unpinned_ref("./.github/workflows/eval.yml"), None);
    }

    #[test]
    fn input_references_need_a_name_boundary() {
        assert!(references_input("deploy ${{ inputs.target }}", "target").is_some());
        assert!(references_input("deploy ${{ inputs.target_x }}", "target").is_none());
        assert!(references_input("helm upgrade $ENDPOINT", "ENDPOINT").is_some());
    }
}
