//! The typed pipeline model every CI system is lowered into.
//!
//! Six CI systems say the same few things in different words: jobs, the edges
//! that order them, the conditions under which each runs, whether a failure
//! may be ignored, and where a human must approve. The rules are written once
//! against this model; each parser's job is to translate faithfully and keep
//! the source position of everything it translates.

use crate::yaml::{Node, Pos, Style};

/// Which CI system a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum System {
    /// GitHub Actions workflow, reusable workflow or composite action.
    GithubActions,
    /// GitLab CI.
    GitlabCi,
    /// Azure Pipelines.
    AzurePipelines,
    /// Jenkins declarative pipeline.
    Jenkins,
    /// Argo Workflows.
    Argo,
    /// Tekton pipelines.
    Tekton,
    /// CircleCI.
    CircleCi,
    /// Bitbucket Pipelines.
    Bitbucket,
    /// Google Cloud Build.
    CloudBuild,
    /// AWS CodeBuild buildspec.
    CodeBuild,
}

impl System {
    /// A stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            System::GithubActions => "github-actions",
            System::GitlabCi => "gitlab-ci",
            System::AzurePipelines => "azure-pipelines",
            System::Jenkins => "jenkins",
            System::Argo => "argo-workflows",
            System::Tekton => "tekton",
            System::CircleCi => "circleci",
            System::Bitbucket => "bitbucket-pipelines",
            System::CloudBuild => "cloud-build",
            System::CodeBuild => "codebuild",
        }
    }

    /// Whether a job skipped by its own condition also skips the jobs that
    /// depend on it (GitHub and Azure), rather than letting them run
    /// (GitLab stages, Jenkins, Argo, Tekton).
    pub fn skip_propagates(self) -> bool {
        matches!(self, System::GithubActions | System::AzurePipelines)
    }
}

/// A piece of source text with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// The text.
    pub value: String,
    /// Where it starts.
    pub pos: Pos,
    /// How it was written, to map offsets inside it back to the source.
    pub style: Style,
}

impl Text {
    /// A plain text at a position.
    pub fn new(value: impl Into<String>, pos: Pos) -> Self {
        Text {
            value: value.into(),
            pos,
            style: Style::Plain,
        }
    }

    /// The text of a YAML scalar node, keeping its style.
    pub fn from_node(node: &Node) -> Option<Text> {
        Some(Text {
            value: node.as_str()?.to_string(),
            pos: node.pos,
            style: node.style()?,
        })
    }

    /// The source position of a byte offset inside the text.
    pub fn pos_at(&self, byte_offset: usize, lines: &[&str]) -> Pos {
        crate::yaml::pos_in_text(&self.value, self.style, self.pos, byte_offset, lines)
    }
}

/// A marker found in the source: which construct and where (for example
/// `continue-on-error: true` at 12:9).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The construct as written, e.g. `continue-on-error: true`.
    pub what: String,
    /// Where it is.
    pub pos: Pos,
    /// The file it is in, when not the pipeline's own (an included
    /// template).
    pub file: Option<String>,
}

impl Marker {
    /// A marker.
    pub fn new(what: impl Into<String>, pos: Pos) -> Self {
        Marker {
            what: what.into(),
            pos,
            file: None,
        }
    }
}

/// A user-supplied input of a pipeline (dispatch input, parameter, prompted
/// variable).
#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    /// Its name.
    pub name: String,
    /// Whether any string is accepted (no fixed choice list, not boolean).
    pub free_text: bool,
    /// Where it is declared.
    pub pos: Pos,
}

/// How a human approval is expressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    /// The construct (`environment: production`, `input`, `suspend`, ...).
    pub what: String,
    /// Where it is.
    pub pos: Pos,
    /// Who may approve, when the file says so (Jenkins `submitter`).
    pub submitter: Option<String>,
    /// Whether the file itself names the approvers or the approval lives in
    /// platform settings that YAML cannot show.
    pub settings_only: bool,
}

