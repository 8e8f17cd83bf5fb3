#!/usr/bin/env bash
# A toydb cluster on this machine: 2 partitions x 3 replicas, six
# toydb-server processes on loopback ports BASE+1 .. BASE+6.
#
#   cluster.sh start [NODE]   start every node (or one), writing its PID file
#   cluster.sh stop [NODE]    SIGTERM by PID file (clean shutdown), wait for exit
#   cluster.sh kill NODE      SIGKILL by PID file (a crash, for failover demos)
#   cluster.sh status         which nodes run, with their PIDs and ports
#   cluster.sh file           print the path of the cluster file
#
# Environment:
#   TOYDB_BASE_PORT  first port minus one (default 7100: ports 7101-7106)
#   TOYDB_DIR        data, logs, PID files and cluster file (default /tmp/toydb-local-cluster)
#   TOYDB_BIN        directory holding toydb-server (default: build/tools of this checkout)
#   TOYDB_SYNC       every_write (default), interval or none
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
base_port="${TOYDB_BASE_PORT:-7100}"
dir="${TOYDB_DIR:-/tmp/toydb-local-cluster}"
bin="${TOYDB_BIN:-$here/../../build/tools}"
sync="${TOYDB_SYNC:-every_write}"
nodes=(1 2 3 4 5 6)
cluster_file="$dir/cluster.txt"

write_cluster_file() {
  mkdir -p "$dir/logs" "$dir/pids"
  {
    echo "# written by examples/local-cluster/cluster.sh (base port $base_port)"
    for n in "${nodes[@]}"; do echo "node $n 127.0.0.1:$((base_port + n))"; done
    echo "partition 0 1 2 3"
    echo "partition 1 4 5 6"
  } >"$cluster_file"
}

pid_of() {  # prints the PID of a running node, or nothing
  local file="$dir/pids/node-$1.pid"
  [[ -f "$file" ]] || return 0
  local pid
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

start_node() {
  local n="$1"
  if [[ -n "$(pid_of "$n")" ]]; then
    echo "node $n already runs (pid $(pid_of "$n"))"
    return
  fi
  "$bin/toydb-server" --node_id="$n" --cluster="$cluster_file" --data_dir="$dir/data/node-$n" \
    --sync="$sync" >>"$dir/logs/node-$n.log" 2>&1 &
  echo $! >"$dir/pids/node-$n.pid"
  echo "node $n started (pid $!, port $((base_port + n)), log $dir/logs/node-$n.log)"
}

stop_node() {  # $1 node, $2 signal
  local n="$1" signal="$2" pid
  pid="$(pid_of "$n")"
  if [[ -z "$pid" ]]; then
    echo "node $n is not running"
    return
  fi
  kill "-$signal" "$pid"
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "node $n (pid $pid) did not exit within 10 s" >&2
    return 1
  fi
  rm -f "$dir/pids/node-$n.pid"
  echo "node $n stopped (pid $pid, SIG$signal)"
}

targets() { if [[ $# -gt 0 ]]; then echo "$1"; else echo "${nodes[@]}"; fi; }

command="${1:-}"
shift || true
case "$command" in
  start)
    [[ -x "$bin/toydb-server" ]] || { echo "no $bin/toydb-server: build it first" >&2; exit 1; }
    # A fresh cluster file unless a node runs (its ports must not change).
    running=0
    for n in "${nodes[@]}"; do [[ -n "$(pid_of "$n")" ]] && running=1; done
    [[ "$running" == 1 && -f "$cluster_file" ]] || write_cluster_file
    for n in $(targets "$@"); do start_node "$n"; done
    echo "cluster file: $cluster_file"
    ;;
  stop)
    for n in $(targets "$@"); do stop_node "$n" TERM; done
    ;;
  kill)
    [[ $# -eq 1 ]] || { echo "usage: $0 kill NODE" >&2; exit 2; }
    stop_node "$1" KILL
    ;;
  status)
    for n in "${nodes[@]}"; do
      pid="$(pid_of "$n")"
      echo "node $n port $((base_port + n)): ${pid:+running, pid $pid}${pid:-stopped}"
    done
    ;;
  file)
    echo "$cluster_file"
    ;;
  *)
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
    [[ -z "$command" ]] && exit 2
    echo "unknown command: $command" >&2
    exit 2
    ;;
esac
