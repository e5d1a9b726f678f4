#!/usr/bin/env bash
# Installs exactly the Debian 12 packages Lattice needs that are missing.
# Idempotent: when everything is present it runs no apt command at all and
# finishes in well under a second. Must run as root (or with sudo available).
set -euo pipefail

# Build toolchain.
packages=(
  g++ cmake ninja-build pkg-config git ca-certificates
  # Libraries (see docs/architecture.md for which module uses which).
  libboost-dev           # Boost 1.74 headers: Asio, Beast (net/)
  libmsgpack-cxx-dev     # msgpack-cxx 4.1 (wire and disk encodings)
  librocksdb-dev         # RocksDB 7.8 (storage/)
  libabsl-dev            # Abseil 20220623 (Status, containers, flags, time)
  libssl-dev             # OpenSSL 3 (JWT signatures, TLS)
  libhiredis-dev         # Redis client (net/ scale-out)
  redis-server           # real Redis for scale-out tests
  libgtest-dev libgmock-dev   # GoogleTest 1.12
  libbenchmark-dev       # Google Benchmark 1.7
  nlohmann-json3-dev zlib1g-dev  # bench/ trace tool: editing traces are gzipped JSON
  # clang + libFuzzer runtime for the fuzz targets; sanitizer runtimes.
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
