#!/usr/bin/env bash
# Idle connections across several Lattice nodes on one machine: NODES
# lattice-server processes share one port (--reuse_port) and one Redis
# (--redis, a redis-server this script starts on a unix socket), and as many
# lattice-load processes open CONNS idle connections each (rooms of 10, over
# 127.0.0.1-4), so that no process passes a 20,000-descriptor limit. Prints
# the peak of established server-side connections (ss), the nodes' RSS and
# descriptors at that peak, and each generator's result. Loopback only; every
# process it starts it stops by PID.
#
#   bench/load/cluster_idle.sh                  # 3 nodes x 16,700 = 50,100
#   NODES=2 CONNS=1000 SETTLE=5 bench/load/cluster_idle.sh
set -euo pipefail
NODES=${NODES:-3} CONNS=${CONNS:-16700} PORT=${PORT:-17800} SETTLE=${SETTLE:-40}
B=${BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build/release}
W=$(mktemp -d /tmp/lattice-cluster-idle.XXXX)
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
for _ in $(seq 50); do [ -S "$W/redis.sock" ] && break; sleep 0.1; done
for i in $(seq 0 $((NODES - 1))); do
  "$B/engine/lattice-server" --port="$PORT" --reuse_port --redis="unix:$W/redis.sock" \
    --data_dir="$W/d$i" --durability=process --jwt_secret_file="$W/secret" \
    --max_connections_per_ip=20000 --threads=1 > "$W/s$i.log" 2>&1 &
  SERVERS+=($!)
done
sleep 1.5
for i in $(seq 0 $((NODES - 1))); do
  "$B/bench/load/lattice-load" --port="$PORT" --secret_file="$W/secret" --mode=idle \
    --connections="$CONNS" --room_size=10 --concurrency=64 --source_ips=4 \
    --settle_s="$SETTLE" --max_total_s=280 --server_pid="${SERVERS[$i]}" \
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
echo "peak: $peak established connections at ${at}s; nodes' RSS $((rss / 1024)) MiB; descriptors per node:$fds"
for i in $(seq 0 $((NODES - 1))); do
  wait "${LOADS[$i]}" || true
  echo "generator $i: $(grep -E '"(joined|failed)"' "$W/l$i.json" | tr -d ' \n')"
done
LOADS=()
