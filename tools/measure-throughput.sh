#!/usr/bin/env bash
# Load harness: how many network events per second one service instance decides (batched, pipelined Redis
# rounds). Starts the embedded Kafka and a redis-server, publishes CALLS simulated calls (a backlog), then
# starts the service (Release) and times how long it takes to decide the whole backlog, from its own metrics.
# Usage: tools/measure-throughput.sh [calls] [rate]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-30000}
rate=${2:-4000}
dotnet build CallRecovery.sln -c Release -v quiet -nologo >/dev/null
bin=Release/net10.0
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

dotnet tools/CallRecovery.EmbeddedKafka/bin/$bin/CallRecovery.EmbeddedKafka.dll --topic callrecovery.network-events.v1:6 \
  --topic callrecovery.network-events.dlq:1 --topic callrecovery.outcomes.v1:3 >"$work/kafka" 2>/dev/null &
pids+=($!)
until [ -s "$work/kafka" ]; do sleep 0.2; done
bootstrap=$(head -1 "$work/kafka")
redis_port=$(free_port); http_port=$(free_port); grpc_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
pids+=($!)
echo "Publishing $calls calls at up to $rate/s..."
dotnet tools/CallRecovery.TrafficSimulator/bin/$bin/CallRecovery.TrafficSimulator.dll --bootstrap-servers "$bootstrap" \
  --rate "$rate" --max-calls "$calls" --redial-ratio 0 --subscribers 100000 >"$work/simulator.log" 2>&1
events=$(grep -oE '[0-9]+ events \(' "$work/simulator.log" | tail -1 | grep -oE '[0-9]+' || true)
echo "Published ${events:-?} events."
echo "Starting the service on the backlog..."
Kafka__BootstrapServers="$bootstrap" Redis__ConnectionString="127.0.0.1:$redis_port" Logging__LogLevel__Default=Warning \
  Kestrel__Endpoints__Http__Url="http://127.0.0.1:$http_port" Kestrel__Endpoints__Switching__Url="http://127.0.0.1:$grpc_port" \
  Policy__MaxRecoveriesPerWindow=1000 Policy__CoolOff=00:00:00 \
  dotnet services/CallRecovery/bin/$bin/CallRecovery.dll >"$work/service.log" 2>&1 &
pids+=($!)
start=$(date +%s.%N)
until curl -sf "http://127.0.0.1:$http_port/health/ready" >/dev/null; do sleep 0.3; done

decided() { curl -s "http://127.0.0.1:$http_port/metrics" | awk '/^callrecovery_decisions_total/ { s += $NF } END { printf "%d\n", s }'; }
consumed() { curl -s "http://127.0.0.1:$http_port/metrics" | awk '/^callrecovery_events_consumed_total/ { s += $NF } END { printf "%d\n", s }'; }

last=-1
while :; do
  now=$(consumed)
  [ "$now" = "$last" ] && [ "$now" -ge "${events:-0}" ] && break
  last=$now; sleep 0.5
done
end=$(date +%s.%N)
total=$(decided)
echo "Decided $total decisions for $last consumed events."
awk -v n="$last" -v a="$start" -v b="$end" 'BEGIN { printf "Backlog drained in %.1f s from service start (start-up included): %.0f events/s\n", b - a, n / (b - a) }'
echo "Service RSS: $(ps -o rss= -p "${pids[2]}" | awk '{ printf "%.0f MiB", $1/1024 }')"
