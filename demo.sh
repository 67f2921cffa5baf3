#!/usr/bin/env bash
# The local demo: embedded Kafka (librdkafka's mock cluster, real Kafka protocol), a local redis-server,
# the service, a network traffic simulator and emulated switches, shown live. Ctrl-C stops all of it.
# Extra arguments go to the demo: --rate 50, --duration 60, --plain.
set -euo pipefail
cd "$(dirname "$0")"

tools/install-prerequisites.sh

echo "Building..."
dotnet build tools/CallRecovery.Demo -c Release -v quiet -nologo >/dev/null
exec dotnet tools/CallRecovery.Demo/bin/Release/net10.0/CallRecovery.Demo.dll "$@"
