#!/usr/bin/env python3
"""Prints markdown tables of lattice-trace results (run_traces.py --out) beside
the peers harness's (bench.mjs --out): medians, and ours / theirs ratios
(below 1 means Lattice is smaller or faster).

  bench/crdt/compare.py /tmp/lattice.json /tmp/peers-main.json /tmp/peers-more.json
"""
import json
import sys

LIBS = ['yjs', 'ywasm', 'automerge', 'loro', 'json-joy', 'diamond-types',
        'plain-js-string']


def fmt(x):
    return f'{x:.0f}' if x >= 100 else f'{x:.1f}' if x >= 10 else f'{x:.2f}'


def ratio(a, b):
    return f'{a / b:.2f}' if b else '-'


def main():
    ours = json.load(open(sys.argv[1]))
    peers = {}
    for path in sys.argv[2:]:
        for r in json.load(open(path))['results']:
            peers[(r['trace'], r['lib'])] = r['summary']
    for trace, r in ours.items():
        o = r['summary']
        med = {k: v['median'] for k, v in o.items()}
        print(f'\n#### {trace}\n')
        print('| lib | apply ms med [min..max] | ours/lib | doc bytes | ours/lib '
              '| encode ms | load ms med [min..max] | ours/lib | memory MiB |')
        print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
        print(f'| **lattice** | {fmt(med["applyMs"])} [{fmt(o["applyMs"]["min"])}'
              f'..{fmt(o["applyMs"]["max"])}] | 1 | {med["docBytes"]:.0f} | 1 | '
              f'{fmt(med["encodeMs"])} | {fmt(med["loadMs"])} '
              f'[{fmt(o["loadMs"]["min"])}..{fmt(o["loadMs"]["max"])}] | 1 | '
              f'{med["heapBytes"] / 2**20:.2f} (loaded '
              f'{med["loadedHeapBytes"] / 2**20:.2f}) |')
        for lib in LIBS:
            p = peers.get((trace, lib))
            if p is None:
                continue
            mem = (p['heapBytes']['median'] + p['externalBytes']['median'])
            print(f'| {lib} | {fmt(p["applyMs"]["median"])} '
                  f'[{fmt(p["applyMs"]["min"])}..{fmt(p["applyMs"]["max"])}] | '
                  f'{ratio(med["applyMs"], p["applyMs"]["median"])} | '
                  f'{p["docBytes"]["median"]:.0f} | '
                  f'{ratio(med["docBytes"], p["docBytes"]["median"])} | '
                  f'{fmt(p["encodeMs"]["median"])} | '
                  f'{fmt(p["loadMs"]["median"])} '
                  f'[{fmt(p["loadMs"]["min"])}..{fmt(p["loadMs"]["max"])}] | '
                  f'{ratio(med["loadMs"], p["loadMs"]["median"])} | '
                  f'{mem / 2**20:.2f} |')


if __name__ == '__main__':
    main()
