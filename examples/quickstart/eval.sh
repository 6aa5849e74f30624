#!/bin/sh
# Stand-in for a team's evaluation script: computes accuracy from the model's
# recorded holdout predictions and writes a JSON report the command gate reads.
# portcullis passes the model path in $PORTCULLIS_MODEL.
set -eu
results="$PORTCULLIS_MODEL/holdout-results.csv"
[ -f "$results" ] || { echo "no holdout results at $results" >&2; exit 2; }
awk -F, 'NR > 1 { n++; if ($2 == $3) ok++ } END {
  if (n == 0) { print "no rows" > "/dev/stderr"; exit 2 }
  printf "{\"rows\": %d, \"accuracy\": %.6f}\n", n, ok / n
}' "$results" > "${1:-report.json}"
