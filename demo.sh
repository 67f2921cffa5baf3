#!/usr/bin/env bash
# The local demo: embedded Kafka (librdkafka's mock cluster, real Kafka protocol), a local redis-server,
# the service, a network traffic simulator and emulated switches, shown live. Ctrl-C stops all of it.
# Extra arguments go to the demo: --rate 50, --duration 60, --plain.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v redis-server >/dev/null 2>&1; then
  echo "Installing redis-server (Debian package)..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

echo "Building..."
dotnet build tools/CallRecovery.Demo -c Release -v quiet -nologo >/dev/null
exec dotnet tools/CallRecovery.Demo/bin/Release/net10.0/CallRecovery.Demo.dll "$@"