/// An ordering edge from a job to one it waits for.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The id of the job waited for.
    pub to: String,
    /// Whether the edge may be absent (GitLab `optional: true`).
    pub optional: bool,
    /// The dependent runs even if that job fails (Argo `depends: a.Failed`).
    pub on_failure: Option<Marker>,
    /// Where the edge is written (the job's position for implicit stage order).
    pub pos: Pos,
}

impl Edge {
    /// A plain edge to `to`, written at `pos`.
    pub fn after(to: impl Into<String>, pos: Pos) -> Self {
        Edge {
            to: to.into(),
            optional: false,
            on_failure: None,
            pos,
        }
    }
}

/// One step (a shell command, an action, a task call).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// Display name, if any.
    pub name: Option<String>,
    /// Where the step starts.
    pub pos: Pos,
    /// The shell script.
    pub run: Option<Text>,
    /// A referenced action, task, template or reusable workflow.
    pub uses: Option<Text>,
    /// Inputs given to `uses` (`with:`, `inputs:`), name and value.
    pub with: Vec<(String, Text)>,
    /// Conditions guarding the step.
    pub conditions: Vec<Text>,
    /// The step runs even after an earlier failure (`if: always()`).
    pub runs_on_failure: Option<Marker>,
    /// The step's failure is ignored (`continue-on-error: true`).
    pub allow_failure: Option<Marker>,
    /// The file the step is written in, when not its job's (a steps
    /// template).
    pub file: Option<String>,
    /// Repository scripts its `run` text invokes, read (see
    /// [`crate::scripts`]).
    pub scripts: Vec<ScriptRef>,
}

/// A repository script a step runs, with its text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScriptRef {
    /// Repository-relative path, as invoked.
    pub path: String,
    /// Byte offset of the invoking line in the step's `run` text.
    pub run_offset: usize,
    /// The script's text.
    pub text: String,
}

impl Step {
    /// A short human label: name, else `uses`, else the first script line.
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        if let Some(u) = &self.uses {
            return u.value.clone();
        }
        if let Some(r) = &self.run {
            let first = r.value.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let first = first.trim();
            let cut: String = first.chars().take(60).collect();
            return cut;
        }
        "step".into()
    }
}

/// A job (GitHub job, GitLab job, Azure job, Jenkins stage, Argo/Tekton task).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Job {
    /// Unique id within the pipeline.
    pub id: String,
    /// Display name, if different from the id.
    pub name: Option<String>,
    /// Where the job starts.
    pub pos: Pos,
    /// Jobs this one waits for.
    pub needs: Vec<Edge>,
    /// Written as "waits for nothing" (GitLab `needs: []`).
    pub empty_needs: Option<Pos>,
    /// Conditions guarding the job.
    pub conditions: Vec<Text>,
    /// The job runs even when an upstream job failed.
    pub runs_on_failure: Option<Marker>,
    /// The job's failure is ignored.
    pub allow_failure: Option<Marker>,
    /// A human approval that blocks this job.
    pub approval: Option<Approval>,
    /// A manual job (GitLab `when: manual`) and whether it blocks later jobs.
    pub manual: Option<(Marker, bool)>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Deployment environment expression, when given (may name an input).
    pub environment: Option<Text>,
    /// The file the job is written in, when not the pipeline's own file
    /// (a GitLab `include:` or an Azure template).
    pub file: Option<String>,
}

impl Job {
    /// Display label.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// A pipeline: one workflow file, one GitLab/Azure root, one Jenkinsfile, one
/// Argo/Tekton document.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// The file, as the user named it.
    pub file: String,
    /// The CI system.
    pub system: System,
    /// Events that start it (`push`, `pull_request`, `workflow_dispatch`, ...).
    pub triggers: Vec<Text>,
    /// User inputs.
    pub inputs: Vec<UserInput>,
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Parts that could not be resolved (remote includes, external templates);
    /// a gate may hide there, so absence findings lose confidence.
    pub unresolved: Vec<Marker>,
}

impl Pipeline {
    /// An empty pipeline for `file`.
    pub fn new(file: impl Into<String>, system: System) -> Self {
        Pipeline {
            file: file.into(),
            system,
            triggers: Vec::new(),
            inputs: Vec::new(),
            jobs: Vec::new(),
            unresolved: Vec::new(),
        }
    }
}
