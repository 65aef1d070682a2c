#!/usr/bin/env node
// Shell completion latency as a user meets it at <TAB>: `gate __complete
// targets` against a server that accepts the connection and never answers
// (gate must give up by itself, within about a second, and serve its stale
// cache), against `gate version` (the node start-up floor) measured in the
// same run. Medians over rounds; the ratio is what to compare across runs.
//
//   npm run build && node bench/completion.js
//   BENCH_ROUNDS=20 node bench/completion.js
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const GATE_BIN = join(root, 'bin', 'gate.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

const held = [];
const hanging = createServer((socket) => {
  held.push(socket);
  socket.on('error', () => {});
});
await new Promise((r) => hanging.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${hanging.address().port}`;
const configDir = await mkdtemp(join(tmpdir(), 'gate-bench-compl-'));
await writeFile(join(configDir, 'completion-cache.json'), JSON.stringify({ [`${url} targets`]: { at: Date.now() - 3_600_000, values: ['stale-db'] } }));
const env = { PATH: process.env.PATH, HOME: configDir, GATE_CONFIG_DIR: configDir, GATE_SERVER: url, GATE_TOKEN: 'gst_0000000000000000_bench', NO_COLOR: '1' };

async function timed(args) {
  const started = performance.now();
  const { stdout } = await run(process.execPath, [GATE_BIN, ...args], { env, timeout: 30_000 });
  return { ms: performance.now() - started, stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floor = [];
const hang = [];
for (let i = 0; i < ROUNDS; i++) {
  floor.push((await timed(['version'])).ms);
  const r = await timed(['__complete', 'targets']);
  if (r.stdout !== 'stale-db\n') throw new Error(`unexpected completion output: ${JSON.stringify(r.stdout)}`);
  hang.push(r.ms);
}
console.log(`gate version (start-up floor)           median ${median(floor).toFixed(0)} ms`);
console.log(`gate __complete, server never answers   median ${median(hang).toFixed(0)} ms  (+${(median(hang) - median(floor)).toFixed(0)} ms over the floor; budget ~1000)`);

for (const s of held) s.destroy();
hanging.close();
await rm(configDir, { recursive: true, force: true });
