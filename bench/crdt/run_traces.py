#!/usr/bin/env python3
"""Runs lattice-trace N times per trace (a fresh process each, like the peers
harness's bench.mjs) and prints medians [min..max] as a markdown table; the raw
JSON lines go to --out.

  bench/crdt/run_traces.py build/h2/bench/trace/lattice-trace --runs 5 \
      --traces automerge-paper,seph-blog1 --out /tmp/lattice-main.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.normpath(
    os.path.join(HERE, '../../../shared/data/editing-traces'))
METRICS = ['applyMs', 'applyCpuMs', 'encodeMs', 'loadMs', 'loadCpuMs',
           'docBytes', 'heapBytes', 'loadedHeapBytes', 'docMemoryUsage',
           'loadedDocMemoryUsage', 'perTxnCommitMs', 'perTxnCommitCpuMs',
           'commitMs']


def resolve(trace, trace_dir):
    if trace.endswith('.json') or trace.endswith('.json.gz'):
        return trace
    return os.path.join(trace_dir, 'sequential_traces', trace + '.json.gz')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('tool')
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--traces', default='automerge-paper,seph-blog1')
    ap.add_argument('--trace-dir', default=DEFAULT_DIR)
    ap.add_argument('--out')
    opt = ap.parse_args()
    results = {}
    for trace in opt.traces.split(','):
        runs = []
        for i in range(opt.runs):
            p = subprocess.run([opt.tool, resolve(trace, opt.trace_dir)],
                               capture_output=True, text=True, check=False)
            if p.returncode != 0:
                sys.exit(f'{trace}: exit {p.returncode}\n{p.stdout}{p.stderr}')
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
            print(f'run {i + 1}/{opt.runs} {trace}: apply '
                  f'{runs[-1]["applyMs"]:.1f} ms', file=sys.stderr)
        summary = {}
        for k in METRICS:
            xs = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
            if xs:
                summary[k] = {'median': statistics.median(xs),
                              'min': min(xs), 'max': max(xs)}
        results[runs[0]['trace']] = {'summary': summary, 'runs': runs}

    def fmt(x):
        return f'{x:.0f}' if x >= 100 else f'{x:.1f}' if x >= 10 else f'{x:.2f}'

    def ms(s):
        return f'{fmt(s["median"])} [{fmt(s["min"])}..{fmt(s["max"])}]'

    print('| trace | apply ms | apply cpu ms | doc bytes | encode ms | '
          'load ms | load cpu ms | heap MiB | loaded heap MiB | '
          'commit-per-txn ms |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for trace, r in results.items():
        s = r['summary']
        print(f'| {trace} | {ms(s["applyMs"])} | {ms(s["applyCpuMs"])} | '
              f'{s["docBytes"]["median"]:.0f} | {fmt(s["encodeMs"]["median"])} | '
              f'{ms(s["loadMs"])} | {ms(s["loadCpuMs"])} | '
              f'{s["heapBytes"]["median"] / 2**20:.2f} | '
              f'{s["loadedHeapBytes"]["median"] / 2**20:.2f} | '
              + (ms(s['perTxnCommitMs']) if 'perTxnCommitMs' in s else '-')
              + ' |')
    if opt.out:
        with open(opt.out, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
