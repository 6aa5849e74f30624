//! portcullis-ci: find missing and skippable model-evaluation gates in CI/CD
//! pipeline definitions.
//!
//! The crate is shaped as a small compiler: per-system parsers (GitHub
//! Actions, GitLab CI, Azure Pipelines, Jenkins declarative, Argo Workflows,
//! Tekton) lower files into one typed [`model`] that keeps the source
//! position of everything; data-driven tables in [`classify`] say which steps
//! deploy a model and which gate it; the [`rules`] reason about the job graph
//! once for every system. Parsing is bounded (size, depth, alias expansion),
//! and a file that cannot be read or analysed is reported as such while the
//! other files are still audited.
//!
//! Modules depend one way: the driver ([`audit`]) uses the parsers and the
//! rules; the parsers use only [`model`], [`yaml`] and [`load`] (which
//! reads the files a pipeline references), never the driver.
//!
//! The public surface is [`audit_paths`], [`AuditOptions`], [`AuditConfig`],
//! [`AuditReport`] and [`rules()`]. Every output format (terminal, JSON,
//! SARIF) is rendered by the report crate from [`rules()`], the findings and
//! the file statuses, so this crate depends on the shared types only.
#![deny(missing_docs)]

pub mod audit;
pub mod azure;
pub mod bitbucket;
pub mod circleci;
pub mod classify;
pub mod cloudbuild;
pub mod codebuild;
pub mod config;
pub mod github;
pub mod gitlab;
pub mod jenkins;
pub mod k8s;
pub mod load;
pub mod model;
pub mod rules;
pub mod scripts;
pub mod yaml;

pub use audit::{audit_paths, AuditOptions, AuditReport, AuditedFile, FileStatus};
pub use config::{AuditConfig, ConfigError};
pub use model::System;

use portcullis_evidence::RuleInfo;

/// Every rule this crate can emit, one registry line each.
pub fn rules() -> &'static [RuleInfo] {
    rules::RULES
}
