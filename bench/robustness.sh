#!/usr/bin/env bash
# HopSkipJump, same model, same 100 rows, same schedule: portcullis (the
# release CLI) vs the Adversarial Robustness Toolbox (BlackBoxClassifier over
# onnxruntime). Whole-process wall time and success rate within ε, side by
# side, runs interleaved so both sides see the same machine load.
#
# Run by hand from the repository root:
#   python -m venv /tmp/bench-venv
#   /tmp/bench-venv/bin/pip install -r examples/digits-backdoor/requirements.txt adversarial-robustness-toolbox==1.18.2
#   PYTHON=/tmp/bench-venv/bin/python bench/robustness.sh
#
# Same budget on both sides: max_iter, max_eval, init_eval, init_size 100
# (both defaults), norm, ε, clip [0, 16], and the binary-search threshold:
# ART 1.18.2 uses θ = 0.01/√d (L2) or 0.01/d (L∞), which is portcullis's
# θ = γ/(d√d) or γ/d² with γ = 0.01·d, so GAMMA defaults to 0.64 (d = 64).
# portcullis's own query cap (max_queries) is set far above what the
# schedule can spend, so it never binds.
set -euo pipefail
PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-examples/digits-backdoor/models/clean.onnx}
NORM=${NORM:-l2}
EPS=${EPS:-8}
MAX_ITER=${MAX_ITER:-20}
MAX_EVAL=${MAX_EVAL:-1000}
INIT_EVAL=${INIT_EVAL:-100}
GAMMA=${GAMMA:-0.64}
RUNS=${RUNS:-5}          # portcullis runs
ART_RUNS=${ART_RUNS:-3}  # ART runs (about 30 s each on 2 vCPUs)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
DATA=$OUT/rows.csv
head -101 examples/digits-backdoor/data/test.csv > "$DATA"   # header + 100 rows

cargo build --release -q -p portcullis-cli
BIN=target/release/portcullis

echo "HopSkipJump $NORM eps=$EPS max_iter=$MAX_ITER max_eval=$MAX_EVAL init_eval=$INIT_EVAL gamma=$GAMMA," \
  "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ART $("$PYTHON" -c 'import art; print(art.__version__)' 2>/dev/null)"
n=$(( RUNS > ART_RUNS ? RUNS : ART_RUNS ))
for i in $(seq 0 $((n - 1))); do
  if [ "$i" -lt "$RUNS" ]; then
    # exit 1 is a failed gate (robust_accuracy below 0.5), not a bench error
    /usr/bin/time -f "%e %M" -o "$OUT/p$i.time" "$BIN" eval robustness --model "$MODEL" --data "$DATA" \
      --label label --seed "$i" --format json --output "$OUT/p$i.json" \
      --set attack=hopskipjump --set norm="$NORM" --set epsilon="$EPS" --set samples=100 \
      --set max_queries=1000000 --set max_iter="$MAX_ITER" --set max_eval="$MAX_EVAL" \
      --set init_eval="$INIT_EVAL" --set gamma="$GAMMA" --set clip=[0,16] --set input_shape=[1,8,8] \
      2>/dev/null || [ $? -eq 1 ]
    echo "portcullis run $i: $(tail -1 "$OUT/p$i.time") (s, KB)"
  fi
  if [ "$i" -lt "$ART_RUNS" ]; then
    /usr/bin/time -f "%e %M" -o "$OUT/a$i.time" "$PYTHON" -W ignore bench/art_hopskipjump.py "$MODEL" "$DATA" \
      "$NORM" "$EPS" "$MAX_ITER" "$MAX_EVAL" "$INIT_EVAL" 0 16 "$i" > "$OUT/a$i.json"
    echo "ART run $i: $(tail -1 "$OUT/a$i.time") (s, KB)"
  fi
done

"$PYTHON" - "$OUT" "$RUNS" "$ART_RUNS" <<'EOF'
import json, statistics, sys
out, runs, art_runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def times(prefix, n):
    # the last line: /usr/bin/time writes a note above it on a non-zero exit
    return [float(open(f"{out}/{prefix}{i}.time").read().splitlines()[-1].split()[0]) for i in range(n)]
p_t, a_t = times("p", runs), times("a", art_runs)
p = [json.load(open(f"{out}/p{i}.json")) for i in range(runs)]
a = [json.load(open(f"{out}/a{i}.json")) for i in range(art_runs)]
def metric(g, name):
    return g["metrics"][name]
p_s = [metric(g, "attack_success_rate[hopskipjump]") for g in p]
p_m = [metric(g, "median_perturbation[hopskipjump]") for g in p]
p_n = [int(metric(g, "attacked")) for g in p]
p_q = [metric(g, "queries[hopskipjump]") / metric(g, "attacked") for g in p]
a_s = [r["success_rate"] for r in a]
a_m = [r["median_perturbation"] for r in a]
a_n = [r["attacked"] for r in a]
a_q = [r["queries"] / r["attacked"] for r in a]
med = statistics.median
fmt = lambda v: ", ".join(f"{x:.1f}" for x in v)
pct = lambda v: ", ".join(f"{100 * x:.1f}" for x in v)
print("| tool | runs | wall time median (runs) | rows attacked | success within ε, median (runs) | median L of found examples | model rows queried per attacked row |")
print("|---|---|---|---|---|---|---|")
print(f"| portcullis | {runs} | {med(p_t):.1f} s ({fmt(p_t)}) | {p_n[0]} | {100 * med(p_s):.1f}% ({pct(p_s)}) | {med(p_m):.2f} | {med(p_q):.0f} |")
print(f"| ART | {art_runs} | {med(a_t):.1f} s ({fmt(a_t)}) | {a_n[0]} | {100 * med(a_s):.1f}% ({pct(a_s)}) | {med(a_m):.2f} | {med(a_q):.0f} |")
r_s = [r["refined_success_rate"] for r in a]
r_m = [r["refined_median_perturbation"] for r in a]
r_t = [r["refine_seconds"] for r in a]
print(f"| ART, its final points searched back to the boundary | {art_runs} | (+{med(r_t):.1f} s inside the ART runs) | {a_n[0]} | {100 * med(r_s):.1f}% ({pct(r_s)}) | {med(r_m):.2f} | |")
print(f"speed-up (median ART / median portcullis): {med(a_t) / med(p_t):.1f}x")
EOF
