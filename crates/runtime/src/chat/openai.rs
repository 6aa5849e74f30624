//! The OpenAI-compatible `/v1/chat/completions` target (vLLM, Ollama,
//! llama.cpp `llama-server`, TGI, hosted APIs).

use serde_json::json;

use super::http::{check_url, client, post_json};
use super::{BoxFuture, ChatError, ChatReply, ChatRequest, ChatTarget, HttpSettings, Secret};

/// A chat-completions endpoint. `base_url` is the API root that ends in
/// `/v1`; requests go to `{base_url}/chat/completions`.
#[derive(Debug)]
pub struct OpenAiTarget {
    base_url: String,
    endpoint: String,
    model: String,
    api_key: Option<Secret>,
    settings: HttpSettings,
    client: reqwest::Client,
}

impl OpenAiTarget {
    /// A target at `base_url` serving `model`, authenticated with `api_key`
    /// when given.
    ///
    /// # Errors
    /// [`ChatError::Config`] for a URL that is not http(s) or an empty model.
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<Secret>,
        settings: HttpSettings,
    ) -> Result<Self, ChatError> {
        let base_url = check_url(base_url)?;
        if model.trim().is_empty() {
            return Err(ChatError::Config(
                "the OpenAI-compatible target needs a model name (set `model`)".into(),
            ));
        }
        let endpoint = if base_url.ends_with("/chat/completions") {
            base_url.clone()
        } else {
            format!("{base_url}/chat/completions")
        };
        Ok(OpenAiTarget {
            client: client(&settings)?,
            base_url,
            endpoint,
            model: model.to_string(),
            api_key,
            settings,
        })
    }
}

impl ChatTarget for OpenAiTarget {
    fn id(&self) -> String {
        format!("openai:{}#{}", self.base_url, self.model)
    }

    fn url(&self) -> &str {
        &self.base_url
    }

    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }

    fn send<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ChatError>> {
        Box::pin(async move {
            let body = json!({
                "model": self.model,
                "messages": request.messages,
                "temperature": request.temperature,
                "max_tokens": request.max_tokens,
                "stream": false,
            });
            let headers: Vec<(String, String)> = self
                .api_key
                .iter()
                .map(|k| ("authorization".to_string(), format!("Bearer {}", k.expose())))
                .collect();
            let (value, status) =
                post_json(&self.client, &self.settings, &self.endpoint, &headers, &body).await?;
            let text = reply_text(&value).ok_or_else(|| ChatError::Reply {
                url: self.endpoint.clone(),
                message: "no text at choices[0].message.content".into(),
            })?;
            Ok(ChatReply { text, status })
        })
    }
}

/// `choices[0].message.content`: a string, a list of text parts, or null
/// (a reply with only a refusal field or tool calls reads as that text or
/// empty).
fn reply_text(value: &serde_json::Value) -> Option<String> {
    let message = value.pointer("/choices/0/message")?;
    match message.get("content") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(parts)) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
                .collect::<Vec<_>>()
                .join(""),
        ),
        Some(serde_json::Value::Null) | None => Some(
            message
                .get("refusal")
                .and_then(|r| r.as_str())
                .unwrap_or_default()
                .to_string(),
        ),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_text_reads_strings_parts_and_refusal_fields() {
        let v = json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}]});
        assert_eq!(reply_text(&v).as_deref(), Some("hi"));
        let v = json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]});
        assert_eq!(reply_text(&v).as_deref(), Some("ab"));
        let v = json!({"choices": [{"message": {"content": null, "refusal": "I can't help with that."}}]});
        assert_eq!(reply_text(&v).as_deref(), Some("I can't help with that."));
        assert_eq!(reply_text(&json!({"error": "x"})), None);
    }

    #[test]
    fn the_api_key_never_appears_in_debug_or_id() {
        let t = OpenAiTarget::new(
            "http://127.0.0.1:1/v1/",
            "m",
            Some(Secret::new("sk-very-secret")),
            HttpSettings::default(),
        )
        .unwrap();
        assert_eq!(t.id(), "openai:http://127.0.0.1:1/v1#m");
        assert!(!format!("{t:?}").contains("sk-very"));
    }
}
