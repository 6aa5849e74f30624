//! HTTPS: the registry behind `--tls-cert`/`--tls-key`, a real rustls
//! handshake on 127.0.0.1 against the committed test CA
//! (`tests/fixtures/tls/generate.sh`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_engine::{SigningKey, SystemClock};
use portcullis_server::store::SqliteStore;
use portcullis_server::tls::{server_config, TlsError};
use portcullis_server::{Config, Registry};

const BOOT: &str = "tls-boot-secret";

fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls")
}

struct Https {
    port: u16,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Https {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start_https() -> Https {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("registry.db")).unwrap());
    let config = Config {
        policies: vec![],
        key: SigningKey::generate(),
        origin: "test.local/registry".into(),
        bootstrap_token: Some(BOOT.into()),
    };
    let registry = Arc::new(Registry::open(store, config, Arc::new(SystemClock)).unwrap());
    let tls = server_config(&tls_dir().join("server.pem"), &tls_dir().join("server.key")).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            portcullis_server::serve_tls(listener, tls, registry, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
    });
    Https {
        port: port_rx.recv().unwrap(),
        _dir: dir,
        stop: Some(tx),
        thread: Some(thread),
    }
}

fn trusting_client() -> reqwest::blocking::Client {
    let ca = std::fs::read(tls_dir().join("ca.pem")).unwrap();
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn the_api_answers_over_https_to_a_client_that_trusts_the_ca() {
    let server = start_https();
    let resp = trusting_client()
        .get(format!("https://127.0.0.1:{}/v1/log/checkpoint", server.port))
        .bearer_auth(BOOT)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().unwrap();
    assert!(body.contains("test.local/registry"), "{body}");
    // The name in the certificate is checked too: localhost is in it.
    let resp = trusting_client()
        .get(format!("https://localhost:{}/v1/log/key", server.port))
        .bearer_auth(BOOT)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn an_untrusted_certificate_and_plain_http_are_refused() {
    let server = start_https();
    let untrusting = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let err = untrusting
        .get(format!("https://127.0.0.1:{}/v1/log/checkpoint", server.port))
        .send()
        .unwrap_err();
    let chain = format!("{:?}", err);
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "{chain}"
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = trusting_client()
        .get(format!("http://127.0.0.1:{}/v1/log/checkpoint", server.port))
        .send();
    assert!(
        plain.is_err(),
        "plain HTTP answered: {:?}",
        plain.map(|r| r.status())
    );
}

#[test]
fn stalled_handshakes_do_not_block_other_clients() {
    let server = start_https();
    // Clients that connect and never say hello, and one that sends garbage.
    let mut idle: Vec<std::net::TcpStream> = (0..32)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    idle[0].write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let t = Instant::now();
    let resp = trusting_client()
        .get(format!("https://127.0.0.1:{}/v1/log/checkpoint", server.port))
        .bearer_auth(BOOT)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
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
