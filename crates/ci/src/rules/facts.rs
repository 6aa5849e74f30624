//! The facts every rule reads, computed once per pipeline: what each step
//! is (deploy, gate, fake gate), which jobs only pretend to check, the job
//! graph and its cycles, and for each deploy step the gates on its path and
//! the jobs that could approve it.
//!
//! Rules never classify steps or walk the graph themselves, so two rules
//! cannot disagree about what a gate is.

use std::collections::{HashMap, HashSet};

use portcullis_evidence::{Confidence, Location};

use crate::classify::{self, Hit, Kind};
use crate::model::{Job, Pipeline, Step, System};
use crate::yaml::Pos;

/// A labelled location at `pos` in `file`.
pub(crate) fn loc(file: &str, pos: Pos, label: &str) -> Location {
    Location::file(file).line_col(pos.line, pos.col).label(label)
}

/// What one step is, for the rules.
#[derive(Debug, Clone)]
pub(crate) struct StepFacts {
    /// The classification row the step matched.
    pub(crate) hit: Option<Hit>,
    /// A gate by name whose script does nothing.
    pub(crate) fake: bool,
}

impl StepFacts {
    /// The step deploys or publishes a model.
    pub(crate) fn is_deploy(&self) -> bool {
        self.hit.as_ref().is_some_and(|h| h.kind == Kind::Deploy)
    }
    /// The step runs a gate that checks something.
    pub(crate) fn is_real_gate(&self) -> bool {
        !self.fake && self.hit.as_ref().is_some_and(|h| h.kind == Kind::Gate)
    }
    /// The step is a gate, real or fake.
    pub(crate) fn is_gate_like(&self) -> bool {
        self.fake || self.is_real_gate()
    }
}

/// Per-pipeline facts every rule reads.
pub(crate) struct Facts<'a> {
    /// The pipeline.
    pub(crate) p: &'a Pipeline,
    /// The lines of the file the pipeline was parsed from.
    pub(crate) lines: &'a [&'a str],
    index: HashMap<&'a str, usize>,
    /// Per job, per step: what the step is.
    pub(crate) steps: Vec<Vec<StepFacts>>,
    /// Per job: named as a check, but every step only prints or succeeds.
    pub(crate) fake_job: Vec<bool>,
    /// Jobs on a dependency cycle.
    pub(crate) cyclic: HashSet<usize>,
    /// Every deploy step, in job then step order.
    pub(crate) deploys: Vec<DeployFacts<'a>>,
    /// A GitHub workflow only ever called by other workflows: its caller's
    /// job is the deploy that needs the gate and the approval, and the caller
    /// is audited where it is written.
    pub(crate) reusable: bool,
    /// The workflow is triggered by a gate workflow finishing
    /// (`workflow_run` of a workflow named as a gate).
    pub(crate) upstream_gate_workflow: bool,
}

