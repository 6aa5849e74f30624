#!/usr/bin/env bash
# Classic gates benchmark (run by hand, never in CI): the full performance +
# fairness evaluation of a RandomForest over the Adult test set (16,281 rows)
# in portcullis versus Python (onnxruntime + scikit-learn + fairlearn
# MetricFrame). Whole-process wall time, 5 runs each, best and median.
#
# Needs: the credit-scoring example files and a Python with onnxruntime,
# scikit-learn, pandas and fairlearn (PYTHON=path/to/python, default the
# generator venv /work/.venv-gen/bin/python if present, else python3).
# portcullis runs exactly what a user runs: the release CLI, one `eval` per
# gate (two processes).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x /work/.venv-gen/bin/python ]; then PYTHON=/work/.venv-gen/bin/python; else PYTHON=python3; fi
fi
RUNS=${RUNS:-5}
EX=examples/credit-scoring
MODEL=$EX/models/forest.onnx
DATA=$EX/data/applicants.csv
[ -n "${NO_BUILD:-}" ] || cargo build -q --release -p portcullis-cli
BIN=target/release/portcullis

rust_once() {
  "$BIN" eval performance --model "$MODEL" --data "$DATA" --label label --set slices=sex,race --format json >/dev/null || [ $? -eq 1 ]  # 1 = a threshold failed; 2 would be an error
  "$BIN" eval fairness --model "$MODEL" --data "$DATA" --label label --set sensitive=sex,race --format json >/dev/null || [ $? -eq 1 ]  # 1 = a threshold failed; 2 would be an error
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
