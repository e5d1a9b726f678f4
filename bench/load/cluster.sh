#!/usr/bin/env bash
# Several Lattice nodes on one machine: NODES lattice-server processes share
# one port (--reuse_port) and one Redis (--redis, a redis-server this script
# starts on a unix socket); GENERATORS lattice-load processes run with the
# arguments given, each against the shared port (so several generators pass
# a per-process descriptor limit). Prints the peak of established
# server-side connections (ss), the nodes' RSS and descriptors at that peak,
# the CPU the nodes and Redis used while the generators ran, and each
# generator's JSON result. Loopback only; every process it starts it stops
# by PID.
#
#   # 50,100 idle connections on three nodes
#   GENERATORS=3 bench/load/cluster.sh --mode=idle --connections=16700 \
#     --room_size=10 --concurrency=64 --source_ips=4 --settle_s=40
#   # cursors, 100 rooms x 10, members spread over two nodes
#   NODES=2 bench/load/cluster.sh --mode=cursors --rooms=100 --clients=10 \
#     --hz=10 --duration_s=10
set -euo pipefail
NODES=${NODES:-3} GENERATORS=${GENERATORS:-1} PORT=${PORT:-17800}
B=${BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build/release}
W=$(mktemp -d /tmp/lattice-cluster.XXXX)
head -c 32 /dev/urandom | base64 > "$W/secret"
redis-server --port 0 --unixsocket "$W/redis.sock" --save "" --appendonly no \
  --loglevel warning > "$W/redis.log" 2>&1 &
REDIS=$!
SERVERS=() LOADS=()
cleanup() {
  for p in "${LOADS[@]}" "${SERVERS[@]}" "$REDIS"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
# CPU seconds (user + system) of the given PIDs.
cpu() {
  local ticks=0
  for p in "$@"; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}
for _ in $(seq 50); do [ -S "$W/redis.sock" ] && break; sleep 0.1; done
for i in $(seq 0 $((NODES - 1))); do
  "$B/engine/lattice-server" --port="$PORT" --reuse_port --redis="unix:$W/redis.sock" \
    --data_dir="$W/d$i" --durability=process --jwt_secret_file="$W/secret" \
    --max_connections_per_ip=20000 --max_changes_per_second=100000 \
    --max_presence_per_second=100000 --threads=1 > "$W/s$i.log" 2>&1 &
  SERVERS+=($!)
done
sleep 1.5
cpu_before=$(cpu "${SERVERS[@]}") redis_before=$(cpu "$REDIS") t0=$(date +%s.%N)
for i in $(seq 0 $((GENERATORS - 1))); do
  "$B/bench/load/lattice-load" --port="$PORT" --secret_file="$W/secret" \
    --max_total_s=280 --server_pid="${SERVERS[$((i % NODES))]}" "$@" \
    > "$W/l$i.json" 2> "$W/l$i.err" &
  LOADS+=($!)
done
peak=0 at=0 rss=0 fds=""
for t in $(seq 1 300); do
  sleep 1
  n=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
  if [ "$n" -gt "$peak" ]; then
    peak=$n at=$t rss=0 fds=""
    for p in "${SERVERS[@]}"; do
      rss=$((rss + $(awk '/VmRSS/{print $2}' "/proc/$p/status")))
      fds="$fds $(ls "/proc/$p/fd" | wc -l)"
    done
  fi
  alive=0
  for p in "${LOADS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
done
elapsed=$(echo "$(date +%s.%N) - $t0" | bc)
echo "peak: $peak established connections at ${at}s; nodes' RSS $((rss / 1024)) MiB; descriptors per node:$fds"
echo "cpu over ${elapsed%.*} s: nodes $(echo "$(cpu "${SERVERS[@]}") - $cpu_before" | bc) s, redis $(echo "$(cpu "$REDIS") - $redis_before" | bc) s"
for i in $(seq 0 $((GENERATORS - 1))); do
  wait "${LOADS[$i]}" || true
  echo "generator $i:"
  cat "$W/l$i.json"
done
LOADS=()
