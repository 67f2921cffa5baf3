#!/usr/bin/env bash
# Runs every test (fast and integration). Installs what is missing first: redis-server (Debian package).
# Kafka needs nothing: the tests start librdkafka's mock cluster, shipped inside the Confluent.Kafka package.
set -euo pipefail
cd "$(dirname "$0")"

tools/install-prerequisites.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test CallRecovery.sln -c Release "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over all test projects.
awk '/(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { gsub(",", "", p); printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
