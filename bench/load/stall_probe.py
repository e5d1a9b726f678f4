#!/usr/bin/env python3
"""How long this machine takes a busy core away from a process.

Runs N processes that each spin for S seconds reading the monotonic clock and
records every gap longer than 1 ms between two reads: time in which the
process was not running although it never slept. With N at or below the idle
cores such gaps are the machine's own (hypervisor, kernel threads); with every
core busy they also include the scheduler sharing cores. A server and a load
generator that together keep every core busy see the same stalls, amplified by
queueing, in their latency tail (BENCHMARKS.md, "Presence, tick 0").

Also prints the steal time /proc/stat reported over the run.

    bench/load/stall_probe.py [processes=2] [seconds=30]
"""
import multiprocessing
import os
import sys
import time


def spin(seconds):
    gaps = []
    now = time.monotonic
    start = last = now()
    while last - start < seconds:
        t = now()
        if t - last > 0.001:
            gaps.append(t - last)
        last = t
    return gaps


def steal_ticks():
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])


def main():
    procs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    if not 1 <= procs <= 64 or not 0 < seconds <= 600:
        sys.exit("usage: stall_probe.py [processes 1-64] [seconds <= 600]")
    steal = steal_ticks()
    with multiprocessing.Pool(procs) as pool:
        results = pool.map(spin, [seconds] * procs)
    steal_ms = (steal_ticks() - steal) * 1000 // os.sysconf("SC_CLK_TCK")
    for i, gaps in enumerate(results):
        print(f"process {i}: {seconds:.0f} s spinning, stalls > 1 ms: "
              f"{len(gaps)}, > 5 ms: {sum(g > 0.005 for g in gaps)}, "
              f"total {sum(gaps) * 1e3:.0f} ms, "
              f"longest {max(gaps, default=0) * 1e3:.1f} ms")
    print(f"steal time reported by /proc/stat: {steal_ms} ms")


if __name__ == "__main__":
    main()
