// Lattice adapter for the peers' fan-out harness
// (shared/bench/peers/fanout, contract in its peers/TEMPLATE-cpp.mjs):
//
//   cd ../shared/bench/peers/fanout && npm ci
//   node bench.mjs --peer $PWD/../../../../main/bench/fanout/lattice.mjs \
//     --scenario cursors --rooms 100 --clients 10 --hz 10 --duration 15
//
// Each client speaks the Lattice protocol (docs/protocol.md) over one
// WebSocket: hello (anonymous server), join, then a cursor update is one
// `presence` frame {cursor: [x, y], app: {id, t, s}}; the server coalesces
// presence per tick and sends `presence_update` frames whose payload is a
// crdt::Presence delta (docs/crdt.md, "Presence format 1"), decoded here.
//
// Environment:
//   LATTICE_SERVER_BIN     the server binary (default: build/release of
//                          this checkout)
//   LATTICE_PRESENCE_TICK  --presence_tick (default the server's, 33ms;
//                          "0s" turns coalescing off)
//   LATTICE_FANOUT_HARNESS the harness directory whose node_modules hold
//                          ws and msgpackr (default ../shared/bench/peers/fanout)
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = resolve(here, '../..');
const harness = process.env.LATTICE_FANOUT_HARNESS ||
  resolve(projectRoot, '../shared/bench/peers/fanout');
const require = createRequire(join(harness, 'package.json'));
const WebSocket = require('ws');
const { Packr, Unpackr } = require('msgpackr');

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const tick = process.env.LATTICE_PRESENCE_TICK;
export const name = process.env.FANOUT_PEER_NAME ||
  (tick ? `lattice-tick-${tick}` : 'lattice');
export const description = 'lattice-server: presence frames, per-tick coalescing' +
  (tick ? ` (tick ${tick})` : ' (default 33 ms tick)');
export const nodes = 1;
export const needsRedis = false;

export function serverProcesses({ ports }) {
  const bin = process.env.LATTICE_SERVER_BIN ||
    join(projectRoot, 'build/release/engine/lattice-server');
  return ports.map((port) => ({
    cmd: bin,
    args: [
      `--port=${port}`,
      `--data_dir=${mkdtempSync(join(tmpdir(), 'lattice-fanout-'))}`,
      '--anonymous', '--durability=process',
      '--max_presence_per_second=100000', '--max_connections_per_ip=100000',
      ...(tick ? [`--presence_tick=${tick}`] : []),
    ],
    env: {},
    port,
  }));
}

// ---- Frames (docs/protocol.md) ----------------------------------------------

const HELLO = 1, JOIN = 2, PRESENCE = 6, WELCOME = 16, JOINED = 17,
  PRESENCE_UPDATE = 22, ERROR = 31;

let nextReplica = 1 + Math.floor(Math.random() * 1e9);

// ---- crdt::Presence delta decoding (docs/crdt.md, "Presence format 1") ------

class Reader {
  constructor(bytes) { this.b = bytes; this.at = 0; }
  byte() {
    if (this.at >= this.b.length) throw new Error('truncated presence');
    return this.b[this.at++];
  }
  varint() {  // up to 2^53, enough for these fields
    let v = 0, mul = 1, b;
    do { b = this.byte(); v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    return v;
  }
  svarint() { const z = this.varint(); return z % 2 ? -(z + 1) / 2 : z / 2; }
  bytes() { const n = this.varint(); const s = this.b.subarray(this.at, this.at + n); this.at += n; return s; }
  str() { return Buffer.from(this.bytes()).toString('utf8'); }
  f64() { const v = Buffer.from(this.b.buffer, this.b.byteOffset + this.at, 8).readDoubleLE(0); this.at += 8; return v; }
  stamp() { this.varint(); this.varint(); }
  cursor() {
    const kind = this.byte();
    if (kind === 1) return { x: this.f64(), y: this.f64() };
    this.str(); this.varint(); this.varint();
    if (this.byte()) { this.varint(); this.varint(); }
    return { index: this.varint() };
  }
  value() {
    switch (this.byte()) {
      case 0: return null;
      case 1: return this.byte() === 1;
      case 2: return this.svarint();
      case 3: return this.f64();
      case 4: return this.str();
      case 5: return this.bytes();
      default: throw new Error('bad presence value');
    }
  }
}

// Calls fn(session, {cursor?, app: {key: value}}) for each session the
// message carries.
function decodePresence(bytes, fn) {
  const r = new Reader(bytes);
  if (r.byte() !== 1) throw new Error('presence format');
  r.byte();  // kind
  for (let n = r.varint(); n > 0; n--) {
    const session = r.str();
    r.stamp();
    const entry = { app: {} };
    for (let f = r.varint(); f > 0; f--) {
      const tag = r.byte();
      const key = tag === 6 ? r.str() : null;
      r.stamp();
      if (!r.byte()) continue;  // cleared
      switch (tag) {
        case 1: r.str(); for (let d = r.varint(); d > 0; d--) { r.str(); r.str(); } break;
        case 2: r.byte(); break;
        case 3: entry.cursor = r.cursor(); break;
        case 4: r.cursor(); r.cursor(); break;
        case 5: r.str(); r.svarint(); break;
        case 6: entry.app[key] = r.value(); break;
        default: throw new Error(`presence tag ${tag}`);
      }
    }
    fn(session, entry);
  }
}

// ---- The adapter ------------------------------------------------------------

export async function connect({ port, room, clientId, onCursor, onClose, timeoutMs = 10000 }) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, { perMessageDeflate: false });
  ws.binaryType = 'nodebuffer';
  const ids = new Map();  // session -> the harness's client id
  const last = new Map();  // session -> last cursor
  let state = 'hello';
  let settle;
  const ready = new Promise((res, rej) => {
    settle = { res, rej };
    setTimeout(() => rej(new Error(`client ${clientId}: no joined in ${timeoutMs} ms`)), timeoutMs).unref();
  });
  ws.on('error', (e) => settle.rej(e));
  ws.on('close', () => { settle.rej(new Error('closed')); onClose && onClose(); });
  ws.on('open', () => ws.send(packr.pack([HELLO, 2, '', nextReplica++, 'fanout'])));
  // Protocol 2: one message may carry several frames (docs/protocol.md,
  // "Batches").
  ws.on('message', (data) => unpackr.unpackMultiple(data).forEach(onFrame));
  function onFrame(f) {
    const type = f[0];
    if (type === ERROR) {
      settle.rej(new Error(`client ${clientId}: ${f[1]}: ${f[2]}`));
    } else if (type === WELCOME && state === 'hello') {
      state = 'joining';
      ws.send(packr.pack([JOIN, 1, room, 0, 0, []]));
    } else if (type === JOINED) {
      state = 'joined';
      settle.res();
    } else if (type === PRESENCE_UPDATE) {
      decodePresence(f[2], (session, e) => {
        if (e.app.id !== undefined) ids.set(session, e.app.id);
        if (e.cursor) last.set(session, e.cursor);
        if (e.app.t === undefined || !ids.has(session)) return;
        const c = last.get(session) || {};
        onCursor({ id: ids.get(session), x: c.x, y: c.y, t: e.app.t, s: e.app.s });
      });
    }
  }
  await ready;
  return {
    send(c) {
      ws.send(packr.pack([PRESENCE, room, { cursor: [c.x, c.y], app: { id: String(c.id), t: c.t, s: c.s } }]));
    },
    close() { ws.terminate(); },
  };
}
