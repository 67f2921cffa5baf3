#!/usr/bin/env bash
# Starts everything CallRecovery needs locally and runs it until Ctrl-C:
# librdkafka's mock Kafka cluster (real Kafka protocol), a local redis-server, and the service.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v redis-server >/dev/null 2>&1; then
  echo "Installing redis-server (Debian package)..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

dotnet build CallRecovery.sln -c Release -v quiet -nologo >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  echo "Stopped."
}
trap cleanup INT TERM EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

events=callrecovery.network-events.v1
dotnet tools/CallRecovery.EmbeddedKafka/bin/Release/net10.0/CallRecovery.EmbeddedKafka.dll \
  --topic "$events:6" --topic callrecovery.network-events.dlq:1 >"$work/kafka" 2>/dev/null &
pids+=($!)
until [ -s "$work/kafka" ]; do sleep 0.2; done
bootstrap=$(head -1 "$work/kafka")

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)

http_port=$(free_port)
echo "Kafka (mock cluster): $bootstrap   Redis: 127.0.0.1:$redis_port   Service: http://127.0.0.1:$http_port"
echo "Publish an event:  kcat -P -b $bootstrap -t $events -H content-type=application/json -k icid-1 <<< '{\"callDropped\": {...}}'"
echo "Look a call up:    curl http://127.0.0.1:$http_port/v1/calls/icid-1"
Kafka__BootstrapServers="$bootstrap" Redis__ConnectionString="127.0.0.1:$redis_port" ASPNETCORE_URLS="http://127.0.0.1:$http_port" \
  dotnet services/CallRecovery/bin/Release/net10.0/CallRecovery.dll &
pids+=($!)
wait "${pids[-1]}"
