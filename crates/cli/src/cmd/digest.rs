//! `portcullis digest`: the OpenSSF model-signing digest of a model.

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use portcullis_evidence::{DigestOptions, Serialization, DEFAULT_SHARD_SIZE};

use crate::common::Exit;
use crate::progress::Terminal;

/// Manifest serialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SerializationArg {
    /// One resource per file.
    Files,
    /// Files cut into fixed-size shards.
    Shards,
}

/// Output of `digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DigestFormat {
    /// The hex digest alone.
    Hex,
    /// The whole manifest.
    Json,
}

/// Arguments of `digest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file or directory.
    pub path: PathBuf,
    /// How resources are cut.
    #[arg(long, value_enum, default_value_t = SerializationArg::Files)]
    pub serialization: SerializationArg,
    /// Shard size in bytes, with --serialization shards.
    #[arg(long, default_value_t = DEFAULT_SHARD_SIZE)]
    pub shard_size: u64,
    /// Follow symbolic links instead of refusing them.
    #[arg(long)]
    pub allow_symlinks: bool,
    /// Extra relative paths to leave out (repeatable).
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DigestFormat::Hex)]
    pub format: DigestFormat,
}

/// Runs `digest`.
pub fn run(args: Args) -> Result<Exit> {
    if args.shard_size == 0 {
        anyhow::bail!("--shard-size must be at least 1 byte");
    }
    let options = DigestOptions {
        serialization: match args.serialization {
            SerializationArg::Files => Serialization::Files,
            SerializationArg::Shards => Serialization::Shards {
                shard_size: args.shard_size,
            },
        },
        ignore: args.ignore.clone(),
        allow_symlinks: args.allow_symlinks,
    };
    let manifest = portcullis_engine::digest_artifact(&args.path, &options, &Terminal::new())?;
    match args.format {
        DigestFormat::Hex => println!("{}", manifest.digest.to_hex()),
        DigestFormat::Json => print!("{}", portcullis_report::json::to_pretty(&manifest)),
    }
    Ok(Exit::Ok)
}
