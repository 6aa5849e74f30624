#!/usr/bin/env bash
# Deploy-time lookup and ingest benchmark for the registry, run by hand:
#   bash bench/registry.sh        (needs python3 with pip for MLflow)
# - portcullis: `GET /v1/models/quickstart/stages/prod` (digest + decision
#   decided now + a freshly signed Verification Summary) on the SQLite
#   backend, at concurrency 1, 16 and 64, with the same Rust load client
#   (crates/server/examples/load.rs) used for MLflow;
# - MLflow's tracking server (PyPI mlflow, SQLite backend, its default
#   workers): `GET /api/2.0/mlflow/registered-models/alias`;
# - ingest: signed approval envelopes pushed in batches of 500.
# Everything listens on 127.0.0.1. Nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${BENCH_DIR:-/tmp/portcullis-registry-bench}
VENV=${BENCH_VENV:-$WORK/venv}
N=${REQUESTS:-20000}
rm -rf "$WORK/run" && mkdir -p "$WORK/run"
if [ ! -x "$VENV/bin/mlflow" ]; then
  python3 -m venv "$VENV"
  # mlflow 2.19 fails at import with SQLAlchemy 2.1; pin the 2.0 line it was released against.
  "$VENV/bin/pip" install -q mlflow==2.19.0 sqlalchemy==2.0.36
fi
[ -n "${NO_BUILD:-}" ] || cargo build -q --release -p portcullis-cli && cargo build -q --release -p portcullis-server --example load
BIN="$ROOT/target/release/portcullis"
LOAD="$ROOT/target/release/examples/load"
cp -r "$ROOT/examples/quickstart/." "$WORK/run/"
cd "$WORK/run"
rm -f report.json

PORTCULLIS_BOOTSTRAP_TOKEN=bench-admin "$BIN" server --listen 127.0.0.1:0 --database reg.db \
  --key keys/demo-registry.key --policy quickstart=registry.yaml > server.out 2> server.err &
SERVER=$!
MLFLOW=
trap 'kill $SERVER 2>/dev/null; [ -n "$MLFLOW" ] && kill $MLFLOW 2>/dev/null; true' EXIT
for _ in $(seq 50); do grep -q listening server.out && break; sleep 0.1; done
export PORTCULLIS_SERVER=$(sed -n 's/listening on //p' server.out)
export PORTCULLIS_TOKEN=bench-admin
CI=$("$BIN" token create --identity ci --role runner 2>/dev/null)
ALICE=$("$BIN" token create --identity alice --role approver 2>/dev/null)
READER=$("$BIN" token create --identity deploy --role reader 2>/dev/null)
"$BIN" run --policy portcullis.yaml --stage staging --key keys/demo-ci.key --author dev > /dev/null 2>&1
PORTCULLIS_TOKEN=$CI "$BIN" push --name quickstart model > /dev/null 2>&1
DIGEST=$("$BIN" digest model | head -1)
ID=$(PORTCULLIS_TOKEN=$CI "$BIN" promote --stage prod quickstart "$DIGEST" 2>/dev/null || true)
PORTCULLIS_TOKEN=$ALICE "$BIN" request approve "$ID" > /dev/null 2>&1

echo "## portcullis registry (SQLite), GET /v1/models/quickstart/stages/prod"
for c in 1 16 64; do "$LOAD" get "$PORTCULLIS_SERVER/v1/models/quickstart/stages/prod" "$c" "$N" "$READER"; done
echo "## ingest"
"$LOAD" ingest "$PORTCULLIS_SERVER" "$DIGEST" keys/demo-alice.key 10000 500 "$CI"

"$VENV/bin/mlflow" server --backend-store-uri "sqlite:///$WORK/run/mlflow.db" --host 127.0.0.1 --port 5987 \
  > mlflow.log 2>&1 &
MLFLOW=$!
for _ in $(seq 300); do curl -sf http://127.0.0.1:5987/health > /dev/null && break; sleep 0.2; done
API=http://127.0.0.1:5987/api/2.0/mlflow
curl -sf -X POST "$API/registered-models/create" -d '{"name":"quickstart"}' -H 'content-type: application/json' > /dev/null
curl -sf -X POST "$API/model-versions/create" -d "{\"name\":\"quickstart\",\"source\":\"s3://bench-models/quickstart/model\"}" \
  -H 'content-type: application/json' > /dev/null
curl -sf -X POST "$API/registered-models/alias" -d '{"name":"quickstart","alias":"prod","version":"1"}' \
  -H 'content-type: application/json' > /dev/null
echo "## MLflow $("$VENV/bin/python" -c 'import mlflow; print(mlflow.__version__)') (SQLite), GET /api/2.0/mlflow/registered-models/alias"
for c in 1 16 64; do "$LOAD" get "$API/registered-models/alias?name=quickstart&alias=prod" "$c" "$((N / 4))"; done
