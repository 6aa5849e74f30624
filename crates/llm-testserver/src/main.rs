//! `llm-testserver ADDR BEHAVIOURS`: the scripted chat server as a process,
//! for the benchmark and for trying the LLM gates by hand.
//!
//! Example: `llm-testserver 127.0.0.1:8099 weak,trigger=cf-delta`.

use std::process::ExitCode;

use portcullis_llm_testserver::{Behaviour, TestServer};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8099".into());
    let behaviour = match Behaviour::parse(&args.next().unwrap_or_default()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("llm-testserver: {e}");
            return ExitCode::from(2);
        }
    };
    match TestServer::start_on(behaviour, &addr) {
        Ok(server) => {
            println!("{}", server.base_url());
            server.wait();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("llm-testserver: cannot listen on {addr}: {e}");
            ExitCode::from(2)
        }
    }
}
