//! Google Cloud Build (`cloudbuild.yaml`): each build step is a job running
//! its entrypoint (or the builder image's tool: `gcr.io/cloud-builders/
//! kubectl` runs `kubectl`) with its `args`. Steps run in order unless
//! `waitFor` says otherwise (`-` starts at once). Build approvals are a
//! trigger setting the file cannot show.

use crate::model::{Edge, Job, Marker, Pipeline, Step, System, Text};
use crate::yaml::Node;

/// Lowers a Cloud Build config.
pub fn parse(file: &str, doc: &Node) -> Pipeline {
    let mut p = Pipeline::new(file, System::CloudBuild);
    let mut previous: Option<String> = None;
    for (i, s) in doc
        .get("steps")
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let id = s
            .get_str("id")
            .map_or_else(|| format!("step-{}", i + 1), str::to_string);
        let image = s.get_str("name").unwrap_or_default();
        let tool = s.get_str("entrypoint").map(str::to_string).unwrap_or_else(|| {
            image
                .rsplit('/')
                .next()
                .unwrap_or(image)
                .split(':')
                .next()
                .unwrap_or("")
                .to_string()
        });
        let args: Vec<String> = s
            .get("args")
            .map(|a| a.str_items().iter().map(|(v, _)| v.to_string()).collect())
            .unwrap_or_default();
        // `bash -c "<script>"`: the script is the command.
        let command = match args.as_slice() {
            [flag, script, ..] if flag == "-c" && matches!(tool.as_str(), "bash" | "sh") => script.clone(),
            _ => std::iter::once(tool.clone())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let pos = s.get("args").or(s.get("name")).map_or(s.pos, |n| n.pos);
        let mut job = Job {
            id: id.clone(),
            pos: s.pos,
            ..Job::default()
        };
        match s.get("waitFor") {
            Some(w) => {
                for (to, wp) in w.str_items() {
                    if to != "-" {
                        job.needs.push(Edge::after(to, wp));
                    }
                }
            }
            None => {
                if let Some(prev) = &previous {
                    job.needs.push(Edge::after(prev, s.pos));
                }
            }
        }
        if let Some(a) = s.get("allowFailure").filter(|a| a.is_true()) {
            job.allow_failure = Some(Marker::new("allowFailure: true", a.pos));
        }
        job.steps.push(Step {
            name: s.get_str("id").map(str::to_string),
            pos,
            run: Some(Text::new(command, pos)),
            ..Step::default()
        });
        previous = Some(id);
        p.jobs.push(job);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse as yaml, Limits};

    #[test]
    fn steps_become_commands_in_order_unless_wait_for_says_otherwise() {
        let src = "steps:\n- id: eval\n  name: python:3.11\n  entrypoint: python\n  args: ['-m', 'evals.run']\n- id: push\n  name: gcr.io/cloud-builders/docker\n  args: ['push', 'gcr.io/p/model-server']\n  waitFor: ['-']\n- name: gcr.io/cloud-builders/kubectl\n  args: ['set', 'image', 'deployment/model-server', 's=gcr.io/p/model-server']\n";
        let doc = yaml(src, Limits::default()).unwrap();
        let p = parse("cloudbuild.yaml", &doc[0]);
        let cmd = |i: usize| p.jobs[i].steps[0].run.as_ref().unwrap().value.clone();
        assert_eq!(cmd(0), "python -m evals.run");
        assert_eq!(cmd(1), "docker push gcr.io/p/model-server");
        assert!(p.jobs[1].needs.is_empty(), "waitFor: ['-'] starts at once");
        assert_eq!(
            cmd(2),
            "kubectl set image deployment/model-server s=gcr.io/p/model-server"
        );
        assert_eq!(p.jobs[2].needs[0].to, "push");
    }
}
