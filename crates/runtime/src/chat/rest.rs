//! A generic REST target: fill a JSON request template, POST it, and read
//! the reply text at a JSON pointer or a simple JSONPath.
//!
//! Placeholders in the template: a string that is exactly `{{messages}}`
//! becomes the message array (`[{role, content}]`); inside any string,
//! `{{prompt}}` becomes the last user message and `{{system}}` the system
//! prompt. Substitution works on the parsed JSON, so quotes and newlines in
//! a prompt can never break the request.

use super::http::{check_url, client, post_json};
use super::{BoxFuture, ChatError, ChatReply, ChatRequest, ChatTarget, HttpSettings, Secret};

/// Where the reply text is in the response: a list of object keys and
/// array indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPath {
    tokens: Vec<String>,
    shown: String,
}

impl ReplyPath {
    /// Parses a JSON pointer (`/choices/0/text`) or a dotted JSONPath
    /// (`$.choices[0].text`, `$['output']`).
    ///
    /// # Errors
    /// [`ChatError::Config`] with the position of the problem.
    pub fn parse(path: &str) -> Result<Self, ChatError> {
        let bad = |at: usize, why: &str| {
            ChatError::Config(format!(
                "reply path '{path}': {why} at character {at}; write a JSON pointer like /output/text or a JSONPath like $.output.text"
            ))
        };
        let mut tokens = Vec::new();
        if let Some(rest) = path.strip_prefix('/') {
            for t in rest.split('/') {
                tokens.push(t.replace("~1", "/").replace("~0", "~"));
            }
        } else if let Some(rest) = path.strip_prefix('$') {
            let chars: Vec<char> = rest.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                match chars.get(i) {
                    Some('.') => {
                        let start = i + 1;
                        let mut j = start;
                        while chars.get(j).is_some_and(|c| *c != '.' && *c != '[') {
                            j += 1;
                        }
                        if j == start {
                            return Err(bad(i + 2, "empty key"));
                        }
                        tokens.push(chars.get(start..j).unwrap_or_default().iter().collect());
                        i = j;
                    }
                    Some('[') => {
                        let close = (i..chars.len())
                            .find(|k| chars.get(*k) == Some(&']'))
                            .ok_or_else(|| bad(i + 2, "unclosed '['"))?;
                        let inner: String = chars.get(i + 1..close).unwrap_or_default().iter().collect();
                        let inner = inner.trim();
                        let key = if let Some(q) = inner
                            .strip_prefix('\'')
                            .and_then(|s| s.strip_suffix('\''))
                            .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                        {
                            q.to_string()
                        } else if inner.parse::<usize>().is_ok() {
                            inner.to_string()
                        } else {
                            return Err(bad(i + 2, "only [index] and ['key'] are supported"));
                        };
                        tokens.push(key);
                        i = close + 1;
                    }
                    _ => return Err(bad(i + 2, "expected '.' or '['")),
                }
            }
        } else {
            return Err(bad(1, "must start with '/' or '$'"));
        }
        Ok(ReplyPath {
            tokens,
            shown: path.to_string(),
        })
    }

    /// The value at this path.
    pub fn get<'v>(&self, value: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        let mut v = value;
        for t in &self.tokens {
            v = match v {
                serde_json::Value::Object(m) => m.get(t)?,
                serde_json::Value::Array(a) => a.get(t.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }
}

/// A generic JSON-over-HTTP target.
#[derive(Debug)]
pub struct RestTarget {
    url: String,
    template: serde_json::Value,
    reply: ReplyPath,
    headers: Vec<(String, String)>,
    api_key: Option<Secret>,
    settings: HttpSettings,
    client: reqwest::Client,
}

impl RestTarget {
    /// A target that POSTs `template` (with placeholders filled) to `url`
    /// and reads the reply at `reply`. `headers` are sent as given; the
    /// `api_key`, when given, as `Authorization: Bearer`.
    ///
    /// # Errors
    /// [`ChatError::Config`] for a bad URL or a template without any
    /// placeholder (it would send the same request for every probe).
    pub fn new(
        url: &str,
        template: serde_json::Value,
        reply: ReplyPath,
        headers: Vec<(String, String)>,
        api_key: Option<Secret>,
        settings: HttpSettings,
    ) -> Result<Self, ChatError> {
        let url = check_url(url)?;
        let text = template.to_string();
        if !text.contains("{{prompt}}") && !text.contains("{{messages}}") {
            return Err(ChatError::Config(
                "the request template must contain \"{{prompt}}\" or \"{{messages}}\"".into(),
            ));
        }
        Ok(RestTarget {
            client: client(&settings)?,
            url,
            template,
            reply,
            headers,
            api_key,
            settings,
        })
    }

    /// The request body for `request`.
    pub fn render(&self, request: &ChatRequest) -> serde_json::Value {
        fill(&self.template, request)
    }
}

fn fill(v: &serde_json::Value, request: &ChatRequest) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) if s == "{{messages}}" => {
            serde_json::to_value(&request.messages).unwrap_or(serde_json::Value::Null)
        }
        serde_json::Value::String(s) => serde_json::Value::String(
            s.replace("{{prompt}}", request.last_user())
                .replace("{{system}}", request.system()),
        ),
        serde_json::Value::Array(a) => a.iter().map(|x| fill(x, request)).collect(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, x)| (k.clone(), fill(x, request)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

impl ChatTarget for RestTarget {
    fn id(&self) -> String {
        format!("rest:{}#{}", self.url, self.reply.shown)
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn model(&self) -> Option<&str> {
        None
    }

    fn send<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ChatError>> {
        Box::pin(async move {
            let body = self.render(request);
            let mut headers = self.headers.clone();
            if let Some(k) = &self.api_key {
                headers.push(("authorization".into(), format!("Bearer {}", k.expose())));
            }
            let (value, status) = post_json(&self.client, &self.settings, &self.url, &headers, &body).await?;
            let text = match self.reply.get(&value) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => {
                    return Err(ChatError::Reply {
                        url: self.url.clone(),
                        message: format!("'{}' holds {other}, not a string", self.reply.shown),
                    })
                }
                None => {
                    return Err(ChatError::Reply {
                        url: self.url.clone(),
                        message: format!("the reply has nothing at '{}'", self.reply.shown),
                    })
                }
            };
            Ok(ChatReply { text, status })
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::chat::ChatMessage;

    #[test]
    fn pointers_and_jsonpaths_reach_the_same_value() {
        let v = json!({"out": [{"text": "a"}, {"text": "b"}], "x/y": 1});
        for p in ["/out/1/text", "$.out[1].text", "$['out'][1]['text']"] {
            assert_eq!(ReplyPath::parse(p).unwrap().get(&v), Some(&json!("b")), "{p}");
        }
        assert_eq!(ReplyPath::parse("/x~1y").unwrap().get(&v), Some(&json!(1)));
        assert!(ReplyPath::parse("out.text").is_err());
        assert!(ReplyPath::parse("$.out[*]").is_err());
        assert!(ReplyPath::parse("$.out[1").is_err());
    }

    #[test]
    fn the_template_is_filled_on_parsed_json_so_quotes_cannot_escape() {
        let t = RestTarget::new(
            "http://127.0.0.1:9/gen",
            json!({"input": "Q: {{prompt}}", "sys": "{{system}}", "history": "{{messages}}", "n": 1}),
            ReplyPath::parse("/text").unwrap(),
            vec![],
            None,
            HttpSettings::default(),
        )
        .unwrap();
        let req = ChatRequest::new(vec![ChatMessage::system("S"), ChatMessage::user("say \"hi\"\n}")]);
        let body = t.render(&req);
        assert_eq!(body["input"], "Q: say \"hi\"\n}");
        assert_eq!(body["sys"], "S");
        assert_eq!(body["history"][1]["role"], "user");
        assert_eq!(body["n"], 1);
    }
}
