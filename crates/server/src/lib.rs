//! The portcullis registry: the place a deploy asks "is this digest allowed
//! in prod now?", where approvers find what waits for them, and whose audit
//! log anyone can check.
//!
//! ```text
//!  CI ── push evidence ──► verify each envelope with the server's policy ─┐
//!  CI ── promote ────────► promotion request ── engine::decide ───────────┤
//!  approver ── approve ──► engine::approve (service key) or a CLI-signed  │
//!                          approval, then decide again                    │
//!                               │ allowed                                 │
//!                               ▼                                         │
//!            stage alias moves (compare-and-swap on the previous digest)  │
//!                               │                                         │
//!  every change ──────────► audit-log leaf, same transaction ◄────────────┘
//!                               │
//!  deploy ── GET stage ──► digest + decision now + signed Verification Summary
//!  auditor ── log verify ► signed checkpoint, entries, RFC 6962 proofs
//! ```
//!
//! The crate has three layers. [`store`] is the state behind one trait
//! (SQLite here; every mutation commits with its audit leaf). [`Registry`]
//! holds the use cases as plain synchronous calls that reuse the engine for
//! every rule: nothing here re-implements classification, decisions,
//! approval signing or summaries. [`api`] maps HTTP onto it and nothing
//! more; [`ui`] renders the same calls as pages for people. The CLI's `portcullis server` wires a store, a key and the
//! policies into a [`Registry`] and calls [`serve`].
#![deny(missing_docs)]

pub mod admission;
pub mod api;
pub mod auth;
pub mod error;
pub mod log;
pub mod registry;
pub mod store;
pub mod tls;
pub mod ui;
pub mod webhook;

use std::sync::Arc;

pub use registry::{Config, Registry};

/// The API under `/v1` and the web UI under `/ui`; `secure` when served
/// over TLS (the session cookie is then `Secure`).
fn app(registry: Arc<Registry>, secure: bool) -> axum::Router {
    ui::router(registry.clone(), secure).merge(api::router(registry))
}

/// Serves `registry` on `listener` until `shutdown` resolves.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(registry, false))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `registry` over HTTPS on `listener` until `shutdown` resolves;
/// `tls` comes from [`tls::server_config`].
///
/// # Errors
/// The listener fails.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    registry: Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(tls::TlsListener::new(listener, tls)?, app(registry, true))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the offline admission webhook ([`webhook`]) on `listener`, over
/// HTTPS when `tls` is given, until `shutdown` resolves.
///
/// # Errors
/// The listener fails.
pub async fn serve_webhook(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    offline: Arc<webhook::Offline>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = webhook::router(offline);
    match tls {
        Some(tls) => {
            axum::serve(tls::TlsListener::new(listener, tls)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
    }
}
