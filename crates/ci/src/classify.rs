//! Data-driven tables that recognise deploy/publish steps and gate steps.
//!
//! Each row is a list of words that must appear, in order, on one line of a
//! script (or in an action reference with its inputs), an optional list of
//! which at least one must also appear, and a confidence. Words match only at
//! a word start, so `eval` matches `evaluate.py` and `model-eval` but not
//! `retrieval`. Adding a tool is adding a row; nothing else changes.

use portcullis_evidence::Confidence;

use crate::model::Step;

/// What a step does, as far as gating is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Deploys or publishes a model.
    Deploy,
    /// Evaluates, scans or otherwise gates a model.
    Gate,
}

/// One row of a classifier table.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    /// What the row recognises.
    pub kind: Kind,
    /// A short label for messages ("Azure ML online deployment").
    pub label: &'static str,
    /// Words that must all appear on one line, in this order.
    pub all: &'static [&'static str],
    /// At least one of these must also appear on that line (empty: none needed).
    pub any: &'static [&'static str],
    /// How sure a match makes us.
    pub confidence: Confidence,
}

/// Words that say where a model is served: the [`MODELISH`] words, then
/// `endpoint` and `sagemaker`, which name a serving place without a model.
const SERVING: &[&str] = &[
    "model",
    "serving",
    "inference",
    "predict",
    "llm",
    "triton",
    "kserve",
    "seldon",
    "vllm",
    "torchserve",
    "bento",
    "scoring",
    "isvc",
    "inferenceservice",
    "seldondeployment",
    "endpoint",
    "sagemaker",
];

/// Words that say an image, chart or manifest serves a model.
const MODELISH: &[&str] = SERVING.split_at(SERVING.len() - 2).0;

/// Words that say a script evaluates a model.
const EVALISH: &[&str] = &[
    "eval",
    "redteam",
    "red-team",
    "red_team",
    "bias",
    "fairness",
    "robustness",
    "safety",
    "jailbreak",
    "modelscan",
    "model-scan",
    "model_scan",
    "scan-model",
    "scan_model",
    "validate-model",
    "validate_model",
    "model-validation",
    "model_validation",
];

const fn p(
    kind: Kind,
    label: &'static str,
    all: &'static [&'static str],
    any: &'static [&'static str],
    confidence: Confidence,
) -> Pattern {
    Pattern {
        kind,
        label,
        all,
        any,
        confidence,
    }
}

use Confidence::{High, Low, Medium};
use Kind::{Deploy, Gate};

/// Actions that move files or set up tools; a step using one is never a
/// gate or a deploy because of its name ("Upload eval report").
const UTILITY_ACTIONS: &[&str] = &[
    "upload-artifact",
    "download-artifact",
    "actions/cache",
    "checkout",
    "setup-",
    "github-script",
    "slack",
    "publishtestresults",
    "publishbuildartifacts",
    // Posting a comment reports a result; it checks nothing.
    "comment-pull-request",
    "create-or-update-comment",
    "sticky-pull-request-comment",
    "pull-request-comment",
    "add-pr-comment",
    "upload-sarif",
];

