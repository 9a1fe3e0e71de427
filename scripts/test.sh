#!/usr/bin/env bash
# Runs every test of gcprov. This is the README's test command and what .ci/run calls.
# It installs what the tests need by itself (Python virtual environments under target/ for the
# official Genesys SDK check and for scim2-tester), so it works on a clean checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL tests run against this database; they fail (never skip) when it is unreachable.
export GCPROV_TEST_POSTGRES_URL="${GCPROV_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

echo "== cargo test (workspace: unit, integration, doc tests; SQLite and PostgreSQL)"
cargo test --workspace

echo "== issue 4 acceptance: 2,000 requests from 32 tasks at 600/min with zero 429s (paced: ~3.5 min)"
cargo test -p gcprov-genesys --test tests -- --ignored --exact it::pacing::acceptance_2000_requests_32_tasks_600_per_minute

echo "== official Genesys Cloud Python SDK against the emulator"
scripts/sdk-compat.sh

echo "== scim2-tester against gcprov serve --demo"
scripts/scim2-tester.sh
