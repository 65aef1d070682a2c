#!/usr/bin/env node
// Recording overhead: `seq 1 N` (about 100 MB of terminal output) under plain
// node-pty, under runTool, and under recordSession (asciicast writer + spool +
// live upload into a real recording store), each measured in the same run.
// It bundles src/record with esbuild itself, so it needs no `npm run build`.
//
//   node bench/record.js              # N=12000000, 3 rounds
//   BENCH_N=2000000 BENCH_ROUNDS=5 node bench/record.js
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.env.BENCH_N ?? 12_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

// The bundle lives under node_modules/ so that its `import 'node-pty'` resolves.
const outDir = join(root, 'node_modules', '.cache', 'gate-bench');
await mkdir(outDir, { recursive: true });
const entry = join(outDir, 'entry.ts');
await writeFile(
  entry,
  `export * from ${JSON.stringify(join(root, 'src/record/index.ts'))};\n` +
    `export { createRecordingStore } from ${JSON.stringify(join(root, 'src/server/recordings.ts'))};\n`,
);
const esbuild = await import('esbuild');
await esbuild.build({
  entryPoints: [entry],
  outfile: join(outDir, 'record.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['node-pty'],
  logLevel: 'warning',
});
const rec = await import(join(outDir, 'record.mjs'));
const pty = (await import('node-pty')).default;

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', HOME: tmpdir() };
const args = ['-c', `seq 1 ${N}`];

/** A terminal stand-in that discards output through a real file descriptor, as a terminal would take it. */
function devNull() {
  return Object.assign(createWriteStream('/dev/null'), { columns: 120, rows: 40 });
}

async function plainPty() {
  const out = devNull();
  let bytes = 0;
  await new Promise((resolve) => {
    const p = pty.spawn('sh', args, { name: 'xterm-256color', cols: 120, rows: 40, env });
    p.onData((d) => {
      bytes += d.length;
      if (!out.write(d)) {
        p.pause();
        out.once('drain', () => p.resume());
      }
    });
    p.onExit(resolve);
  });
  out.end();
  return { bytes };
}

async function runToolOnly() {
  let bytes = 0;
  await rec.runTool({
    file: 'sh',
    args,
    env,
    stdin: new PassThrough(),
    stdout: devNull(),
    tty: true,
    onOutput: (d) => (bytes += d.length),
  });
  return { bytes };
}

async function recorded(withServer) {
  const dir = await mkdtemp(join(tmpdir(), 'gate-bench-'));
  try {
    const store = rec.createRecordingStore(join(dir, 'server'));
    let toolMs = 0;
    const api = {
      async create() {},
      async putChunk(id, chunk) {
        if (withServer) await store.appendChunk(id, chunk);
      },
      async close(_id, end) {
        toolMs = end.durationMs;
      },
    };
    const result = await rec.recordSession({
      configDir: join(dir, 'config'),
      api,
      meta: { target: 'bench', user: 'bench', grant: 'bench', command: `seq 1 ${N}`, recordInput: false },
      run: { file: 'sh', args, env, stdin: new PassThrough(), stdout: devNull(), tty: true },
      finishTimeoutMs: 120_000,
    });
    if (!withServer) return { toolMs, note: 'chunks hashed, not stored' };
    const state = await store.state(result.sessionId);
    const verify = await store.verify(result.sessionId);
    const ok = verify.ok && result.upload.status === 'complete';
    return { toolMs, note: `${state.lastSeq} chunks, cast ${(state.bytes / 1e6).toFixed(1)} MB, chain ${ok ? 'ok' : 'BROKEN'}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const cases = [
  ['node-pty alone (baseline)', plainPty],
  ['runTool (no recording)', runToolOnly],
  ['recordSession, API drops chunks', () => recorded(false)],
  ['recordSession, recording store in-process', () => recorded(true)],
];
// BENCH_CASES=0,3 runs only those cases (by index), e.g. for `node --cpu-prof`.
if (process.env.BENCH_CASES) {
  const keep = new Set(process.env.BENCH_CASES.split(',').map(Number));
  for (let i = cases.length - 1; i >= 0; i--) if (!keep.has(i)) cases.splice(i, 1);
}
const times = new Map(cases.map(([name]) => [name, []]));
const info = new Map();
for (let round = 0; round < ROUNDS; round++) {
  // Interleave the cases so drift in machine load hits all of them alike.
  for (const [name, fn] of cases) {
    const t0 = performance.now();
    const r = await fn();
    times.get(name).push(performance.now() - t0);
    info.set(name, r);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times.get(cases[0][0]));
const rows = cases.map(([name]) => {
  const t = median(times.get(name));
  const r = info.get(name);
  // toolMs: until the tool exited (what the user waits for at the prompt); wall adds the upload's tail.
  const tool = r.toolMs ? `${(r.toolMs / 1000).toFixed(2)} s (${(r.toolMs / base).toFixed(2)})` : '';
  const note = r.note ?? `${(r.bytes / 1e6).toFixed(1)} MB output`;
  return [name, `${(t / 1000).toFixed(2)} s`, (t / base).toFixed(2), tool, note];
});
console.log(`seq 1 ${N}, median of ${ROUNDS} rounds, node ${process.version}\n`);
console.log('| case | wall | ratio | tool exited at (ratio) | notes |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
