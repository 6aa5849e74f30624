//! A scripted OpenAI-compatible chat server for tests and benchmarks.
//!
//! [`TestServer::start`] binds `127.0.0.1:0` and serves
//! `POST /v1/chat/completions` (OpenAI format) and `POST /generate` (a
//! generic REST shape: `{"input", "system"}` in, `{"output": {"text"}}`
//! out) from its own thread. What it answers is decided by
//! [`model::reply`] under a [`Behaviour`]: the safe model refuses harmful
//! requests and keeps secrets; each switch adds one weakness (role-play
//! jailbreaks, injection, prompt leakage, encodings, PII, insecure code, a
//! backdoor trigger) or one transport fault (401, 429 storms, stalls,
//! non-JSON, truncated or huge replies, a crash). The server counts the
//! requests it received, so tests can prove a resumed run re-asked only
//! what was missing.
#![deny(missing_docs)]

pub mod model;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub use model::Behaviour;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A running server. Dropping it stops it.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    counter: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with `behaviour` on `127.0.0.1:0`.
    ///
    /// # Errors
    /// An I/O error when the port cannot be bound.
    pub fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        Self::start_on(behaviour, "127.0.0.1:0")
    }

    /// Starts a server on `addr` (the benchmark binds a fixed port).
    ///
    /// # Errors
    /// An I/O error when the address cannot be bound.
    pub fn start_on(behaviour: Behaviour, addr: &str) -> std::io::Result<Self> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let counter = Arc::new(AtomicU64::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let c = counter.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = TcpListener::from_std(std_listener) else {
                    return;
                };
                let behaviour = Arc::new(behaviour);
                tokio::select! {
                    _ = rx => {}
                    _ = accept_loop(listener, behaviour, c) => {}
                }
            });
        });
        Ok(TestServer {
            addr,
            counter,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI-compatible base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received so far (every HTTP request, faults included).
    pub fn requests(&self) -> u64 {
        self.counter.load(Ordering::SeqCst)
    }

    /// Blocks until the server stops (for the binary).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, behaviour: Arc<Behaviour>, counter: Arc<AtomicU64>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, behaviour.clone(), counter.clone()));
    }
}

struct Request {
    path: String,
    authorization: Option<String>,
    body: Vec<u8>,
    close: bool,
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    let mut head = 0usize;
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let _method = parts.next()?;
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    let mut authorization = None;
    let mut close = false;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await.ok()?;
        head += n;
        if n == 0 || head > MAX_HEAD {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        let v = v.trim();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => length = v.parse().ok()?,
            "authorization" => authorization = Some(v.to_string()),
            "connection" => close = v.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if length > MAX_BODY {
        return None;
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request {
        path,
        authorization,
        body,
        close,
    })
}

async fn serve(stream: TcpStream, b: Arc<Behaviour>, counter: Arc<AtomicU64>) {
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader).await {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        if b.die_after.is_some_and(|d| n > d) {
            return;
        }
        let (status, extra, body, truncate) = respond(&b, &req, n).await;
        let mut head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {}\r\ncontent-length: {}\r\n{extra}",
            if b.non_json && status.starts_with("200") {
                "text/html"
            } else {
                "application/json"
            },
            body.len()
        );
        head.push_str("\r\n");
        let stream = reader.get_mut();
        let sent = if truncate {
            let cut = body.len() / 2;
            let mut out = head.into_bytes();
            out.extend_from_slice(body.as_bytes().get(..cut).unwrap_or_default());
            let _ = stream.write_all(&out).await;
            return;
        } else {
            let mut out = head.into_bytes();
            out.extend_from_slice(body.as_bytes());
            stream.write_all(&out).await
        };
        if sent.is_err() || req.close {
            return;
        }
    }
}

async fn respond(b: &Behaviour, req: &Request, n: u64) -> (&'static str, String, String, bool) {
    let json_error = |msg: &str| serde_json::json!({"error": {"message": msg}}).to_string();
    if let Some(key) = &b.api_key {
        if req.authorization.as_deref() != Some(format!("Bearer {key}").as_str()) {
            return (
                "401 Unauthorized",
                String::new(),
                json_error("invalid api key"),
                false,
            );
        }
    }
    if b.always_429 || b.rate_limit_every.is_some_and(|k| k > 0 && n.is_multiple_of(k)) {
        return (
            "429 Too Many Requests",
            format!("retry-after: {}\r\n", b.retry_after_secs),
            json_error("rate limited"),
            false,
        );
    }
    if b.stall_every.is_some_and(|k| k > 0 && n.is_multiple_of(k)) {
        tokio::time::sleep(Duration::from_millis(b.stall_ms)).await;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&req.body) else {
        return (
            "400 Bad Request",
            String::new(),
            json_error("body is not JSON"),
            false,
        );
    };
    let (messages, openai) = if req.path.ends_with("/chat/completions") {
        let msgs = value
            .get("messages")
            .and_then(|m| m.as_array())
            .map(|a| {
                a.iter()
                    .map(|m| {
                        (
                            m.get("role")
                                .and_then(|r| r.as_str())
                                .unwrap_or("user")
                                .to_string(),
                            m.get("content")
                                .and_then(|r| r.as_str())
                                .unwrap_or_default()
                                .to_string(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        (msgs, true)
    } else if req.path == "/generate" {
        let mut msgs = Vec::new();
        if let Some(s) = value.get("system").and_then(|s| s.as_str()) {
            msgs.push(("system".to_string(), s.to_string()));
        }
        msgs.push((
            "user".to_string(),
            value
                .get("input")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_string(),
        ));
        (msgs, false)
    } else {
        return ("404 Not Found", String::new(), json_error("no such route"), false);
    };
    if b.non_json {
        return (
            "200 OK",
            String::new(),
            "<html><body>Gateway says hello</body></html>".into(),
            false,
        );
    }
    let mut text = model::reply(b, &messages);
    if let Some(size) = b.reply_bytes {
        while text.len() < size {
            text.push_str(" padding");
        }
    }
    let body = if openai {
        serde_json::json!({
            "id": format!("chatcmpl-{n}"),
            "object": "chat.completion",
            "created": 0,
            "model": value.get("model").cloned().unwrap_or_default(),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        })
    } else {
        serde_json::json!({"output": {"text": text}})
    };
    ("200 OK", String::new(), body.to_string(), b.truncated)
}
