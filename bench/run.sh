#!/usr/bin/env bash
# Runs the benchmarks of a release build (./lattice.sh bench builds it first).
# Figures and how to compare them with the peers: BENCHMARKS.md.
#   bench/run.sh            crdt traces, crdt_benchmark, storage_benchmark
#   bench/run.sh crdt       only the crdt ones; likewise storage
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=build/release
traces=../shared/data/editing-traces/sequential_traces
what=${1:-all}

if [[ $what == all || $what == crdt ]]; then
  for t in "$traces"/*.json.gz; do
    "$build/bench/trace/lattice-trace" "$t"
  done
  "$build/bench/crdt/crdt_benchmark" --benchmark_min_time=0.1
fi
if [[ $what == all || $what == storage ]]; then
  "$build/bench/storage/storage_benchmark"
fi
