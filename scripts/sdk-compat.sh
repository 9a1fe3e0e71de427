#!/usr/bin/env bash
# Official Genesys Cloud Python SDK (purecloudplatformclientv2 from PyPI) against `gcprov emulator`.
# Creates a virtual environment under target/ (git-ignored), builds gcprov, starts the emulator on a
# free loopback port and runs scripts/sdk_compat.py. Exits non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${GCPROV_SDK_VENV:-target/sdk-venv/venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import PureCloudPlatformClientV2" 2>/dev/null; then
  echo "== pip install purecloudplatformclientv2"
  "$VENV/bin/pip" install --quiet purecloudplatformclientv2
fi

echo "== cargo build -p gcprov-cli"
cargo build --quiet -p gcprov-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/gcprov"

PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
ID="sdk-compat-admin"
SECRET="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')"
LOG="$(mktemp)"

GCPROV_EMULATOR_CLIENT_ID="$ID" GCPROV_EMULATOR_CLIENT_SECRET="$SECRET" \
  "$BIN" emulator --listen "127.0.0.1:$PORT" --rate-limit-per-minute 0 >"$LOG" 2>&1 &
EMU_PID=$!
cleanup() { kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('$BASE/emulator/health', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$EMU_PID" 2>/dev/null; then
    echo "emulator exited:"; cat "$LOG"; exit 1
  fi
  sleep 0.1
done

echo "== sdk_compat.py against $BASE"
"$VENV/bin/python" scripts/sdk_compat.py "$BASE" "$ID" "$SECRET"
