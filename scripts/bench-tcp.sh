#!/usr/bin/env bash
# Replicated writes over TCP, toydb against Redis, in the same run.
#
# toydb: a 3-node loopback cluster (1 partition x 3 replicas, every write
# fdatasync'ed before it is acknowledged: --sync=every_write, group commit),
# loaded by `toydb bench` with 100-byte values at 1, 16 and 64 clients, with
# write concerns majority and leader.
# Redis: a primary with appendonly yes / appendfsync always and two replicas,
# loaded by redis-benchmark SET with 100-byte values at the same client
# counts. Redis acknowledges a SET after its own fsync and replicates
# asynchronously, so its counterpart is toydb's leader concern; toydb's
# majority concern has no Redis equivalent without WAIT.
#
# Usage: scripts/bench-tcp.sh [DURATION_SECONDS]   (default 10 per toydb run)
# Environment: BUILD (default build), KEEP=1 keeps the temp dir.
# Installs redis-server and redis-tools with scripts/install-packages.sh if
# missing. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
build="${BUILD:-build}"
clients_list=(1 16 64)

[[ -x "$build/tools/toydb-server" && -x "$build/tools/toydb" ]] || {
  echo "build toydb-server and toydb first: cmake --build $build --target toydb-server toydb-cli" >&2
  exit 1
}
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
  bash scripts/install-packages.sh redis-server redis-tools

dir="$(mktemp -d /tmp/toydb-bench-tcp.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ "${KEEP:-0}" == 1 ]] || rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------------ toydb
{
  for n in 1 2 3; do echo "node $n 127.0.0.1:$(free_port)"; done
  echo "partition 0 1 2 3"
} >"$dir/cluster.txt"
for n in 1 2 3; do
  "$build/tools/toydb-server" --node_id=$n --cluster="$dir/cluster.txt" \
    --data_dir="$dir/toydb-$n" --sync=every_write --log_level=warn 2>"$dir/toydb-$n.log" &
  pids+=($!)
done
toydb=("$build/tools/toydb" --cluster="$dir/cluster.txt")
for _ in $(seq 100); do
  "${toydb[@]}" --timeout_ms=500 set bench-ready 1 >/dev/null 2>&1 && break
  sleep 0.1
done
"${toydb[@]}" set bench-ready 1 >/dev/null

results=()
for concern in majority leader; do
  for clients in "${clients_list[@]}"; do
    line="$("${toydb[@]}" bench --clients="$clients" --value_size=100 --keys=100000 \
      --duration="$duration" --write_concern="$concern" --progress=false | grep '^RESULT')"
    echo "toydb $concern $clients: $line" >&2
    ops="$(sed 's/.*ops_per_s=\([0-9.]*\).*/\1/' <<<"$line")"
    p50="$(sed 's/.*p50_ms=\([0-9.]*\).*/\1/' <<<"$line")"
    p99="$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' <<<"$line")"
    results+=("| toydb, write concern $concern | $clients | $ops | $p50 | $p99 |")
  done
done
for n in 1 2 3; do kill "${pids[$((n - 1))]}"; done
wait "${pids[@]}" 2>/dev/null || true
pids=()

# ------------------------------------------------------------------ Redis
redis_primary="$(free_port)"
start_redis() {  # port, extra args...
  local port="$1"
  shift
  mkdir -p "$dir/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis-$port" --save "" \
    --daemonize no --logfile "$dir/redis-$port.log" "$@" &
  pids+=($!)
}
start_redis "$redis_primary" --appendonly yes --appendfsync always
for _ in 1 2; do start_redis "$(free_port)" --replicaof 127.0.0.1 "$redis_primary"; done
for _ in $(seq 100); do
  replicas="$(redis-cli -p "$redis_primary" info replication 2>/dev/null |
    grep -c '^slave[0-9]*:.*state=online' || true)"
  [[ "$replicas" == 2 ]] && break
  sleep 0.1
done
echo "redis: primary on $redis_primary with $replicas replicas online" >&2
for clients in "${clients_list[@]}"; do
  # About as many requests as toydb served in the same time at this count.
  requests=$((clients == 1 ? 10000 : clients * 5000))
  csv="$(redis-benchmark -p "$redis_primary" -t set -n "$requests" -c "$clients" -d 100 \
    -r 100000 --csv | grep '"SET"')"
  echo "redis $clients: $csv" >&2
  IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"$(tr -d '"' <<<"$csv")"
  results+=("| Redis SET, appendfsync always, 2 async replicas | $clients | $rps | $p50 | $p99 |")
done

echo
echo "| system | clients | ops/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
