#!/usr/bin/env bash
# Lattice's front door. On a fresh Debian 12 machine (as root):
#   ./lattice.sh serve   install what is missing, build (release), run the server
#   ./lattice.sh test    install what is missing, build release + asan, run every test
# Other commands: setup, build [preset], bench.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

jobs=$(nproc 2>/dev/null || echo 2)

setup() { ./scripts/setup-debian.sh; }

build() {  # build <preset>
  local preset=$1
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
}

run_tests() {  # run_tests <preset>: every test but the 'slow' label
  local preset=$1
  echo "== tests ($preset)"
  ctest --preset "$preset" -j "$jobs" -LE slow --no-tests=error
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup)
    setup ;;
  build)
    setup
    build "${1:-release}" ;;
  serve)
    setup
    build release
    exec ./build/release/engine/lattice-server "$@" ;;
  test)
    setup
    start=$(date +%s)
    build release
    run_tests release
    build asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 run_tests asan
    echo "== all tests passed in $(( $(date +%s) - start ))s" ;;
  bench)
    setup
    build release
    ./bench/run.sh "$@" ;;
  *)
    sed -n '2,6p' "$0"
    [[ "$cmd" == help ]] || exit 2 ;;
esac
