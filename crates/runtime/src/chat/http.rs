//! The HTTP plumbing both targets share: one pooled client, a capped body
//! reader, and the mapping from transport results to [`ChatError`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{ChatError, HttpSettings};

/// Builds the pooled client.
pub(crate) fn client(settings: &HttpSettings) -> Result<reqwest::Client, ChatError> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(settings.pool_size.max(1))
        .build()
        .map_err(|e| ChatError::Config(format!("cannot build the HTTP client: {e}")))
}

/// Checks a base URL is http(s) and returns it without a trailing slash.
pub(crate) fn check_url(url: &str) -> Result<String, ChatError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        ChatError::Config(format!(
            "'{url}' is not a URL ({e}); write e.g. http://127.0.0.1:8000/v1"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ChatError::Config(format!(
            "'{url}' must be an http:// or https:// URL"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// POSTs `body` and returns the parsed JSON reply and its status.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    settings: &HttpSettings,
    url: &str,
    headers: &[(String, String)],
    body: &serde_json::Value,
) -> Result<(serde_json::Value, u16), ChatError> {
    let mut req = client.post(url).json(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let mut resp = req.send().await.map_err(|e| transport(url, settings, &e))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    if let Some(len) = resp.content_length() {
        if len > settings.max_reply_bytes as u64 && status < 300 {
            return Err(ChatError::Reply {
                url: url.to_string(),
                message: format!(
                    "the reply is {len} bytes, over the {}-byte limit",
                    settings.max_reply_bytes
                ),
            });
        }
    }
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > settings.max_reply_bytes {
                    return Err(ChatError::Reply {
                        url: url.to_string(),
                        message: format!("the reply is over the {}-byte limit", settings.max_reply_bytes),
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                if status >= 300 {
                    break;
                }
                return Err(match transport(url, settings, &e) {
                    ChatError::Connect { url, message } => ChatError::Reply {
                        url,
                        message: format!("the reply was cut off: {message}"),
                    },
                    other => other,
                });
            }
        }
    }
    if status >= 300 {
        let text = String::from_utf8_lossy(bytes.get(..bytes.len().min(200)).unwrap_or_default());
        return Err(ChatError::Status {
            url: url.to_string(),
            status,
            retry_after,
            body: text.trim().to_string(),
        });
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ChatError::Reply {
        url: url.to_string(),
        message: if e.is_eof() {
            format!("the JSON reply is truncated after {} bytes", bytes.len())
        } else {
            format!(
                "the reply is not JSON (line {}, column {}: {e})",
                e.line(),
                e.column()
            )
        },
    })?;
    Ok((value, status))
}

fn transport(url: &str, settings: &HttpSettings, e: &reqwest::Error) -> ChatError {
    if e.is_timeout() {
        ChatError::Timeout {
            url: url.to_string(),
            timeout: settings.timeout,
        }
    } else {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        ChatError::Connect {
            url: url.to_string(),
            message,
        }
    }
}

/// Parses `Retry-After`: delay seconds or an IMF-fixdate (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
    }
    let at = parse_imf_fixdate(v)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → seconds since the epoch.
fn parse_imf_fixdate(v: &str) -> Option<u64> {
    let rest = v.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let s: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::try_from(day).ok()? - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let days = u64::try_from(days).ok()?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
