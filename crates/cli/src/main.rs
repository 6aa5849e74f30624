//! `portcullis`: the gate between a trained model and production.
//!
//! This binary is the only place that wires the crates together, reads the
//! environment, prints, and picks exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | allowed / passed |
//! | 1 | denied / a gate failed (in a policy run, a gate that errored is a failure) |
//! | 2 | the command could not do its job (usage, unreadable policy, model or data), or `eval` of a gate whose verdict is `error` |

mod cmd;
mod common;
mod findings;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Evaluation gates, signed evidence and deploy-time verification for ML models.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a stage's gates, sign each result, and decide.
    Run(cmd::run::Args),
    /// Sign an approval of a model for a stage.
    Approve(cmd::approve::ApproveArgs),
    /// Sign an expiring waiver of one gate for a stage (only if the policy allows it).
    Waive(cmd::approve::WaiveArgs),
    /// Show the evidence for a model and what each stage still needs.
    Show(cmd::show::Args),
    /// Decide a stage from evidence already recorded, running nothing.
    Decide(cmd::decide::Args),
    /// Deploy-side check: recompute the digest, check signatures and policy, exit 0 only if allowed.
    Verify(cmd::decide::VerifyArgs),
    /// Write a stage's decision and gate evidence as a report (HTML by default) for reviewers.
    Report(cmd::decide::ReportArgs),
    /// Run one gate ad hoc: no policy, no signing.
    Eval(cmd::eval::Args),
    /// Scan model files for code-execution payloads without loading them.
    Scan(cmd::scan::Args),
    /// Print a model's OpenSSF model-signing digest.
    Digest(cmd::digest::Args),
    /// Generate an ed25519 key pair (NAME.key, mode 0600, and NAME.pub).
    Keygen(cmd::keygen::Args),
    /// Write a signed data manifest (path → sha256) for the provenance gate.
    Manifest(cmd::manifest::Args),
    /// Write a commented starter policy.
    Init(cmd::init::Args),
    /// Print the policy's JSON Schema (for editors).
    Schema,
    /// Audit CI/CD pipeline definitions for missing or skippable model gates.
    AuditCi(cmd::audit_ci::Args),
    /// Run the registry: evidence, promotion requests, approvals, stage aliases, audit log.
    Server(cmd::server::Args),
    /// Upload a model's evidence bundle to the registry.
    Push(cmd::registry::PushArgs),
    /// Ask the registry to move a stage to a digest (a promotion request).
    Promote(cmd::registry::PromoteArgs),
    /// List, show, approve or reject promotion requests on the registry.
    #[command(subcommand)]
    Request(cmd::registry::RequestCommand),
    /// Which digest held a stage, when, approved by whom, on which evidence.
    History(cmd::registry::HistoryArgs),
    /// Create, list or revoke registry API tokens (admin).
    #[command(subcommand)]
    Token(cmd::registry::TokenCommand),
    /// Check the registry's audit log against its signed checkpoints.
    #[command(subcommand)]
    Log(cmd::registry::LogCommand),
    /// Kubernetes admission: print the webhook configuration for the registry.
    #[command(subcommand)]
    Admission(cmd::admission::Command),
    /// Run the registry's re-check jobs for the models in production (or print manifests that do).
    Agent(cmd::agent::Args),
    /// Enqueue, list or clear the registry's re-checks of what the stages hold.
    #[command(subcommand)]
    Recheck(cmd::agent::RecheckCommand),
}

/// `scan` over a directory of thousands of small files allocates and frees
/// per file on every thread; glibc's allocator spent a fifth of that run in
/// malloc/free and arena growth, mimalloc a third of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Approve(a) => cmd::approve::approve(a),
        Command::Waive(a) => cmd::approve::waive(a),
        Command::Show(a) => cmd::show::run(a),
        Command::Decide(a) => cmd::decide::decide(a),
        Command::Verify(a) => cmd::decide::verify(a),
        Command::Report(a) => cmd::decide::report(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Scan(a) => cmd::scan::run(a),
        Command::Digest(a) => cmd::digest::run(a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Manifest(a) => cmd::manifest::run(a),
        Command::Init(a) => cmd::init::run(a),
        Command::Schema => cmd::init::schema(),
        Command::AuditCi(a) => cmd::audit_ci::run(a),
        Command::Server(a) => cmd::server::run(a),
        Command::Push(a) => cmd::registry::push(a),
        Command::Promote(a) => cmd::registry::promote(a),
        Command::Request(c) => cmd::registry::request(c),
        Command::History(a) => cmd::registry::history(a),
        Command::Token(c) => cmd::registry::token(c),
        Command::Log(c) => cmd::registry::log(c),
        Command::Admission(c) => cmd::admission::run(c),
        Command::Agent(a) => cmd::agent::run(a),
        Command::Recheck(c) => cmd::agent::recheck(c),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            let mut shown = e.to_string();
            eprintln!("error: {shown}");
            // Library errors often say their cause already ("path: reason");
            // print only causes the message does not contain yet.
            for cause in e.chain().skip(1) {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown.push_str(&text);
                }
            }
            // A conflict (the stage moved under a promotion) is a denial,
            // not a usage error.
            match e.downcast_ref::<cmd::registry::ServerError>() {
                Some(s) if s.status == 409 => common::Exit::Denied.into(),
                _ => common::Exit::Error.into(),
            }
        }
    }
}