/// Rows matched against script lines and action references.
pub const PATTERNS: &[Pattern] = &[
    // --- deploy / publish ---
    p(
        Deploy,
        "Azure ML online deployment",
        &["az", "ml", "online-deployment"],
        &["create", "update"],
        High,
    ),
    p(
        Deploy,
        "Azure ML batch deployment",
        &["az", "ml", "batch-deployment"],
        &["create", "update"],
        High,
    ),
    p(
        Deploy,
        "Azure ML online deployment (SDK)",
        &["online_deployments", "begin_create_or_update"],
        &[],
        High,
    ),
    p(
        Deploy,
        "Azure ML endpoint traffic switch",
        &["az", "ml", "online-endpoint", "update", "traffic"],
        &[],
        High,
    ),
    p(
        Deploy,
        "SageMaker endpoint",
        &["sagemaker"],
        // Whole commands: `create-endpoint-config` only prepares one.
        &[
            "create-endpoint ",
            "update-endpoint ",
            "create_endpoint(",
            "update_endpoint(",
        ],
        High,
    ),
    p(
        Deploy,
        "Azure ML (v1 CLI) model deploy",
        &["az", "ml", "model", "deploy"],
        &[],
        High,
    ),
    p(
        Deploy,
        "endpoint traffic allocation",
        &["traffic"],
        &["endpoint", "deployment"],
        Low,
    ),
    p(
        Deploy,
        "SageMaker model deploy (SDK)",
        &["sagemaker", ".deploy("],
        &[],
        Medium,
    ),
    p(
        Deploy,
        "Vertex AI endpoint deploy",
        &["gcloud", "ai", "endpoints", "deploy-model"],
        &[],
        High,
    ),
    p(
        Deploy,
        "Vertex AI deploy (SDK)",
        &["aiplatform", ".deploy("],
        &[],
        Medium,
    ),
    p(
        Deploy,
        "Hugging Face Hub upload",
        &["huggingface-cli", "upload"],
        &[],
        High,
    ),
    p(Deploy, "Hugging Face Hub upload", &["hf", "upload"], &[], Medium),
    p(Deploy, "Hugging Face Hub push", &["push_to_hub"], &[], High),
    p(
        Deploy,
        "Hugging Face Hub upload (SDK)",
        &["upload_folder"],
        &["repo_id", "hub"],
        Medium,
    ),
    p(
        Deploy,
        "MLflow stage transition",
        &["transition"],
        &["production"],
        High,
    ),
    p(
        Deploy,
        "MLflow alias",
        &["alias"],
        &["production", "champion", "prod"],
        Medium,
    ),
    p(
        Deploy,
        "MLflow deployment",
        &["mlflow", "deployments", "create"],
        &[],
        High,
    ),
    p(
        Deploy,
        "KServe/Seldon manifest apply",
        &["kubectl", "apply"],
        MODELISH,
        High,
    ),
    p(
        Deploy,
        "KServe/Seldon manifest apply",
        &["kubectl", "create"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "KServe inference service",
        &["kind:", "inferenceservice"],
        &[],
        High,
    ),
    p(
        Deploy,
        "Seldon deployment",
        &["kind:", "seldondeployment"],
        &[],
        High,
    ),
    p(Deploy, "BentoML deploy", &["bentoml", "deploy"], &[], High),
    p(
        Deploy,
        "BentoML deployment",
        &["bentoml", "deployment"],
        &["create", "update", "apply"],
        High,
    ),
    p(
        Deploy,
        "serving image push",
        &["docker", "push"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "serving image push",
        &["build-push-action", "push=true"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "serving image push",
        &["docker", "buildx", "build", "--push"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "model server helm release",
        &["helm", "upgrade"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "model server helm release",
        &["helm", "install"],
        MODELISH,
        Medium,
    ),
    // A Lambda, a stack or a CDK app ships a model when it names one (or
    // its endpoint); the same commands ship web backends too.
    p(
        Deploy,
        "AWS Lambda code update",
        &["aws", "lambda", "update-function-code"],
        SERVING,
        Medium,
    ),
    p(
        Deploy,
        "AWS Lambda code update",
        &["aws", "lambda", "update-function-configuration"],
        SERVING,
        Medium,
    ),
    p(
        Deploy,
        "model copied to a serving bucket",
        &["aws", "s3", "model"],
        &["serving", "inference", "endpoint", "prod", "production"],
        Low,
    ),
    p(
        Deploy,
        "CloudFormation stack deploy",
        &["aws", "cloudformation", "deploy"],
        SERVING,
        Medium,
    ),
    p(
        Deploy,
        "CloudFormation stack deploy",
        &["aws", "cloudformation", "create-stack"],
        SERVING,
        Medium,
    ),
    p(
        Deploy,
        "CloudFormation stack deploy",
        &["aws", "cloudformation", "update-stack"],
        SERVING,
        Medium,
    ),
    p(
        Deploy,
        "CloudFormation stack deploy",
        &["cfnupdate"],
        SERVING,
        Medium,
    ),
    p(Deploy, "CDK deploy", &["cdk", "deploy"], SERVING, Medium),
    p(
        Deploy,
        "serving image push",
        &["buildah", "push"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "serving image push",
        &["podman", "push"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "serving image rollout",
        &["kubectl", "set", "image"],
        MODELISH,
        High,
    ),
    p(
        Deploy,
        "serving rollout restart",
        &["kubectl", "rollout", "restart"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "Hugging Face Hub push",
        &["git", "push"],
        &["huggingface.co", "hf.co"],
        High,
    ),
    p(
        Deploy,
        "GitOps image bump",
        &["kustomize", "edit", "set", "image"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "Argo CD sync",
        &["argocd", "app", "sync"],
        MODELISH,
        Medium,
    ),
    p(
        Deploy,
        "Argo CD sync",
        &["argocd", "app", "set"],
        MODELISH,
        Medium,
    ),
    p(Deploy, "Flux reconcile", &["flux", "reconcile"], MODELISH, Medium),
    p(Deploy, "GitOps image bump", &["yq", "tag"], MODELISH, Low),
    p(
        Deploy,
        "Databricks serving endpoint",
        &["databricks", "serving-endpoints"],
        &["create", "update"],
        High,
    ),
    p(
        Deploy,
        "model deploy script",
        &["deploy"],
        &["model", "endpoint", "serving", "inference"],
        Low,
    ),
    // --- gates ---
    p(
        Gate,
        "portcullis gate",
        &["portcullis"],
        &["gate", "run", "verify", "check", "scan", "decide"],
        High,
    ),
    p(Gate, "garak red-team scan", &["garak"], &[], High),
    p(
        Gate,
        "promptfoo evaluation",
        &["promptfoo"],
        &["eval", "redteam", "red-team", "action"],
        High,
    ),
    p(Gate, "modelscan", &["modelscan"], &[], High),
    p(Gate, "picklescan", &["picklescan"], &[], High),
    p(Gate, "fickling", &["fickling"], &[], High),
    p(Gate, "fairlearn check", &["fairlearn"], &[], Medium),
    p(Gate, "evidently report", &["evidently"], &[], Medium),
    p(Gate, "deepchecks suite", &["deepchecks"], &[], Medium),
    p(Gate, "giskard scan", &["giskard"], &[], Medium),
    p(Gate, "lm-evaluation-harness", &["lm_eval"], &[], High),
    p(Gate, "lm-evaluation-harness", &["lm-eval"], &[], High),
    p(Gate, "deepeval", &["deepeval"], &[], High),
    p(Gate, "inspect evaluation", &["inspect", "eval"], &[], Medium),
    p(Gate, "evaluation test suite", &["pytest"], EVALISH, Medium),
    p(Gate, "evaluation script", &["python"], EVALISH, Medium),
    p(Gate, "evaluation task", &["make"], EVALISH, Medium),
    p(Gate, "evaluation task", &["npm", "run"], EVALISH, Low),
    p(Gate, "evaluation action or template", &["uses"], EVALISH, Medium),
];

/// Why a step was classified: which row and where in which text.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// What the step does.
    pub kind: Kind,
    /// The row's label.
    pub label: &'static str,
    /// How sure we are.
    pub confidence: Confidence,
    /// Byte offset of the matching line in the step's `run` text, when the
    /// hit came from the script.
    pub run_offset: Option<usize>,
    /// The hit came from the step's name only.
    pub by_name: bool,
    /// When the hit came from a repository script the step runs: the
    /// script and line (`scripts/deploy.sh:12`).
    pub via: Option<String>,
}

fn is_word_start(hay: &str, at: usize) -> bool {
    hay.get(..at)
        .and_then(|s| s.chars().next_back())
        .is_none_or(|c| !c.is_alphanumeric())
}

/// Finds `needle` at a word start in `hay` from byte `from`; returns the end.
fn find_word(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let mut start = from;
    while let Some(rel) = hay.get(start..)?.find(needle) {
        let at = start + rel;
        let needs_boundary = needle.chars().next().is_some_and(char::is_alphanumeric);
        if !needs_boundary || is_word_start(hay, at) {
            return Some(at + needle.len());
        }
        start = at + needle.len().max(1);
    }
    None
}

/// Finds `needle` as a word that is not a directory in a path (`/deploy/`):
/// for the generic low-confidence rows, where a folder name is no verb.
fn find_word_not_dir(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let mut start = from;
    while let Some(end) = find_word(hay, needle, start) {
        let at = end - needle.len();
        let word_end = hay
            .get(end..)
            .and_then(|t| t.find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')))
            .map_or(hay.len(), |i| end + i);
        let dir = hay.get(..at).is_some_and(|b| b.ends_with('/'))
            && hay.get(word_end..).is_some_and(|a| a.starts_with('/'));
        if !dir {
            return Some(end);
        }
        start = end;
    }
    None
}

/// Whether one (lowercased) line matches a row.
pub fn line_matches(line: &str, pattern: &Pattern) -> bool {
    let generic = pattern.confidence == Low;
    let mut at = 0;
    for word in pattern.all {
        let found = if generic {
            find_word_not_dir(line, word, at)
        } else {
            find_word(line, word, at)
        };
        match found {
            Some(end) => at = end,
            None => return false,
        }
    }
    pattern.any.is_empty() || pattern.any.iter().any(|w| find_word(line, w, 0).is_some())
}

/// Subcommands that only read: a line running one lists, shows or waits
/// for a deployment and ships nothing (`az ml online-deployment list`,
/// `aws sagemaker describe-endpoint`, `kubectl get inferenceservice`).
const READ_ONLY: &[&str] = &[
    "list", "show", "describe", "get", "wait", "logs", "status", "get-logs",
];

/// Whether one of the first words after the tool, in the line's first
/// command, is a read-only subcommand.
fn read_only(line: &str) -> bool {
    let first = line.split([';', '|', '&']).next().unwrap_or("");
    first.split_whitespace().skip(1).take(4).any(|w| {
        READ_ONLY.contains(&w)
            || ["describe-", "list-", "get-", "wait-"]
                .iter()
                .any(|p| w.starts_with(p))
    })
}

/// Whether the line's first command runs tests (`pytest`, `python -m
/// pytest`, `tox`, `nox`): a test of deployment code deploys nothing.
fn runs_tests(line: &str) -> bool {
    let first = line.split([';', '|', '&']).next().unwrap_or("");
    let words: Vec<&str> = first.split_whitespace().collect();
    match words.as_slice() {
        [w, ..] if matches!(w.rsplit('/').next().unwrap_or(w), "pytest" | "tox" | "nox") => true,
        [py, "-m", m, ..] if py.starts_with("python") => matches!(*m, "pytest" | "unittest"),
        _ => false,
    }
}

fn best(line: &str, kinds: &[Kind]) -> Option<&'static Pattern> {
    let mut found: Option<&'static Pattern> = None;
    let reads = read_only(line) || runs_tests(line);
    for pat in PATTERNS {
        if !kinds.contains(&pat.kind) || !line_matches(line, pat) || (pat.kind == Deploy && reads) {
            continue;
        }
        let better = match found {
            None => true,
            Some(f) => {
                pat.confidence > f.confidence
                    || (pat.confidence == f.confidence && pat.kind == Deploy && f.kind == Gate)
            }
        };
        if better {
            found = Some(pat);
        }
    }
    found
}

/// Whether a script line is a shell comment or a line with no effect
/// (`echo`, `true`, `:`, `exit 0`, `sleep`).
pub fn is_trivial_line(line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with("//") {
        return true;
    }
    let first = t.split_whitespace().next().unwrap_or("");
    matches!(
        first,
        "echo" | "printf" | "true" | ":" | "sleep" | "Write-Host" | "echo." | "@echo"
    ) || t == "exit 0"
}

/// Whether a script does nothing but print or succeed.
pub fn is_trivial_script(script: &str) -> bool {
    script.lines().all(is_trivial_line)
}

/// The text matched for an action reference: `uses <ref> k=v ...`, lowercased.
fn uses_text(step: &Step) -> Option<String> {
    let u = step.uses.as_ref()?;
    let mut s = format!("uses {}", u.value.to_ascii_lowercase());
    for (k, v) in &step.with {
        s.push(' ');
        s.push_str(&k.to_ascii_lowercase());
        s.push('=');
        s.push_str(&v.value.to_ascii_lowercase().replace('\n', " "));
    }
    Some(s)
}

/// Classifies a step by its script, its action reference, then its name.
pub fn classify_step(step: &Step) -> Option<Hit> {
    let mut out: Option<Hit> = None;
    let consider = |out: &mut Option<Hit>, hit: Hit| {
        let replace = match out.as_ref() {
            None => true,
            Some(o) => {
                hit.confidence > o.confidence
                    || (hit.confidence == o.confidence && hit.kind == Deploy && o.kind == Gate)
            }
        };
        if replace {
            *out = Some(hit);
        }
    };
    if let Some(run) = &step.run {
        let mut offset = 0;
        for line in run.value.split_inclusive('\n') {
            let lower = line.to_ascii_lowercase();
            if !is_trivial_line(&lower) {
                if let Some(pat) = best(&lower, &[Deploy, Gate]) {
                    consider(
                        &mut out,
                        Hit {
                            kind: pat.kind,
                            label: pat.label,
                            confidence: pat.confidence,
                            run_offset: Some(offset + (line.len() - line.trim_start().len())),
                            by_name: false,
                            via: None,
                        },
                    );
                }
            }
            offset += line.len();
        }
    }
    if let Some(text) = uses_text(step) {
        if let Some(pat) = best(&text, &[Deploy, Gate]) {
            consider(
                &mut out,
                Hit {
                    kind: pat.kind,
                    label: pat.label,
                    confidence: pat.confidence,
                    run_offset: None,
                    by_name: false,
                    via: None,
                },
            );
        }
    }
    // Nothing sure in the step itself: read the repository scripts it runs.
    // Only rows that name a tool or an SDK call count there: the generic
    // name rows would read docstrings and log messages ("Utilities for
    // deploying models") as deploys.
    if out.as_ref().is_none_or(|h| h.confidence == Low) {
        for script in &step.scripts {
            let python = script.path.to_ascii_lowercase().ends_with(".py");
            let mut in_doc = false;
            for (n, line) in script.text.lines().enumerate() {
                let lower = line.to_ascii_lowercase();
                let t = lower.trim_start();
                if python {
                    let quotes = t.matches("\"\"\"").count() + t.matches("'''").count();
                    let was = in_doc;
                    if quotes % 2 == 1 {
                        in_doc = !in_doc;
                    }
                    let logging = ["print(", "logging.", "logger.", "log."]
                        .iter()
                        .any(|p| t.starts_with(p));
                    if was || quotes > 0 || logging {
                        continue;
                    }
                }
                if is_trivial_line(&lower) {
                    continue;
                }
                if let Some(pat) = best(&lower, &[Deploy, Gate]).filter(|p| p.confidence > Low) {
                    // Read shallowly, so never surer than medium.
                    consider(
                        &mut out,
                        Hit {
                            kind: pat.kind,
                            label: pat.label,
                            confidence: pat.confidence.min(Medium),
                            run_offset: Some(script.run_offset),
                            by_name: false,
                            via: Some(format!("{}:{}", script.path, n + 1)),
                        },
                    );
                }
            }
        }
    }
    let utility = step.uses.as_ref().is_some_and(|u| {
        let l = u.value.to_ascii_lowercase();
        UTILITY_ACTIONS.iter().any(|a| l.contains(a))
    });
    if out.is_none() && !utility {
        if let Some(name) = &step.name {
            if let Some(kind) = classify_name(name) {
                out = Some(Hit {
                    kind,
                    label: match kind {
                        Deploy => "step named as a model deploy",
                        Gate => "step named as an evaluation",
                    },
                    confidence: Low,
                    run_offset: None,
                    by_name: true,
                    via: None,
                });
            }
        }
    }
    out
}

/// Classifies a job or step name: evaluation words make a gate; "deploy" or
/// "publish" with a model word makes a deploy.
pub fn classify_name(name: &str) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    let deployish = ["deploy", "publish", "release", "promote", "rollout"]
        .iter()
        .any(|w| find_word(&lower, w, 0).is_some());
    if deployish && MODELISH.iter().any(|w| find_word(&lower, w, 0).is_some()) {
        return Some(Deploy);
    }
    let gateish = EVALISH
        .iter()
        .chain(["scan", "red team"].iter())
        .any(|w| find_word(&lower, w, 0).is_some());
    if gateish {
        return Some(Gate);
    }
    None
}

/// Whether a job name says it tests or checks something (used to spot fake
/// gates: a "test" job that only echoes).
pub fn is_check_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    classify_name(&lower) == Some(Gate)
        || ["test", "validate", "validation", "check", "quality", "verify"]
            .iter()
            .any(|w| find_word(&lower, w, 0).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Text;
    use crate::yaml::Pos;

    fn run(script: &str) -> Step {
        Step {
            run: Some(Text::new(script, Pos::new(1, 1))),
            ..Step::default()
        }
    }

    #[test]
    fn deploy_commands_are_recognised_with_the_line_offset() {
        let s = run("az login\naz ml online-deployment create -f deploy.yml\n");
        let hit = classify_step(&s).unwrap();
        assert_eq!(hit.kind, Kind::Deploy);
        assert_eq!(hit.run_offset, Some(9));
        assert_eq!(hit.confidence, Confidence::High);
    }

    #[test]
    fn words_match_only_at_word_starts() {
        assert!(classify_step(&run("python retrieval.py")).is_none());
        assert_eq!(
            classify_step(&run("python src/evaluate.py")).unwrap().kind,
            Kind::Gate
        );
    }

    #[test]
    fn a_website_image_push_is_not_a_model_deploy() {
        assert!(classify_step(&run("docker push ghcr.io/acme/website:latest")).is_none());
        assert_eq!(
            classify_step(&run("docker push ghcr.io/acme/fraud-model-serving:1"))
                .unwrap()
                .kind,
            Kind::Deploy
        );
    }

    #[test]
    fn a_deploy_folder_in_a_path_is_not_a_deploy_verb() {
        // An endpoint (no model yet) created from a file under `deploy/`.
        let mut s = Step {
            uses: Some(Text::new(
                "org/templates/create-endpoint.yml@main",
                Pos::new(1, 1),
            )),
            ..Step::default()
        };
        s.with.push((
            "endpoint_file".into(),
            Text::new("mlops/azureml/deploy/online/online-endpoint.yml", Pos::new(2, 1)),
        ));
        assert!(classify_step(&s).is_none());
        assert_eq!(
            classify_step(&run("./scripts/deploy-model.sh --endpoint prod"))
                .unwrap()
                .kind,
            Kind::Deploy
        );
    }

    #[test]
    fn sagemaker_endpoint_config_is_not_the_endpoint() {
        let s = run("aws sagemaker create-endpoint-config --x 1\naws sagemaker create-endpoint --y 2\n");
        let hit = classify_step(&s).unwrap();
        assert_eq!(hit.run_offset, Some(43));
    }

    #[test]
    fn traffic_switches_and_v1_model_deploys_are_deploys() {
        assert_eq!(
            classify_step(&run("az ml model deploy --name x --model m:1"))
                .unwrap()
                .confidence,
            Confidence::High
        );
        let mut s = Step {
            uses: Some(Text::new("org/t/allocate-traffic.yml@main", Pos::new(1, 1))),
            ..Step::default()
        };
        s.with
            .push(("traffic_allocation".into(), Text::new("blue=100", Pos::new(2, 1))));
        s.with
            .push(("endpoint_name".into(), Text::new("taxi", Pos::new(3, 1))));
        assert_eq!(classify_step(&s).unwrap().kind, Kind::Deploy);
    }

    #[test]
    fn aws_container_kubectl_and_hub_pushes_are_deploys() {
        for (script, label) in [
            (
                "aws lambda update-function-code --function-name churn-scoring --zip-file fileb://f.zip",
                "AWS Lambda code update",
            ),
            (
                "aws s3 sync ./model s3://acme-serving/churn/",
                "model copied to a serving bucket",
            ),
            (
                "aws cloudformation deploy --template-file endpoint.yml --stack-name churn",
                "CloudFormation stack deploy",
            ),
            (
                "npx cdk deploy churn-endpoint-stack --require-approval never",
                "CDK deploy",
            ),
            ("buildah push quay.io/acme/model-server:1.2", "serving image push"),
            (
                "kubectl set image deployment/model-server server=acme/model:2",
                "serving image rollout",
            ),
            (
                "git push https://user:$HF_TOKEN@huggingface.co/acme/sentiment main",
                "Hugging Face Hub push",
            ),
        ] {
            let hit = classify_step(&run(script)).unwrap_or_else(|| panic!("{script}"));
            assert_eq!((hit.kind, hit.label), (Deploy, label), "{script}");
        }
    }

    #[test]
    fn read_only_commands_ship_nothing() {
        for script in [
            "pytest src/tests/model_deployment_tests.py::test_model_endpoint",
            "python -m pytest tests/test_deploy_model.py",
            "aws sagemaker describe-endpoint --endpoint-name model-deploy",
            "az ml online-deployment list --endpoint-name churn",
            "az ml online-deployment get-logs --name blue",
            "kubectl get inferenceservice model-server -o yaml",
            "aws lambda get-function --function-name churn-api",
            "aws lambda update-function-code --function-name website-api --zip-file fileb://f.zip",
        ] {
            assert!(
                classify_step(&run(script)).is_none_or(|h| h.kind != Deploy),
                "{script}"
            );
        }
        // A read after the deploy on the same line does not hide it.
        let hit = classify_step(&run("docker push acme/model-server:2; kubectl get pods")).unwrap();
        assert_eq!(hit.kind, Deploy);
    }

    #[test]
    fn echo_only_scripts_are_trivial() {
        assert!(is_trivial_script("echo running evals\ntrue\n"));
        assert!(!is_trivial_script("echo x\npytest tests/eval\n"));
    }
}
