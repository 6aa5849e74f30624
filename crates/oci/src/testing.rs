//! A real OCI registry on 127.0.0.1 for tests: Debian's `docker-registry`
//! (CNCF distribution) with throw-away storage.
//!
//! [`LocalRegistry::for_test`] returns `None` with a printed reason when
//! the program is missing outside CI, and panics under `CI=true`, where
//! the tests must run.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry; stopped on drop.
#[derive(Debug)]
pub struct LocalRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

fn program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PORTCULLIS_TEST_REGISTRY") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/docker-registry",
        "/usr/local/bin/registry",
        "/usr/bin/registry",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

impl LocalRegistry {
    /// Starts a registry, or explains why not.
    ///
    /// # Errors
    /// A message naming what is missing or what failed.
    pub fn start() -> Result<LocalRegistry, String> {
        let program = program().ok_or(
            "no OCI registry program: install Debian's docker-registry (apt-get install docker-registry) or set PORTCULLIS_TEST_REGISTRY",
        )?;
        let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("data");
        let text = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        std::fs::write(&config, text).map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let child = Command::new(&program)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut reg = LocalRegistry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&reg.addr).is_ok() {
                return Ok(reg);
            }
            if let Ok(Some(status)) = reg.child.try_wait() {
                return Err(format!("{} exited at start: {status}", program.display()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = reg.child.kill();
        Err(format!(
            "{} did not listen on {} within 20 s",
            program.display(),
            reg.addr
        ))
    }

    /// A registry for a test: `None` (with the reason printed) outside CI
    /// when it cannot start; a panic under `CI=true`.
    ///
    /// # Panics
    /// Under `CI=true`, when the registry cannot start.
    pub fn for_test() -> Option<LocalRegistry> {
        match LocalRegistry::start() {
            Ok(r) => Some(r),
            Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                #[allow(clippy::panic, reason = "a test service must run in CI")]
                {
                    panic!("CI=true but the OCI registry cannot start: {why}")
                }
            }
            Err(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    /// `oci://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.addr)
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
