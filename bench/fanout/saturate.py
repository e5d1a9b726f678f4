#!/usr/bin/env python3
"""Saturation ladder (issue 6): for each server, the highest cursor rate it
holds with p99 under 50 ms and nothing lost, in two shapes heavier than the
harness's scenarios a and b. Prints one Markdown table (BENCHMARKS.md,
"Saturation").

    bench/fanout/saturate.py                        # every server, both shapes
    PEERS="ws-relay" SHAPES=big-room bench/fanout/saturate.py
    PEERS= GENERATORS=lattice-load bench/fanout/saturate.py   # native only

Each rung is one run; the ladder of a server stops at its first failing rung.
Generators:
  - the peers and `lattice-harness-*`: the harness's Node generator
    (shared/bench/peers/fanout, copied to $WORK by bench/fanout/run.sh), which
    tops out near 90,000-170,000 received messages/s on the 2-core VM;
  - `lattice-load-*`: bench/load/lattice-load, native, for the rates beyond.
Every run is on 127.0.0.1, bounded by the harness's watchdog or lattice-load's
--max_total_s, and started servers are stopped by PID.
"""
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORK = os.environ.get("WORK", "/tmp/lattice-fanout-harness")
DURATION = int(os.environ.get("DURATION", "8"))
P99_LIMIT_MS = 50.0

# name -> (rooms, clients per room, ladder of Hz per client)
SHAPES = {
    "big-room": (1, 100, [5, 10, 20, 40, 80]),
    "many-rooms": (100, 10, [10, 20, 40, 80, 160]),
}


def load_run_tables():
    spec = importlib.util.spec_from_file_location(
        "run_tables", os.path.join(ROOT, "bench", "load", "run_tables.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def harness_run(peer, label, rooms, clients, hz, env_extra):
    out = os.path.join(WORK, "results", "saturate", f"{label}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    env = dict(os.environ, LATTICE_FANOUT_HARNESS=WORK, **env_extra)
    cmd = ["timeout", "-k", "10", "300", "node", os.path.join(WORK, "bench.mjs"),
           "--peer", peer, "--label", label, "--run", "1", "--wait-quiet-s", "20",
           "--out", out, "--scenario", "cursors", "--rooms", str(rooms),
           "--clients", str(clients), "--hz", str(hz), "--duration", str(DURATION)]
    subprocess.run(cmd, env=env, capture_output=True, text=True)
    try:
        with open(out) as f:
            c = json.load(f)["cursors"]
    except (OSError, KeyError, ValueError):
        return None
    return {
        "offered": c["offeredDeliveriesPerS"],
        "delivered": c["deliveriesPerS"],
        "lost_pct": c["lostPct"],
        "p99_ms": c["latency"]["p99_us"] / 1000,
        "cpu_pct": c["server"]["cpuUtilPct"],
        "loadgen_pct": c["loadgen"]["cpuUtilPct"],
    }


def lattice_load_run(run_tables, secret_file, tick, rooms, clients, hz):
    try:
        r = run_tables.run_one(
            secret_file, [f"--presence_tick={tick}"],
            ["--mode=cursors", f"--rooms={rooms}", f"--clients={clients}",
             f"--hz={hz}", f"--duration_s={DURATION}"])
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
        print(f"  lattice-load failed: {e}", file=sys.stderr)
        return None
    expected = r.get("expected_deliveries") or 1
    return {
        "offered": expected / DURATION,
        "delivered": r["deliveries_per_s"],
        "lost_pct": 100.0 * (expected - r["deliveries"]) / expected,
        "p99_ms": r["delivery"]["p99_ms"],
        "cpu_pct": r["server_cpu_pct"],
        "loadgen_pct": r.get("generator_cpu_pct", -1),
    }


def holds(result, coalesced):
    if result is None:
        return False
    # A coalescing tick sends only the latest cursor of each client per tick
    # by design, so its superseded moves are not "lost".
    return result["p99_ms"] < P99_LIMIT_MS and (coalesced or result["lost_pct"] < 1)


def ladder(name, run, hz_steps, coalesced):
    best, rows = None, []
    for hz in hz_steps:
        result = run(hz)
        rows.append((hz, result))
        print(f"  {name} {hz} Hz: {result}", file=sys.stderr, flush=True)
        if not holds(result, coalesced):
            break
        best = (hz, result)
    return best, rows


def main():
    peers = os.environ.get("PEERS", "ws-relay socketio yws").split()
    shapes = os.environ.get("SHAPES", " ".join(SHAPES)).split()
    ticks = os.environ.get("TICKS", "33ms 0s").split()
    generators = os.environ.get("GENERATORS", "harness lattice-load").split()
    run_tables = load_run_tables()
    # The harness copy and its npm packages, as bench/fanout/run.sh makes them.
    subprocess.run(["bash", os.path.join(HERE, "run.sh")], check=True,
                   env=dict(os.environ, RUNS="0", WORK=WORK), capture_output=True)
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(secrets.token_urlsafe(48))
        secret_file = f.name
    table = []
    try:
        for shape in shapes:
            rooms, clients, steps = SHAPES[shape]
            servers = []
            for peer in peers:
                servers.append((peer, "harness", False, lambda hz, p=peer: harness_run(
                    p, f"{p}.{shape}-{hz}hz", rooms, clients, hz, {})))
            for tick in ticks:
                coalesced = tick not in ("0", "0s", "0ms")
                servers.append((f"lattice-tick-{tick}", "harness", coalesced,
                                lambda hz, t=tick: harness_run(
                                    os.path.join(HERE, "lattice.mjs"),
                                    f"lattice-tick-{t}.{shape}-{hz}hz", rooms, clients, hz,
                                    {"LATTICE_PRESENCE_TICK": t,
                                     "FANOUT_PEER_NAME": f"lattice-tick-{t}"})))
                servers.append((f"lattice-tick-{tick}", "lattice-load", coalesced,
                                lambda hz, t=tick: lattice_load_run(
                                    run_tables, secret_file, t, rooms, clients, hz)))
            servers = [s for s in servers if s[1] in generators]
            for name, generator, coalesced, run in servers:
                best, rows = ladder(f"{shape} {name} ({generator})", run, steps, coalesced)
                table.append((rooms, clients, name, generator, coalesced, best, rows))
    finally:
        os.unlink(secret_file)
    print("| shape | server | generator | highest rate held | deliveries/s | p99 ms | "
          "server CPU % | next rung |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for rooms, clients, name, generator, coalesced, best, rows in table:
        failed = next((r for r in rows if not holds(r[1], coalesced)), None)
        nxt = "-" if failed is None else (
            f"{failed[0]} Hz: no result" if failed[1] is None else
            f"{failed[0]} Hz: p99 {failed[1]['p99_ms']:.0f} ms, lost {failed[1]['lost_pct']:.1f}%")
        if best is None:
            print(f"| {rooms} x {clients} | {name} | {generator} | none | | | | {nxt} |")
            continue
        hz, r = best
        print(f"| {rooms} x {clients} | {name} | {generator} | {hz} Hz | "
              f"{r['delivered']:,.0f} | {r['p99_ms']:.1f} | {r['cpu_pct']:.0f} | {nxt} |")


if __name__ == "__main__":
    main()
