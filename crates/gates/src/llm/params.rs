//! The LLM gates' spec keys as typed params structs, deserialised like
//! every other gate's (see [`crate::params::parse_params`]).
//!
//! The same keys come from a policy and from `--set key=value`, so every
//! value type here also accepts the string spelling: a number as `"8"`, a
//! flag as `yes`/`no`/`1`/`0`, a list as one comma-separated string. The
//! keys every LLM gate shares are listed once, in `with_common_keys!`, and
//! spliced into each gate's struct, so each struct can still deny unknown
//! keys (serde's `flatten` cannot be combined with that).

use serde::de::Error as _;
use serde::Deserialize;

/// A string; a number is taken as its text (`--set model=7`).
#[derive(Debug, Clone, PartialEq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Text(s)),
            serde_json::Value::Number(n) => Ok(Text(n.to_string())),
            other => Err(D::Error::custom(format!("must be a string, not {other}"))),
        }
    }
}

/// A list of strings, or one comma-separated string.
#[derive(Debug, Clone, PartialEq)]
pub struct TextList(pub Vec<String>);

impl<'de> Deserialize<'de> for TextList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(TextList(
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect(),
            )),
            serde_json::Value::Array(a) => a
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    other => Err(D::Error::custom(format!(
                        "must be a list of strings, found {other}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(TextList),
            other => Err(D::Error::custom(format!(
                "must be a list or a comma-separated string, not {other}"
            ))),
        }
    }
}

/// A number, or a string holding one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_f64()
                .map(Number)
                .ok_or_else(|| D::Error::custom(format!("must be a number, not {n}"))),
            serde_json::Value::String(s) => s
                .trim()
                .parse::<f64>()
                .map(Number)
                .map_err(|_| D::Error::custom(format!("must be a number, not '{s}'"))),
            other => Err(D::Error::custom(format!("must be a number, not {other}"))),
        }
    }
}

/// A boolean, or `true`/`yes`/`1`, `false`/`no`/`0` as a string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(b) => Ok(Flag(b)),
            serde_json::Value::String(s) => match s.trim() {
                "true" | "yes" | "1" => Ok(Flag(true)),
                "false" | "no" | "0" => Ok(Flag(false)),
                _ => Err(D::Error::custom(format!("must be true or false, not '{s}'"))),
            },
            other => Err(D::Error::custom(format!("must be true or false, not {other}"))),
        }
    }
}

/// Passes the keys every LLM gate takes, listed once here, to `$then!`
/// after its own arguments.
macro_rules! with_common_keys {
    ($then:ident! { $($args:tt)* }) => {
        $then! { $($args)* common: [
            /// The chat endpoint: `openai:URL`, `rest:URL` or an http(s) URL.
            target: Option<Text>,
            /// The model name sent to an OpenAI-compatible endpoint.
            model: Option<Text>,
            /// The environment variable holding the endpoint's API key.
            api_key_env: Option<Text>,
            /// A `rest:` target's request body, with `{{prompt}}` (JSON, or a string of JSON).
            request_template: Option<serde_json::Value>,
            /// Where a `rest:` target's reply text is, e.g. `/output/text`.
            reply_path: Option<Text>,
            /// The judge endpoint deciding refusals (else the refusal detector).
            judge_target: Option<Text>,
            /// The judge's model name.
            judge_model: Option<Text>,
            /// The judge's API-key variable.
            judge_api_key_env: Option<Text>,
            /// The judge's request body (`rest:` judges).
            judge_request_template: Option<serde_json::Value>,
            /// The judge's reply path (`rest:` judges).
            judge_reply_path: Option<Text>,
            /// Per-request timeout (`60s` by default).
            timeout: Option<Text>,
            /// Confidence of the Wilson bounds, in [0.5, 1).
            confidence: Option<Number>,
            /// The rate the bounds must be able to resolve, in (0, 1).
            resolution: Option<Number>,
            /// Request rate limit.
            requests_per_second: Option<Number>,
            /// Categories to run (all by default).
            categories: Option<TextList>,
            /// Probes sampled per category.
            samples_per_category: Option<Number>,
            /// Requests in flight.
            concurrency: Option<Number>,
            /// Retries per request.
            retries: Option<Number>,
            /// A JSON-lines transcript that makes runs resumable.
            transcript: Option<Text>,
            /// Extra probe files.
            probes: Option<TextList>,
            /// Whether the built-in probes are used.
            builtin_probes: Option<Flag>,
            /// Extra phrases that mark a refusal.
            refusal_phrases: Option<TextList>,
            /// The largest reply read, in bytes.
            max_reply_bytes: Option<Number>,
            /// The completion budget per request.
            max_tokens: Option<Number>,
            /// A system prompt added to every request.
            system_prompt: Option<Text>,
        ] }
    };
}

/// Declares an LLM gate's params struct: the gate's own keys and the
/// common ones from `with_common_keys!`.
macro_rules! llm_params {
    (
        $(#[$meta:meta])* $name:ident { $($(#[$own_meta:meta])* $own:ident : $own_ty:ty,)* }
        common: [$($(#[$common_meta:meta])* $common:ident : $common_ty:ty,)*]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$common_meta])* #[serde(default)] pub(crate) $common: $common_ty,)*
            $($(#[$own_meta])* #[serde(default)] pub(crate) $own: $own_ty,)*
        }

        impl $name {
            /// The keys every LLM gate shares, taken out of this struct.
            pub fn take_common(&mut self) -> LlmParams {
                LlmParams {
                    $($common: std::mem::take(&mut self.$common),)*
                }
            }
        }
    };
}

with_common_keys!(llm_params! {
    /// The keys every LLM gate takes; `llm-safety` and `llm-redteam` take
    /// exactly these.
    LlmParams {}
});

with_common_keys!(llm_params! {
    /// The keys of `llm-backdoor`: the common ones, the candidate triggers,
    /// and an optional reference endpoint.
    LlmBackdoorParams {
        /// Candidate trigger strings; `auto` adds the built-in ones.
        triggers: Option<TextList>,
        /// Where a trigger goes: `prefix` (default) or `suffix`.
        trigger_position: Option<Text>,
        /// The reference endpoint (production or base model).
        reference_target: Option<Text>,
        /// The reference's model name.
        reference_model: Option<Text>,
        /// The reference's API-key variable.
        reference_api_key_env: Option<Text>,
        /// The reference's request body (`rest:` references).
        reference_request_template: Option<serde_json::Value>,
        /// The reference's reply path (`rest:` references).
        reference_reply_path: Option<Text>,
    }
});
