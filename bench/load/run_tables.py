#!/usr/bin/env python3
"""Runs the lattice-load scenarios of BENCHMARKS.md ("Server load") and
prints their tables. Each run starts a fresh lattice-server (127.0.0.1,
port 0, a temporary data directory), runs one lattice-load, and stops the
server with SIGTERM by its PID.

    bench/load/run_tables.py                 # every scenario, 1 run each
    RUNS=3 bench/load/run_tables.py connect roundtrip
"""
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build", "release")
SERVER = os.path.join(BUILD, "engine", "lattice-server")
LOAD = os.path.join(BUILD, "bench", "load", "lattice-load")

# name -> (server flags, lattice-load flags)
SCENARIOS = {
    "connect": [
        ("connect 1000, 64 in flight", ["--durability=process"],
         ["--mode=connect", "--connections=1000", "--concurrency=64", "--room_size=10"]),
    ],
    "roundtrip": [
        ("changes, 50 rooms x 2 x 10 Hz", ["--durability=process"],
         ["--mode=roundtrip", "--rooms=50", "--clients=2", "--hz=10", "--duration_s=10"]),
        ("changes, 50 rooms x 2 x 10 Hz", ["--durability=sync"],
         ["--mode=roundtrip", "--rooms=50", "--clients=2", "--hz=10", "--duration_s=10"]),
        ("changes, 1 room x 50 x 10 Hz", ["--durability=process"],
         ["--mode=roundtrip", "--rooms=1", "--clients=50", "--hz=10", "--duration_s=10"]),
        ("changes, 1 room x 50 x 10 Hz", ["--durability=sync"],
         ["--mode=roundtrip", "--rooms=1", "--clients=50", "--hz=10", "--duration_s=10"]),
    ],
    "cursors": [
        ("presence, 1 room x 50 x 20 Hz", [],
         ["--mode=cursors", "--rooms=1", "--clients=50", "--hz=20", "--duration_s=10"]),
        ("presence, 100 rooms x 10 x 10 Hz", [],
         ["--mode=cursors", "--rooms=100", "--clients=10", "--hz=10", "--duration_s=10"]),
        ("presence, 100 rooms x 10 x 10 Hz, tick 0", ["--presence_tick=0s"],
         ["--mode=cursors", "--rooms=100", "--clients=10", "--hz=10", "--duration_s=10"]),
    ],
    "idle": [
        ("idle 2000 connections, rooms of 10", ["--durability=process"],
         ["--mode=idle", "--connections=2000", "--room_size=10", "--concurrency=64"]),
    ],
}


def run_one(secret_file, server_flags, load_flags):
    data = tempfile.mkdtemp(prefix="lattice-load-")
    server = subprocess.Popen(
        [SERVER, "--port=0", f"--data_dir={data}", f"--jwt_secret_file={secret_file}",
         "--max_changes_per_second=100000", "--max_presence_per_second=100000",
         "--max_connections_per_ip=20000"] + server_flags,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        deadline = time.time() + 20
        while port is None and time.time() < deadline:
            line = server.stdout.readline()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = m.group(1)
        if port is None:
            raise RuntimeError("server did not start")
        out = subprocess.run(
            [LOAD, f"--port={port}", f"--secret_file={secret_file}",
             f"--server_pid={server.pid}", "--max_total_s=120"] + load_flags,
            capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-500:])
        return json.loads(out.stdout)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data, ignore_errors=True)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=2):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def row(name, server_flags, results):
    r0 = results[0]
    flags = " ".join(server_flags) or "default"
    get = lambda *path: med([_dig(r, path) for r in results])
    if r0["mode"] == "connect":
        return (f"| {name} | {flags} | joins/s {fmt(get('joins_per_s'), 0)} | "
                f"p50 {fmt(get('connect_join', 'p50_ms'))} ms, p99 {fmt(get('connect_join', 'p99_ms'))} ms | "
                f"failed {get('failed')} |")
    if r0["mode"] == "idle":
        return (f"| {name} | {flags} | {fmt(get('kib_per_conn'), 1)} KiB per connection | "
                f"marginal {fmt(get('marginal_kib_per_conn_2nd_half'), 1)} KiB | joined {get('joined')} |")
    return (f"| {name} | {flags} | {fmt(get('deliveries'), 0)} of {fmt(get('expected_deliveries'), 0)} | "
            f"{fmt(get('deliveries_per_s'), 0)} | ack p50/p99 {fmt(get('ack', 'p50_ms'))} / {fmt(get('ack', 'p99_ms'))} | "
            f"delivery p50/p99 {fmt(get('delivery', 'p50_ms'))} / {fmt(get('delivery', 'p99_ms'))} | "
            f"{fmt(get('server_cpu_pct'), 0)} % | {fmt(get('server_cpu_us_per_delivery'))} | "
            f"{fmt(get('server_cpu_us_per_change'), 1)} | {fmt(get('generator_cpu_pct'), 0)} % | "
            f"{r0.get('loadavg_before', '').split(' ')[0]} |")


def _dig(d, path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def main():
    runs = int(os.environ.get("RUNS", "1"))
    wanted = sys.argv[1:] or list(SCENARIOS)
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(secrets.token_urlsafe(48))
        secret_file = f.name
    try:
        print("| scenario | server flags | delivered | deliveries/s | ack ms | delivery ms | "
              "server CPU | us / delivery | us / change | generator CPU | load avg |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for group in wanted:
            for name, server_flags, load_flags in SCENARIOS[group]:
                results = [run_one(secret_file, server_flags, load_flags) for _ in range(runs)]
                print(row(name, server_flags, results), flush=True)
    finally:
        os.unlink(secret_file)


if __name__ == "__main__":
    main()
