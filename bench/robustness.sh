#!/usr/bin/env bash
# HopSkipJump, same model, same 100 rows, same schedule: portcullis vs the
# Adversarial Robustness Toolbox (BlackBoxClassifier over onnxruntime).
# Whole-process wall time and success rate within ε, side by side.
#
# Run by hand from the repository root:
#   python -m venv /tmp/bench-venv
#   /tmp/bench-venv/bin/pip install -r examples/digits-backdoor/requirements.txt adversarial-robustness-toolbox==1.18.2
#   PYTHON=/tmp/bench-venv/bin/python bench/robustness.sh
set -euo pipefail
PYTHON=${PYTHON:-python3}
MODEL=examples/digits-backdoor/models/clean.onnx
NORM=${NORM:-l2}
EPS=${EPS:-8}
MAX_ITER=${MAX_ITER:-20}
MAX_EVAL=${MAX_EVAL:-1000}
INIT_EVAL=${INIT_EVAL:-100}
DATA=$(mktemp --suffix=.csv)
trap 'rm -f "$DATA"' EXIT
head -101 examples/digits-backdoor/data/test.csv > "$DATA"   # header + 100 rows

cargo build --release -q -p portcullis-gates --example eval_gate
BIN=target/release/examples/eval_gate

echo "== portcullis (HopSkipJump, $NORM, eps=$EPS, max_iter=$MAX_ITER, max_eval=$MAX_EVAL, $(nproc) cores)"
/usr/bin/time -f "wall %e s, max RSS %M KB" "$BIN" robustness "$MODEL" "$DATA" label \
  attack=hopskipjump norm="$NORM" epsilon="$EPS" samples=100 max_queries=1000000 \
  max_iter="$MAX_ITER" max_eval="$MAX_EVAL" init_eval="$INIT_EVAL" clip=0,16 input_shape=1,8,8

echo "== ART $("$PYTHON" -c 'import art; print(art.__version__)' 2>/dev/null)"
/usr/bin/time -f "wall %e s, max RSS %M KB" "$PYTHON" -W ignore bench/art_hopskipjump.py "$MODEL" "$DATA" \
  "$NORM" "$EPS" "$MAX_ITER" "$MAX_EVAL" "$INIT_EVAL" 0 16
