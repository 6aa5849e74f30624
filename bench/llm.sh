#!/usr/bin/env bash
# LLM gate runner benchmark (by hand, never in CI): 10 000 chat attempts at
# concurrency 64 against the scripted OpenAI-compatible server on
# 127.0.0.1, with the JSONL attempt log on. Prints attempts/second and the
# runner's own CPU time per attempt.
#   bench/llm.sh [ATTEMPTS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
ATTEMPTS="${1:-10000}"
CONC="${2:-64}"
PORT="${PORT:-18099}"
cargo build --release -q -p portcullis-llm-testserver --bin llm-testserver
cargo build --release -q -p portcullis-runtime --example llm_bench
./target/release/llm-testserver "127.0.0.1:${PORT}" safe > /dev/null &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
sleep 0.5
./target/release/examples/llm_bench "http://127.0.0.1:${PORT}/v1" "$ATTEMPTS" "$CONC" target/llm-bench.jsonl
