#!/usr/bin/env bash
# Benchmark: audit 2 000 GitHub workflow files with portcullis audit-ci and
# with zizmor --offline, and print files/second for both. Run by hand:
#
#   bash bench/audit-ci.sh
#
# Needs zizmor 1.26.x in /tmp/zizmor/bin (or ZIZMOR=path):
#   cargo install zizmor --version '~1.26' --locked --root /tmp/zizmor
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${N:-2000}"
CORPUS="${CORPUS:-/tmp/audit-ci-bench}"
ZIZMOR="${ZIZMOR:-/tmp/zizmor/bin/zizmor}"
RUNS="${RUNS:-3}"

rm -rf "$CORPUS"
mkdir -p "$CORPUS/.github/workflows"
python3 - "$ROOT/crates/ci/tests/fixtures" "$CORPUS/.github/workflows" "$N" <<'PY'
import pathlib, sys
src, dst, n = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
bases = sorted(p for p in src.rglob("*.yml") if ".github/workflows" in str(p))
assert bases, "no GitHub workflow fixtures found"
for i in range(n):
    text = bases[i % len(bases)].read_text()
    text = text.replace("production", f"production-{i % 7}").replace("acme", f"acme{i % 13}")
    (dst / f"wf-{i:05d}.yml").write_text(f"# variant {i}\n" + text)
print(f"generated {n} workflows from {len(bases)} fixtures")
PY

cargo build --release -q -p portcullis-ci --example audit --manifest-path "$ROOT/Cargo.toml"
PORTCULLIS="$ROOT/target/release/examples/audit"

best() { # best wall time of RUNS runs of "$@", in seconds
  local best=""
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    best=$(python3 -c "a='$best'; d=$t1-$t0; print(d if not a else min(float(a), d))")
  done
  echo "$best"
}

echo "corpus: $N files in $CORPUS/.github/workflows"
pt=$(best "$PORTCULLIS" --quiet "$CORPUS")
python3 -c "print(f'portcullis audit-ci: {$pt:.3f} s, {$N/$pt:.0f} files/s')"
if [ -x "$ZIZMOR" ]; then
  "$ZIZMOR" --version
  zt=$(best "$ZIZMOR" --offline --no-progress --format plain "$CORPUS")
  python3 -c "print(f'zizmor --offline:     {$zt:.3f} s, {$N/$zt:.0f} files/s'); print(f'ratio: {$zt/$pt:.1f}x')"
else
  echo "zizmor not found at $ZIZMOR; skipped"
fi
