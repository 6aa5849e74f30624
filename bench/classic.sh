#!/usr/bin/env bash
# Classic gates benchmark (run by hand, never in CI): the full performance +
# fairness evaluation of a RandomForest over the Adult test set (16,281 rows)
# in portcullis versus Python (onnxruntime + scikit-learn + fairlearn
# MetricFrame). Whole-process wall time, 5 runs each, best and median.
#
# Needs: the credit-scoring example files, and a Python with
# examples/credit-scoring/requirements.txt installed (PYTHON=path/to/python).
# portcullis runs through the gates crate's example binary until the CLI's
# `eval` is wired; it is built in the dev profile, where dependencies are
# fully optimised and our own code at opt-level 1.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
RUNS=${RUNS:-5}
EX=examples/credit-scoring
MODEL=$EX/models/forest.onnx
DATA=$EX/data/applicants.csv
cargo build -q -p portcullis-gates --example eval_classic
BIN=target/debug/examples/eval_classic

rust_once() {
  "$BIN" performance --model "$MODEL" --data "$DATA" --set label=label --set slices=sex,race >/dev/null || true
  "$BIN" fairness --model "$MODEL" --data "$DATA" --set label=label --set sensitive=sex,race >/dev/null || true
}
py_once() {
  "$PYTHON" -W ignore bench/classic_baseline.py "$MODEL" "$DATA" >/dev/null
}
measure() {
  local fn=$1 times=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N); $fn; t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f %.3f\n", a[1], a[int((NR+1)/2)]}'
}
read -r rb rm < <(measure rust_once)
read -r pb pm < <(measure py_once)
echo "portcullis: best ${rb}s median ${rm}s"
echo "python:     best ${pb}s median ${pm}s"
echo "speed-up (median): $(echo "$pm / $rm" | bc -l | xargs printf '%.1f')x"
