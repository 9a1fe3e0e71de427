#!/usr/bin/env bash
# Runs every test of gcprov. This is the README's test command and what .ci/run calls.
# It installs what the tests need (a Python virtual environment for the SDK compatibility check)
# by itself, so it works on a clean checkout of a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL tests run against this database; in CI they fail (never skip) when it is unreachable.
export GCPROV_TEST_POSTGRES_URL="${GCPROV_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

echo "== cargo test (workspace)"
cargo test --workspace --all-targets

if [ -x scripts/sdk-compat.sh ]; then
  echo "== official Genesys Cloud Python SDK against the emulator"
  scripts/sdk-compat.sh
fi
