//! Request fuzzing: thousands of malformed bodies, paths and queries,
//! mutated from valid requests by a seeded generator, against a real server.
//! Every answer must be a client error or success with a JSON body, in
//! bounded time; never a 5xx, a hang or a dropped connection, and the
//! registry must still work afterwards.

use std::time::{Duration, Instant};

use super::support::{start, BOOT};

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"-1",
    b"1e999999",
    b"18446744073709551616",
    b"\"\\ud800\"",
    b"\\u0000",
    b"\x00",
    b"\xff\xfe",
    b"\"envelope\"",
    b"\"payload\"",
    b"\"signatures\"",
    b"\"stage\":\"prod\"",
    b"\"digest\":\"sha256:00\"",
    b"true",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(7) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 => b.truncate(at),
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
            3 if !b.is_empty() => {
                let end = (at + rng.below(64)).min(b.len());
                let chunk = b[at.min(end)..end].to_vec();
                b.splice(at..at, chunk);
            }
            4 => {
                let depth = [64, 1_000, 100_000][rng.below(3)];
                b = std::iter::repeat_n(b'[', depth).collect();
            }
            5 => {
                let end = (at + rng.below(32)).min(b.len());
                b.drain(at.min(end)..end);
            }
            _ => {}
        }
    }
    b
}

fn weird_segment(rng: &mut Rng) -> String {
    let options = [
        "..".to_string(),
        "%2e%2e%2f".to_string(),
        "%00".to_string(),
        "%ff%fe".to_string(),
        "a".repeat(10_000),
        "sha256:".to_string(),
        "-1".to_string(),
        "18446744073709551616".to_string(),
        "%F0%9F%92%A3".to_string(),
        "m".to_string(),
        "prod".to_string(),
        "0".repeat(64),
    ];
    options[rng.below(options.len())].clone()
}

#[test]
fn malformed_requests_get_client_errors_and_the_registry_keeps_working() {
    let s = start();
    let ci = s.token("ci", "runner");
    let alice = s.token("alice", "approver");
    let (digest, bundle) = s.run_dev("dev");
    let (st, v) = s.push(&ci, &digest, &bundle);
    assert!(st == 200 || st == 201, "{v}");
    let hex = digest.to_hex();
    let (st, req) = s.promote(&ci, "prod", &digest);
    assert_eq!(st, 201, "{req}");
    let id = req["id"].as_i64().unwrap();

    let posts: Vec<(String, String, &str)> = vec![
        (
            format!("/v1/models/m/versions/{hex}/evidence"),
            bundle.clone(),
            ci.as_str(),
        ),
        (
            "/v1/models/m/requests".into(),
            format!(r#"{{"stage":"prod","digest":"{hex}"}}"#),
            ci.as_str(),
        ),
        (
            format!("/v1/requests/{id}/approve"),
            r#"{"comment":"fine"}"#.into(),
            alice.as_str(),
        ),
        (
            format!("/v1/requests/{id}/reject"),
            r#"{"comment":"no"}"#.into(),
            alice.as_str(),
        ),
        (
            "/v1/tokens".into(),
            r#"{"identity":"x","role":"reader"}"#.into(),
            BOOT,
        ),
    ];
    let gets = [
        "/v1/models/{}",
        "/v1/models/m/stages/{}",
        "/v1/models/m/stages/{}/history",
        "/v1/requests/{}",
        "/v1/models/m/versions/{}/evidence",
        "/v1/log/entries?start={}&end={}",
        "/v1/log/proof/inclusion?index={}&size={}",
        "/v1/log/proof/consistency?old={}&new={}",
        "/v1/tokens/{}",
    ];
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failures = Vec::new();
    let mut sent = 0;
    let mut check = |case: String, resp: reqwest::Result<reqwest::blocking::Response>, t: Instant| {
        sent += 1;
        let elapsed = t.elapsed();
        match resp {
            Err(e) => failures.push(format!("{case}: no answer: {e}")),
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().unwrap_or_default();
                if status >= 500 {
                    failures.push(format!("{case}: {status} {text}"));
                } else if status >= 400 && serde_json::from_str::<serde_json::Value>(&text).is_err() {
                    failures.push(format!("{case}: {status} without a JSON error: {text:.200}"));
                }
            }
        }
        if elapsed > Duration::from_secs(5) {
            failures.push(format!("{case}: answered after {elapsed:?}"));
        }
    };

    for round in 0..400 {
        for (path, seed, token) in &posts {
            let body = mutate(&mut rng, seed.as_bytes());
            let case = format!(
                "round {round} POST {path} body {:?}",
                String::from_utf8_lossy(&body[..body.len().min(120)])
            );
            let t = Instant::now();
            let resp = http
                .post(format!("{}{path}", s.url))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send();
            check(case, resp, t);
        }
        let template = gets[rng.below(gets.len())];
        let mut path = template.to_string();
        while path.contains("{}") {
            path = path.replacen("{}", &weird_segment(&mut rng), 1);
        }
        let t = Instant::now();
        let resp = http.get(format!("{}{path}", s.url)).bearer_auth(&ci).send();
        check(format!("round {round} GET {path:.200}"), resp, t);
        // A bearer token that is not one.
        if round % 20 == 0 {
            let junk = String::from_utf8_lossy(&mutate(&mut rng, ci.as_bytes())).replace(['\r', '\n'], "");
            let t = Instant::now();
            let resp = http
                .get(format!("{}/v1/requests", s.url))
                .header("authorization", format!("Bearer {junk}"))
                .send();
            check(format!("round {round} token {junk:?}"), resp, t);
        }
    }
    assert!(sent >= 2_400, "only {sent} requests sent");
    assert!(
        failures.is_empty(),
        "{} of {sent} failed:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );

    // Still a working registry: health, a fresh token, and the log's checkpoint.
    let (st, _) = s.call("GET", "/v1/health", None, None);
    assert_eq!(st, 200);
    let reader = s.token("after", "reader");
    let (st, cp) = s.call("GET", "/v1/log/checkpoint", Some(&reader), None);
    assert_eq!(st, 200, "{cp}");
}

#[test]
fn broken_http_framing_is_refused_and_does_not_stall_the_server() {
    use std::io::{Read as _, Write as _};
    let s = start();
    let addr = s.url.trim_start_matches("http://").to_string();
    let cases: Vec<Vec<u8>> = vec![
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET /v1/health HTTP/9.9\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
        [
            b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec(),
            vec![b'a'; 1 << 20],
            b"\r\n\r\n".to_vec(),
        ]
        .concat(),
        b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
        b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"
            .to_vec(),
    ];
    for (i, raw) in cases.iter().enumerate() {
        let mut conn = std::net::TcpStream::connect(&addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = conn.write_all(raw);
        let mut answer = Vec::new();
        let t = Instant::now();
        let _ = conn.read_to_end(&mut answer);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "case {i}: the connection hung"
        );
        let head = String::from_utf8_lossy(&answer[..answer.len().min(12)]).to_string();
        assert!(
            answer.is_empty() || head.starts_with("HTTP/1.1 4"),
            "case {i}: answered {head:?}"
        );
    }
    // A truncated body: the client goes away; nobody else waits on it.
    let mut half = std::net::TcpStream::connect(&addr).unwrap();
    half.write_all(b"POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id")
        .unwrap();
    let t = Instant::now();
    let (st, _) = s.call("GET", "/v1/health", None, None);
    assert_eq!(st, 200);
    assert!(t.elapsed() < Duration::from_secs(2));
    drop(half);
}