/// One deploy step and what lies before it.
pub(crate) struct DeployFacts<'a> {
    /// Index of its job.
    pub(crate) j: usize,
    /// The job.
    pub(crate) job: &'a Job,
    /// The step.
    pub(crate) step: &'a Step,
    /// `'step' in job 'job'`, for messages.
    pub(crate) desc: String,
    /// Where the deploy is, labelled "deploy step".
    pub(crate) loc: Location,
    /// How sure the classification is that the step deploys.
    pub(crate) confidence: Confidence,
    /// Gate-like (job, step) pairs on its path (see [`Facts::path_gates`]).
    pub(crate) gates: Vec<(usize, Option<usize>)>,
    /// The job names a pre-production target.
    pub(crate) preprod: bool,
    /// Jobs upstream of the deploy, optional needs included, then its own job.
    pub(crate) approvers: Vec<usize>,
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
    /// Classifies every step and job of `p` and walks its graph once.
    pub(crate) fn new(p: &'a Pipeline, lines: &'a [&'a str]) -> Self {
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
        let reusable = p.system == System::GithubActions
            && !p.triggers.is_empty()
            && p.triggers.iter().all(|t| t.value == "workflow_call");
        let upstream_gate_workflow = p.triggers.iter().any(|t| {
            t.value
                .strip_prefix("workflow_run:")
                .is_some_and(|w| classify::classify_name(w) == Some(Kind::Gate))
        });
        let mut facts = Facts {
            p,
            lines,
            index,
            steps,
            fake_job,
            cyclic: HashSet::new(),
            deploys: Vec::new(),
            reusable,
            upstream_gate_workflow,
        };
        facts.cyclic = facts.find_cycles();
        facts.deploys = facts.deploy_facts();
        facts
    }

    fn deploy_facts(&self) -> Vec<DeployFacts<'a>> {
        let p = self.p;
        self.deploys()
            .into_iter()
            .filter_map(|(j, s)| {
                let job = p.jobs.get(j)?;
                let step = job.steps.get(s)?;
                let mut approvers = self.ancestors(j, true);
                approvers.push(j);
                Some(DeployFacts {
                    j,
                    job,
                    step,
                    desc: self.step_desc(j, s),
                    loc: self.step_loc(j, s, "deploy step"),
                    confidence: self.deploy_confidence(j, s),
                    gates: self.path_gates(j, s),
                    preprod: is_preproduction(job),
                    approvers,
                })
            })
            .collect()
    }

    /// A deploy with no gate on its path, where nothing outside the file
    /// (a gate workflow that triggers this one, the caller of a reusable
    /// workflow) can stand in for one.
    pub(crate) fn ungated(&self, d: &DeployFacts<'_>) -> bool {
        d.gates.is_empty() && !self.upstream_gate_workflow && !self.reusable
    }

    /// For an ungated deploy, a gate job of the pipeline it could have waited
    /// for, and whether it reaches that job only through an optional need.
    pub(crate) fn stray_gate(&self, d: &DeployFacts<'_>) -> Option<(usize, bool)> {
        if let Some(g) = self
            .ancestors(d.j, true)
            .into_iter()
            .find(|&a| self.job_gate_like(a))
        {
            return Some((g, true));
        }
        (0..self.p.jobs.len())
            .find(|&a| a != d.j && self.job_gate_like(a))
            .map(|g| (g, false))
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

    /// Job `j` is a gate job, real or fake.
    pub(crate) fn job_gate_like(&self, j: usize) -> bool {
        self.fake_job.get(j).copied().unwrap_or(false)
            || self
                .steps
                .get(j)
                .is_some_and(|s| s.iter().any(StepFacts::is_gate_like))
    }

    /// All jobs upstream of `j`.
    pub(crate) fn ancestors(&self, j: usize, with_optional: bool) -> Vec<usize> {
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

    /// Where step `s` of job `j` is: the matching script line when the
    /// classification came from the script, else the step.
    pub(crate) fn step_loc(&self, j: usize, s: usize, label: &str) -> Location {
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
                    (Some(off), Some(run)) if self.foreign(j).is_none() && st.file.is_none() => {
                        run.pos_at(off, self.lines)
                    }
                    _ => st.pos,
                }
            })
            .unwrap_or_default();
        loc(self.step_file(j, s), pos, label)
    }

    /// The file step `s` of job `j` is written in: a steps template, else
    /// its job's file.
    pub(crate) fn step_file(&self, j: usize, s: usize) -> &str {
        self.p
            .jobs
            .get(j)
            .and_then(|jb| jb.steps.get(s))
            .and_then(|st| st.file.as_deref())
            .unwrap_or_else(|| self.file(j))
    }

    /// `'step' in job 'job'`, for messages.
    pub(crate) fn step_desc(&self, j: usize, s: usize) -> String {
        let job = self.p.jobs.get(j);
        let step = job.and_then(|jb| jb.steps.get(s));
        let via = self
            .steps
            .get(j)
            .and_then(|v| v.get(s))
            .and_then(|f| f.hit.as_ref())
            .and_then(|h| h.via.as_deref())
            .map(|v| format!(" (its command is at {v})"))
            .unwrap_or_default();
        format!(
            "'{}' in job '{}'{via}",
            step.map(Step::label).unwrap_or_default(),
            job.map(Job::label).unwrap_or_default()
        )
    }

    /// Gate-like (job, step) pairs that lie on the deploy's path.
    pub(crate) fn path_gates(&self, j: usize, s: usize) -> Vec<(usize, Option<usize>)> {
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
    pub(crate) fn file(&self, j: usize) -> &str {
        self.foreign(j).unwrap_or(&self.p.file)
    }

    fn foreign(&self, j: usize) -> Option<&str> {
        self.p.jobs.get(j).and_then(|jb| jb.file.as_deref())
    }

    /// Where a gate (job, optional step) is, labelled "gate".
    pub(crate) fn gate_loc(&self, g: (usize, Option<usize>)) -> Location {
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
