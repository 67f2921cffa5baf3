#!/usr/bin/env bash
# Runs every test (fast and integration). Installs what is missing first: redis-server and chromium (Debian
# packages; chromium for the browser test of the trace dashboard), and
# the Node.js packages of the deployment checks (npm ci). Kafka needs nothing: the tests start librdkafka's
# mock cluster, shipped inside the Confluent.Kafka package. The Kubernetes manifests are rendered by kubectl.
set -euo pipefail
cd "$(dirname "$0")"

tools/install-prerequisites.sh
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Installing Node.js and npm (Debian packages) for the deployment checks..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Chromium (Debian package) for the browser test of the trace dashboard..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
command -v kubectl >/dev/null 2>&1 || echo "warning: kubectl not found; the Kubernetes manifest tests will fail (they render with 'kubectl kustomize')" >&2
(cd tools/deployment-checks && npm ci --no-audit --no-fund --loglevel=error)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test CallRecovery.sln -c Release "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The fault matrix in short mode (every fault kind once, Redis:Durability Local), its Redis faults again in
# Replicated mode (a primary and a replica: failovers), its self-test (a planted double send must turn it red), and
# graceful restarts under load; unless a subset of tests was asked for.
if [ $# -eq 0 ]; then
  echo "Fault matrix, short mode (tools/CallRecovery.FaultMatrix)..."
  # dotnet test builds only the test projects and what they reference; the matrix is a tool of its own.
  fault_matrix="dotnet tools/CallRecovery.FaultMatrix/bin/Release/net10.0/CallRecovery.FaultMatrix.dll"
  dotnet build tools/CallRecovery.FaultMatrix -c Release -v quiet -nologo \
    && $fault_matrix --drops 30 \
    && echo "Fault matrix, Redis faults in Replicated mode (failover to the replica)..." \
    && $fault_matrix --drops 30 --durability Replicated --only Redis \
    && echo "Fault matrix self-test: a planted double send must turn it red..." \
    && $fault_matrix --drops 30 --plant-double-send --only "Kafka request errors" \
    && echo "Fault matrix, graceful restarts under load (batches in flight while a replica stops)..." \
    && $fault_matrix --only "rolling" --drops 3000 --rate 1500
  matrix=$?
  if [ "$matrix" -eq 0 ]; then echo "Passed!  - Failed:     0, Passed:     1, Skipped:     0 - fault matrix" >> "$log"; else echo "Failed!  - Failed:     1, Passed:     0, Skipped:     0 - fault matrix" >> "$log"; status=1; fi
fi
set -e
# One closing line over all test projects (and the fault matrix).
awk '/(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { gsub(",", "", p); printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
