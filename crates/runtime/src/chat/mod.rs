//! Chat targets: the interface the LLM gates are written against.
//!
//! A [`ChatTarget`] turns one [`ChatRequest`] (a list of messages) into one
//! [`ChatReply`]. Two implementations cover most deployments:
//! [`OpenAiTarget`] speaks the OpenAI-compatible `/v1/chat/completions`
//! protocol (vLLM, Ollama, llama.cpp's `llama-server`, TGI, hosted APIs) and
//! [`RestTarget`] fills a JSON request template and reads the reply at a JSON
//! pointer, for anything else with an HTTP API.
//!
//! Gates do not call targets one by one: [`run_attempts`] runs a batch with
//! bounded concurrency, a request-rate limit, retries with backoff on 429 and
//! 5xx (honouring `Retry-After`), a response cache keyed by (target,
//! request), and a JSONL attempt log that is both the transcript of the run
//! and the state an interrupted run resumes from.
//!
//! Secrets: an API key is read from an environment variable named in the
//! spec, held in a [`Secret`] whose `Debug` is redacted, sent only in the
//! request header, and never part of a target id, a cache key or the log.

mod http;
mod log;
mod openai;
mod rest;
mod runner;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use log::{read_log, AttemptLog, AttemptRecord};
pub use openai::OpenAiTarget;
pub use rest::{ReplyPath, RestTarget};
pub use runner::{request_key, run_attempts, Attempt, RunOptions, RunSummary};

/// A boxed, sendable future, so [`ChatTarget`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt.
    System,
    /// The user.
    User,
    /// The model (earlier turns of a multi-turn probe).
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// One chat request. Sampling is greedy by default so runs repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature.
    pub temperature: f32,
    /// The longest reply asked for, in tokens.
    pub max_tokens: u32,
}

impl ChatRequest {
    /// A greedy request (`temperature` 0, `max_tokens` 256).
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        ChatRequest {
            messages,
            temperature: 0.0,
            max_tokens: 256,
        }
    }

    /// The text of the last user message (empty when there is none).
    pub fn last_user(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str())
    }

    /// The system prompt (empty when there is none).
    pub fn system(&self) -> &str {
        self.messages
            .iter()
            .find(|m| m.role == Role::System)
            .map_or("", |m| m.content.as_str())
    }
}

/// One reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatReply {
    /// The reply text.
    pub text: String,
    /// The HTTP status it came with.
    pub status: u16,
}

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// The target could not be reached (refused, reset, DNS).
    #[error("cannot reach {url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// The transport's reason.
        message: String,
    },
    /// No complete reply within the per-request timeout.
    #[error("no reply from {url} within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The target answered with an error status.
    #[error("{url} answered HTTP {status}{}: {body}", retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default())]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// The start of the body, for the error message.
        body: String,
    },
    /// The reply could not be read as the protocol says (not JSON,
    /// truncated, no text where the reply should be, too large).
    #[error("bad reply from {url}: {message}")]
    Reply {
        /// The URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The target is configured wrongly (bad URL, missing API key variable).
    #[error("{0}")]
    Config(String),
}

impl ChatError {
    /// True when trying again may succeed: transport errors, timeouts, 408,
    /// 429 and 5xx.
    pub fn retryable(&self) -> bool {
        match self {
            ChatError::Connect { .. } | ChatError::Timeout { .. } => true,
            ChatError::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            ChatError::Reply { .. } | ChatError::Config(_) => false,
        }
    }

    /// True when no later request can succeed either (bad credentials,
    /// wrong URL or model, bad configuration): the run stops at once.
    pub fn fatal(&self) -> bool {
        match self {
            ChatError::Status { status, .. } => matches!(status, 401 | 403 | 404),
            ChatError::Config(_) => true,
            _ => false,
        }
    }

    /// The HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ChatError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the server asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ChatError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Something that answers chat requests.
pub trait ChatTarget: Send + Sync {
    /// A stable id without secrets (`openai:URL#model`), part of every cache
    /// key and log record.
    fn id(&self) -> String;

    /// The endpoint URL, as recorded in evidence.
    fn url(&self) -> &str;

    /// The model name served, when the protocol names one.
    fn model(&self) -> Option<&str>;

    /// Sends one request.
    ///
    /// # Errors
    /// A [`ChatError`] saying whether the failure is worth retrying.
    fn send<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ChatError>>;
}

/// A secret (an API key) that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Reads the secret from the environment variable `var`.
    ///
    /// # Errors
    /// [`ChatError::Config`] naming the variable (never its value) when it is
    /// unset or empty.
    pub fn from_env(var: &str) -> Result<Self, ChatError> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Secret(v)),
            _ => Err(ChatError::Config(format!(
                "the API key variable {var} is not set (export {var}=... or change `api_key_env`)"
            ))),
        }
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Limits and settings shared by the HTTP targets.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Per-request timeout, connect to last byte.
    pub timeout: Duration,
    /// The largest reply body read; a larger one is a [`ChatError::Reply`].
    pub max_reply_bytes: usize,
    /// Idle connections kept per host (set to the run's concurrency).
    pub pool_size: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(60),
            max_reply_bytes: 1024 * 1024,
            pool_size: 64,
        }
    }
}
