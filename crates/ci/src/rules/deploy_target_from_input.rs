//! `deploy-target-from-input`: a deploy step or its environment uses a
//! free-text input of the run, so whoever starts it picks the target.

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};
use crate::model::Text;

rule!(DEPLOY_TARGET_FROM_INPUT, "deploy-target-from-input", "Deploy target picked by a free user input", Medium,
    "The deploy step or its environment takes a free-text user input, so whoever starts the run chooses where the model goes.",
    "Use a choice input with fixed targets, or derive the target from the branch.");

/// The check of [`DEPLOY_TARGET_FROM_INPUT`].
pub(crate) struct DeployTargetFromInput;

impl Rule for DeployTargetFromInput {
    fn info(&self) -> &RuleInfo {
        &DEPLOY_TARGET_FROM_INPUT
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        let p = f.p;
        for d in &f.deploys {
            for input in p.inputs.iter().filter(|i| i.free_text) {
                let mut texts: Vec<&Text> = Vec::new();
                texts.extend(d.step.run.iter());
                texts.extend(d.step.with.iter().map(|(_, t)| t));
                texts.extend(d.job.environment.iter());
                let hit = texts
                    .iter()
                    .find_map(|t| references_input(&t.value, &input.name).map(|off| t.pos_at(off, f.lines)));
                if let Some(pos) = hit {
                    out.push(
                        self.finding(format!(
                                "deploy step {} uses free-text input '{}', so the person starting the run picks the target",
                                d.desc, input.name
                            ),
                        )
                        .at(loc(f.file(d.j), pos, "input use"))
                        .related(loc(&p.file, input.pos, "input"))
                        .related(d.loc.clone()),
                    );
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_references_need_a_name_boundary() {
        assert!(references_input("deploy ${{ inputs.target }}", "target").is_some());
        assert!(references_input("deploy ${{ inputs.target_x }}", "target").is_none());
        assert!(references_input("helm upgrade $ENDPOINT", "ENDPOINT").is_some());
    }
}
