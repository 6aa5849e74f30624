#!/usr/bin/env bash
# Throughput and detection benchmark for the model-file scanner, run by hand:
#   bash bench/scan.sh            (needs python3 with pip; installs the tools in a venv)
# Compares `portcullis scan` (release build of the CLI, in each of its output
# formats) with picklescan and modelscan from PyPI on:
#   - throughput: the labelled fixture corpus plus a large benign set generated
#     under /tmp (a 1 GiB PyTorch-style zip and 2000 small pickles), whole-process
#     wall time, 5 runs each taken round-robin across the tools (so a change in
#     machine load hits every tool alike), median reported;
#   - detection: per labelled fixture, whether each tool flags it.
# Nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${BENCH_DIR:-/tmp/portcullis-scan-bench}
VENV=${BENCH_VENV:-$WORK/venv}
mkdir -p "$WORK"
if [ ! -x "$VENV/bin/picklescan" ] || [ ! -x "$VENV/bin/modelscan" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q picklescan==1.0.5 modelscan==0.8.8 numpy==2.4.6 scikit-learn==1.9.1 joblib==1.6.0
fi
[ -n "${NO_BUILD:-}" ] || cargo build -q --release -p portcullis-cli
BIN="$ROOT/target/release/portcullis"
"$VENV/bin/python" "$ROOT/bench/scan_bench.py" \
  --portcullis "$BIN" --picklescan "$VENV/bin/picklescan" --modelscan "$VENV/bin/modelscan" \
  --fixtures "$ROOT/crates/scan/tests/fixtures" --work "$WORK" --runs "${RUNS:-5}"
