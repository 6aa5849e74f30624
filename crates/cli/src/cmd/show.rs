//! `portcullis show`: what an approver should see before signing.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Result;
use portcullis_engine::store::DirStore;
use portcullis_engine::SystemClock;
use portcullis_report::show::{self, ShowView};
use portcullis_report::{human, Report};

use crate::common::{self, Exit, ModelArgs};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy (its keys decide which evidence is trusted).
    #[arg(long, default_value = common::DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// The evidence directory.
    #[arg(long, default_value = portcullis_evidence::store::DEFAULT_DIR)]
    pub evidence: PathBuf,
    /// Print JSON instead of text (same as `--format json`).
    #[arg(long)]
    pub json: bool,
    /// Output format: human, json or html (one page with every stage).
    #[arg(long, value_enum, default_value_t = ShowFormat::Human)]
    pub format: ShowFormat,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `show --format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    /// Terminal text.
    Human,
    /// Stable JSON (v1).
    Json,
    /// One self-contained HTML page.
    Html,
}

/// Runs `show`.
pub fn run(args: Args) -> Result<Exit> {
    let policy = portcullis_engine::load_policy(&args.policy)?;
    let fallback = policy.model.as_ref().map(|m| m.path.clone());
    let (digest, name) = args.model.resolve(fallback.as_deref())?;
    let shown = portcullis_engine::show(&policy, &DirStore::new(&args.evidence), &digest, &SystemClock)?;
    let hex = digest.to_hex();
    let view = ShowView {
        digest: &hex,
        model: &name,
        bundle: &shown.bundle,
        evidence: &shown.evidence,
        decisions: &shown.decisions,
        now: SystemTime::now(),
    };
    let format = if args.json { ShowFormat::Json } else { args.format };
    let text = match format {
        ShowFormat::Json => show::json(&view),
        ShowFormat::Human => show::human(
            &view,
            human::Style::new(common::use_color(args.output.as_deref())),
        ),
        ShowFormat::Html => {
            let reports: Vec<Report> = shown
                .decisions
                .iter()
                .map(|d| {
                    let mut r = Report::of_decision(&policy, d, &digest);
                    r.model = Some(name.clone());
                    r
                })
                .collect();
            portcullis_report::html::render_stages(
                &reports,
                &portcullis_report::html::Meta {
                    model: Some(name.clone()),
                    command: Some("show".into()),
                },
            )
        }
    };
    common::write_output(args.output.as_deref(), &text)?;
    Ok(Exit::Ok)
}
