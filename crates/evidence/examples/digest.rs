//! Prints a model's OpenSSF model-signing digest, like `portcullis digest`.
//!
//! ```text
//! cargo run --release -p portcullis-evidence --example digest -- \
//!     PATH [--serialization files|shards] [--shard-size N] [--format json] \
//!     [--allow-symlinks] [--ignore REL]... [--time]
//! ```
//!
//! `--time` prints the seconds spent in `digest_model` to stderr, which
//! `bench/digest.sh` uses to separate hashing from process start-up.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use portcullis_evidence::{digest_model, DigestOptions, Serialization, DEFAULT_SHARD_SIZE};

fn usage(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    eprintln!(
        "usage: digest PATH [--serialization files|shards] [--shard-size N] \
         [--format json] [--allow-symlinks] [--ignore REL]... [--time]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut path = None;
    let mut shards = false;
    let mut shard_size = DEFAULT_SHARD_SIZE;
    let mut json = false;
    let mut time = false;
    let mut options = DigestOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--serialization" => match args.next().as_deref() {
                Some("files") => shards = false,
                Some("shards") => shards = true,
                _ => return usage("--serialization takes files or shards"),
            },
            "--shard-size" => match args.next().and_then(|s| s.parse().ok()) {
                Some(n) => shard_size = n,
                None => return usage("--shard-size takes a number of bytes"),
            },
            "--format" => match args.next().as_deref() {
                Some("json") => json = true,
                Some("text") => json = false,
                _ => return usage("--format takes json or text"),
            },
            "--ignore" => match args.next() {
                Some(p) => options.ignore.push(p),
                None => return usage("--ignore takes a relative path"),
            },
            "--allow-symlinks" => options.allow_symlinks = true,
            "--time" => time = true,
            other if path.is_none() && !other.starts_with("--") => {
                path = Some(PathBuf::from(other));
            }
            other => return usage(&format!("unexpected argument '{other}'")),
        }
    }
    let Some(path) = path else {
        return usage("missing PATH");
    };
    if shards {
        options.serialization = Serialization::Shards { shard_size };
    }

    let started = Instant::now();
    let manifest = match digest_model(&path, &options, None) {
        Ok(m) => m,
        Err(e) => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let elapsed = started.elapsed();
    if time {
        eprintln!("hash_seconds {:.6}", elapsed.as_secs_f64());
    }
    if json {
        match serde_json::to_string_pretty(&manifest) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        println!("{}", manifest.digest);
    }
    ExitCode::SUCCESS
}
