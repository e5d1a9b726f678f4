#!/usr/bin/env bash
# Runs the peers' fan-out harness (../shared/bench/peers/fanout) against
# lattice-server through bench/fanout/lattice.mjs, in the harness's scenarios,
# and optionally the peers in the same session for ratios (BENCHMARKS.md,
# "Fan-out").
#   bench/fanout/run.sh                      # lattice: a b c d, 3 runs each
#   RUNS=1 SCENARIOS="a b" bench/fanout/run.sh
#   PEERS="ws-relay socketio" bench/fanout/run.sh   # the peers too
#   TICKS="33ms 0s" bench/fanout/run.sh      # lattice per presence tick
# The harness is copied to $WORK (not into this repository) because its
# directory is read-only here and its lock file needs `npm install`. Every
# run stays on 127.0.0.1 and is bounded by the harness's watchdog and
# `timeout`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
src=${HARNESS:-$root/../shared/bench/peers/fanout}
work=${WORK:-/tmp/lattice-fanout-harness}
out=${OUT:-$work/results/lattice}
runs=${RUNS:-3}
scenarios=${SCENARIOS:-"a b c d"}
ticks=${TICKS:-"33ms"}
duration=${DURATION:-15}

if [ ! -d "$work/node_modules" ]; then
  rm -rf "$work"
  cp -r "$src" "$work"
  chmod -R u+w "$work"
  (cd "$work" && npm install --no-audit --no-fund)
fi
[ -x build/release/engine/lattice-server ] ||
  { echo "build first: ./lattice.sh build release" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
mkdir -p "$out"
export LATTICE_FANOUT_HARNESS=$work

bench() {  # name label run peer args...
  local name=$1 label=$2 run=$3 peer=$4
  shift 4
  timeout -k 10 900 node "$work/bench.mjs" --peer "$peer" --label "$label" \
    --run "$run" --wait-quiet-s 30 --out "$out/$name.$label.$run.json" "$@" ||
    echo "run failed: $name $label $run"
}

scenario() {  # name run peer label
  local name=$1 run=$2 peer=$3
  case $4 in
    a) bench "$name" a "$run" "$peer" --scenario cursors --rooms 1 --clients 50 --hz 20 --duration "$duration" ;;
    b) bench "$name" b "$run" "$peer" --scenario cursors --rooms 100 --clients 10 --hz 10 --duration "$duration" ;;
    c) bench "$name" c "$run" "$peer" --scenario idle --connections 2000 --room-size 10 ;;
    d) bench "$name" d "$run" "$peer" --scenario maxconn --cap 10000 --step 500 --room-size 10 --max-total-s 420 ;;
  esac
}

for run in $(seq 1 "$runs"); do
  for s in $scenarios; do
    for tick in $ticks; do
      name=lattice-tick-$tick
      FANOUT_PEER_NAME=$name LATTICE_PRESENCE_TICK=$tick \
        scenario "$name" "$run" "$root/bench/fanout/lattice.mjs" "$s"
    done
    for p in ${PEERS:-}; do scenario "$p" "$run" "$p" "$s"; done
  done
done
node "$work/summarize.mjs" "$out" | tee "$out/../summary-lattice.md"
