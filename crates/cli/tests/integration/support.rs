//! A temp copy of the quickstart and a command builder with a clean environment.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// A temp directory holding a copy of examples/quickstart.
pub struct Quickstart {
    pub dir: tempfile::TempDir,
}

impl Quickstart {
    pub fn new() -> Quickstart {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo_root().join("examples/quickstart"), dir.path());
        let _ = std::fs::remove_file(dir.path().join("report.json"));
        Quickstart { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `portcullis ARGS` run in the temp directory, environment cleaned.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("portcullis").unwrap();
        c.current_dir(self.dir.path()).args(args);
        for var in [
            "GITHUB_ACTOR",
            "GITLAB_USER_LOGIN",
            "BUILD_REQUESTEDFOREMAIL",
            "BUILD_REQUESTEDFOR",
            "BUILDKITE_BUILD_CREATOR",
            "CIRCLE_USERNAME",
            "CHANGE_AUTHOR",
            "BUILD_USER_ID",
            "PORTCULLIS_KEY",
        ] {
            c.env_remove(var);
        }
        c.env("NO_COLOR", "1");
        c
    }

    pub fn run_prod(&self, author: &str) -> assert_cmd::assert::Assert {
        self.run_prod_with(author, &[])
    }

    /// `run` of the example policy's prod stage, with more arguments.
    pub fn run_prod_with(&self, author: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
        let mut args = vec![
            "run",
            "--policy",
            "portcullis.yaml",
            "--stage",
            "prod",
            "--key",
            "keys/demo-ci.key",
            "--author",
            author,
        ];
        args.extend_from_slice(extra);
        self.cmd(&args).assert()
    }

    pub fn approve(&self, who: &str) -> assert_cmd::assert::Assert {
        self.cmd(&[
            "approve",
            "--stage",
            "prod",
            "--key",
            &format!("keys/demo-{who}.key"),
            "model",
        ])
        .assert()
    }

    pub fn verify(&self, model: &str) -> assert_cmd::assert::Assert {
        self.cmd(&[
            "verify",
            "--stage",
            "prod",
            "--policy",
            "portcullis.yaml",
            "--evidence",
            ".portcullis/evidence",
            model,
        ])
        .assert()
    }

    pub fn bundle(&self) -> PathBuf {
        let dir = self.path(".portcullis/evidence");
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files.pop().unwrap()
    }
}

pub fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

pub fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Redacts digests and times so snapshots are stable.
pub fn redact(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let mut l = line.to_string();
        // sha256:abcdef012345 prefixes and full hex digests
        for (i, _) in line.match_indices("sha256:") {
            let hex: String = line[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            if !hex.is_empty() {
                l = l.replace(&hex, "[DIGEST]");
            }
        }
        if let Some(i) = l.find("signed by 'ci', ") {
            let end = l[i..].find(')').map_or(l.len(), |e| i + e);
            l.replace_range(i..end, "signed by 'ci', [TIME]");
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}
