//! HTTPS: the registry behind `--tls-cert`/`--tls-key`, a real rustls
//! handshake on 127.0.0.1 against the committed test CA
//! (`tests/fixtures/tls/generate.sh`).

use std::io::Write as _;
use std::time::{Duration, Instant};

use portcullis_server::tls::{server_config, TlsError};

use super::support::{start_tls, tls_dir, BOOT};

#[test]
fn the_api_answers_over_https_to_a_client_that_trusts_the_ca() {
    let s = start_tls();
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    let (st, body) = s.call("GET", "/v1/log/checkpoint", Some(BOOT), None);
    assert_eq!(st, 200, "{body}");
    assert!(body.to_string().contains("test.local/registry"), "{body}");
    // The name in the certificate is checked too: localhost is in it.
    let localhost = s.url.replace("127.0.0.1", "localhost");
    let resp = s
        .http
        .get(format!("{localhost}/v1/log/key"))
        .bearer_auth(BOOT)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn an_untrusted_certificate_and_plain_http_are_refused() {
    let s = start_tls();
    let untrusting = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = untrusting
        .get(format!("{}/v1/log/checkpoint", s.url))
        .send()
        .unwrap_err();
    let chain = format!("{err:?}");
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "{chain}"
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = s
        .http
        .get(format!(
            "{}/v1/log/checkpoint",
            s.url.replace("https://", "http://")
        ))
        .send();
    assert!(
        plain.is_err(),
        "plain HTTP answered: {:?}",
        plain.map(|r| r.status())
    );
}

#[test]
fn stalled_handshakes_do_not_block_other_clients() {
    let s = start_tls();
    let addr = s.url.trim_start_matches("https://").to_string();
    // Clients that connect and never say hello, and one that sends garbage.
    let mut idle: Vec<std::net::TcpStream> = (0..32)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    idle[0].write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let t = Instant::now();
    let (st, body) = s.call("GET", "/v1/log/checkpoint", Some(BOOT), None);
    assert_eq!(st, 200, "{body}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        t.elapsed()
    );
    drop(idle);
}

#[test]
fn bad_certificate_and_key_files_are_named_with_the_cause() {
    let dir = tls_dir();
    let missing = dir.join("missing.pem");
    let err = server_config(&missing, &dir.join("server.key")).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    // A key where the certificate belongs.
    let err = server_config(&dir.join("server.key"), &dir.join("server.key")).unwrap_err();
    assert!(err.to_string().contains("BEGIN CERTIFICATE"), "{err}");
    assert!(err.to_string().contains("server.key"), "{err}");

    // A certificate where the key belongs.
    let err = server_config(&dir.join("server.pem"), &dir.join("ca.pem")).unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    assert!(err.to_string().contains("ca.pem"), "{err}");

    // A key that is not the certificate's.
    let err = server_config(&dir.join("server.pem"), &dir.join("other.key")).unwrap_err();
    assert!(matches!(err, TlsError::Config { .. }), "{err}");
    assert!(err.to_string().contains("other.key"), "{err}");

    // Not PEM at all, and too large.
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, b"\x00\x01 not pem").unwrap();
    assert!(server_config(&junk, &dir.join("server.key")).is_err());
    let big = tmp.path().join("big.pem");
    std::fs::write(&big, vec![b'A'; 2 << 20]).unwrap();
    let err = server_config(&big, &dir.join("server.key")).unwrap_err();
    assert!(matches!(err, TlsError::TooLarge { .. }), "{err}");
}
