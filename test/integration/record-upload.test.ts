import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGateError } from '../../src/errors.js';
import { castOutput, readCast } from '../../src/record/asciicast.js';
import { runTool } from '../../src/record/runner.js';
import { recordSession } from '../../src/record/session.js';
import { createSpool, listPendingSpools, openSpool } from '../../src/record/spool.js';
import type { SessionApi, SessionEnd, SessionMeta } from '../../src/record/types.js';
import { createSpoolTail, drainSpool, uploadPendingSpools } from '../../src/record/uploader.js';
import { createRecordingStore, type RecordingStore } from '../../src/server/recordings.js';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', HOME: process.env.HOME ?? '/tmp' };
const fast = { intervalMs: 20, chunkBytes: 4096, backoff: { initialMs: 5, maxMs: 50 } };

/** The server side in memory, over the real recording store; fails the first `failures` calls. */
// Sessions the "server" knows, across API clients (as a real server keeps them).
const created = new Set<string>();

function memoryApi(store: RecordingStore, failures = 0) {
  let calls = 0;
  const closed = new Map<string, SessionEnd>();
  const statuses: string[] = [];
  const flaky = () => {
    calls++;
    if (calls <= failures) throw new Error(`network down (call ${calls})`);
  };
  const api: SessionApi = {
    async create(meta: SessionMeta) {
      flaky();
      created.add(meta.id);
    },
    async putChunk(id, chunk) {
      flaky();
      if (!created.has(id)) throw new Error('session not created');
      statuses.push((await store.appendChunk(id, chunk)).status);
    },
    async close(id, end) {
      flaky();
      closed.set(id, end);
    },
  };
  return { api, created, closed, statuses, calls: () => calls };
}

function sink() {
  let text = '';
  const out = Object.assign(
    new Writable({
      write(c, _e, cb) {
        text += c.toString();
        cb();
      },
    }),
    { columns: 100, rows: 30 },
  );
  return { out, text: () => text };
}

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

const baseMeta = { target: 'db-prod', user: 'ada@example.com', grant: 'grant-1', command: 'psql', recordInput: false };

let dir: string;
let configDir: string;
let store: RecordingStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-upload-'));
  configDir = join(dir, 'config');
  store = createRecordingStore(join(dir, 'server-recordings'));
  created.clear();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('recordSession', () => {
  it('records a pty session and uploads it completely through an API that fails at first', async () => {
    const server = memoryApi(store, 3);
    const term = sink();
    const result = await recordSession({
      configDir,
      api: server.api,
      meta: baseMeta,
      run: { file: 'sh', args: ['-c', 'seq 1 20000; exit 5'], env, stdin: new PassThrough(), stdout: term.out, tty: true },
      upload: fast,
    });
    expect(result.exitCode).toBe(5);
    expect(result.upload.status).toBe('complete');
    expect(server.closed.get(result.sessionId)).toMatchObject({ exitCode: 5, incomplete: false });
    const stored = (await store.read(result.sessionId)).toString();
    const cast = readCast(stored);
    expect(cast.header).toMatchObject({
      version: 2,
      width: 100,
      height: 30,
      command: 'psql',
      gate: { target: 'db-prod', user: 'ada@example.com', grant: 'grant-1', session_id: result.sessionId },
    });
    expect(castOutput(stored)).toBe(term.text());
    expect(term.text()).toContain('\r\n20000\r\n');
    expect((await store.state(result.sessionId)).lastSeq).toBeGreaterThan(5);
    expect(await store.verify(result.sessionId)).toMatchObject({ ok: true });
    expect(await readdir(join(configDir, 'spool'))).toEqual([]);
  });

  it('records keystrokes only when the target asks for it', async () => {
    for (const recordInput of [true, false]) {
      const server = memoryApi(store);
      const stdin = new PassThrough();
      const term = sink();
      const run = recordSession({
        configDir,
        api: server.api,
        meta: { ...baseMeta, recordInput },
        run: { file: 'sh', args: ['-c', 'read line; echo "got $line"'], env, stdin, stdout: term.out, tty: false },
        upload: fast,
      });
      stdin.end('secret-ish\n');
      const result = await run;
      const { events } = readCast((await store.read(result.sessionId)).toString());
      expect(events.filter((e) => e[1] === 'i').map((e) => e[2])).toEqual(recordInput ? ['secret-ish\n'] : []);
      expect(castOutput((await store.read(result.sessionId)).toString())).toBe('got secret-ish\n');
    }
  });

  it('keeps the recording in the spool when the server is unreachable, and the next run uploads it', async () => {
    const down = memoryApi(store, Number.POSITIVE_INFINITY);
    const result = await recordSession({
      configDir,
      api: down.api,
      meta: baseMeta,
      run: { file: 'sh', args: ['-c', 'echo offline; exit 2'], env, stdin: new PassThrough(), stdout: sink().out, tty: true },
      upload: fast,
      finishTimeoutMs: 300,
    });
    expect(result.exitCode).toBe(2);
    expect(result.upload.status).toBe('pending');
    const [pending] = await listPendingSpools(configDir);
    expect(pending).toMatchObject({ id: result.sessionId, live: true, state: { closed: true, exitCode: 2 } });
    // The writer (this process) is done with it; a later gate run is another pid.
    const spool = await openSpool(configDir, result.sessionId);
    await spool.update({ pid: await deadPid() });

    const up = memoryApi(store, 2);
    const outcome = await uploadPendingSpools(configDir, up.api, { backoff: { initialMs: 5, maxMs: 20 } });
    expect(outcome).toEqual({ uploaded: [result.sessionId], failed: [], skipped: [] });
    expect(up.closed.get(result.sessionId)).toMatchObject({ exitCode: 2, incomplete: false });
    expect(castOutput((await store.read(result.sessionId)).toString())).toBe('offline\r\n');
    expect(await readdir(join(configDir, 'spool'))).toEqual([]);
  });

  it('does not start the tool when a required recording cannot be created', async () => {
    const down = memoryApi(store, 1);
    const term = sink();
    const err = await recordSession({
      configDir,
      api: down.api,
      meta: baseMeta,
      required: true,
      run: { file: 'sh', args: ['-c', 'echo ran'], env, stdin: new PassThrough(), stdout: term.out, tty: true },
    }).catch((e: unknown) => e);
    expect(isGateError(err) && err.code).toBe('GATE_ERR_RECORDING');
    expect(term.text()).toBe('');
  });

  it('leaves no spool behind when the tool is not installed', async () => {
    const err = await recordSession({
      configDir,
      api: memoryApi(store).api,
      meta: baseMeta,
      run: { file: 'kubectl', args: [], env: { PATH: '/nonexistent' }, stdin: new PassThrough(), stdout: sink().out, tty: true },
    }).catch((e: unknown) => e);
    expect(isGateError(err) && err.code).toBe('GATE_ERR_USAGE');
    expect(await listPendingSpools(configDir)).toEqual([]);
  });

  it('produces a file that Debian asciinema plays back', async () => {
    const result = await recordSession({
      configDir,
      api: memoryApi(store).api,
      meta: baseMeta,
      run: {
        file: 'sh',
        args: ['-c', 'printf "hello from gate\\n"; printf "\\033[1mbold\\033[0m done\\n"'],
        env,
        stdin: new PassThrough(),
        stdout: sink().out,
        tty: true,
      },
      upload: fast,
    });
    const file = join(dir, 'session.cast');
    await writeFile(file, await store.read(result.sessionId));
    // asciinema 2.2 opens /dev/tty even for `cat`: give it a terminal.
    const term = sink();
    const played = await runTool({
      file: 'asciinema',
      args: ['cat', file],
      env: { ...env, LANG: 'C.UTF-8' },
      stdin: new PassThrough(),
      stdout: term.out,
      tty: true,
    });
    expect(played.exitCode).toBe(0);
    const stdout = term.text();
    expect(stdout).toContain('hello from gate');
    expect(stdout).toContain('\x1b[1mbold\x1b[0m done');
  });
});

describe('uploading from memory', () => {
  it('sends exactly the spooled bytes, from memory or from the file once the upload fell behind', async () => {
    const meta: SessionMeta = { ...baseMeta, id: crypto.randomUUID(), width: 80, height: 24, startedAt: new Date().toISOString() };
    // A budget of 3 KiB: most of this output overflows memory and must come back from the file.
    const tail = createSpoolTail(3 * 1024);
    const spool = await createSpool(configDir, meta, { batchChars: 700, onWritten: (data, offset) => tail.add(data, offset) });
    const server = memoryApi(store);
    spool.append(`${JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1 })}\n`);
    for (let i = 0; i < 400; i++) {
      spool.append(`${JSON.stringify([i / 100, 'o', `line ${i} ünïcödé ✓\r\n`])}\n`);
      // Upload now and then while it is written, as the live uploader does.
      if (i % 97 === 0) {
        spool.flush();
        await new Promise((r) => setTimeout(r, 5));
        await drainSpool(spool, server.api, { final: false, chunkBytes: 1024, tail });
      }
    }
    await spool.end();
    await drainSpool(spool, server.api, { final: true, chunkBytes: 1024, tail });
    const onServer = await store.read(meta.id);
    expect(onServer.equals(await readFile(spool.castPath))).toBe(true);
    expect(castOutput(onServer.toString())).toContain('line 399 ünïcödé ✓\r\n');
    expect(await store.verify(meta.id)).toMatchObject({ ok: true });
  });
});

describe('resuming a spool left by a gate process that died', () => {
  async function crashedSpool() {
    const meta: SessionMeta = {
      ...baseMeta,
      id: crypto.randomUUID(),
      width: 80,
      height: 24,
      startedAt: new Date(Date.now() - 5000).toISOString(),
    };
    const spool = await createSpool(configDir, meta);
    spool.append(`${JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1 })}\n`);
    for (let i = 0; i < 50; i++) spool.append(`${JSON.stringify([i / 10, 'o', `line ${i}\r\n`])}\n`);
    return { spool, meta };
  }

  it('uploads what was left, cuts the half-written last line, and closes it as incomplete', async () => {
    const { spool, meta } = await crashedSpool();
    // Part of it reached the server before the crash.
    const server = memoryApi(store);
    await spool.end();
    expect(await drainSpool(spool, server.api, { final: false, chunkBytes: 512 })).toBeGreaterThan(1);
    const before = (await store.state(meta.id)).lastSeq;
    // More output, then death mid-line.
    const { appendFile } = await import('node:fs/promises');
    await appendFile(spool.castPath, `${JSON.stringify([6, 'o', 'after upload\r\n'])}\n[6.1,"o","half a li`);
    await spool.update({ pid: await deadPid() });
    expect((await stat(spool.castPath)).mode & 0o777).toBe(0o600);

    const resumed = memoryApi(store, 1);
    const outcome = await uploadPendingSpools(configDir, resumed.api, { backoff: { initialMs: 5, maxMs: 20 } });
    expect(outcome.uploaded).toEqual([meta.id]);
    const end = resumed.closed.get(meta.id)!;
    expect(end).toMatchObject({ exitCode: null, incomplete: true });
    expect(end.durationMs).toBeGreaterThanOrEqual(4000);
    expect(resumed.statuses.every((s) => s === 'stored')).toBe(true);
    expect((await store.state(meta.id)).lastSeq).toBeGreaterThan(before);
    const cast = readCast((await store.read(meta.id)).toString());
    expect(cast.truncated).toBe(false);
    const output = cast.events.map((e) => e[2]).join('');
    expect(output).toContain('line 0\r\nline 1\r\n');
    expect(output.endsWith('line 49\r\nafter upload\r\n')).toBe(true);
    expect(await store.verify(meta.id)).toMatchObject({ ok: true });
    expect(await listPendingSpools(configDir)).toEqual([]);
  });

  it('re-sends a chunk whose acknowledgement was lost as the same chunk (a server duplicate, not a conflict)', async () => {
    const { spool, meta } = await crashedSpool();
    await spool.end();
    const server = memoryApi(store);
    let lost = 0;
    const lossy: SessionApi = {
      ...server.api,
      async putChunk(id, chunk) {
        await server.api.putChunk(id, chunk);
        // Stored, but the response never arrives; the process then dies.
        if (++lost === 2) throw new Error('connection reset');
      },
    };
    await expect(drainSpool(spool, lossy, { final: false, chunkBytes: 512 })).rejects.toThrow('connection reset');
    // Meanwhile the tool wrote more, so a fresh cut at that offset would differ.
    const { appendFile } = await import('node:fs/promises');
    await appendFile(spool.castPath, `${JSON.stringify([9, 'o', 'x'.repeat(600)])}\n`);
    await spool.update({ pid: await deadPid() });

    const outcome = await uploadPendingSpools(configDir, server.api);
    expect(outcome.uploaded).toEqual([meta.id]);
    expect(server.statuses).toContain('duplicate');
    expect(await store.verify(meta.id)).toMatchObject({ ok: true });
    expect(castOutput((await store.read(meta.id)).toString())).toContain('x'.repeat(600));
  });

  it("leaves a live gate process's spool alone", async () => {
    const { spool, meta } = await crashedSpool();
    await spool.end();
    const server = memoryApi(store);
    const outcome = await uploadPendingSpools(configDir, server.api);
    expect(outcome).toEqual({ uploaded: [], failed: [], skipped: [meta.id] });
    expect(server.calls()).toBe(0);
    expect(JSON.parse(await readFile(spool.statePath, 'utf8'))).toMatchObject({ closed: false });
  });

  it('keeps the spool dir and files private', async () => {
    const { spool } = await crashedSpool();
    await spool.end();
    expect((await stat(join(configDir, 'spool'))).mode & 0o777).toBe(0o700);
    expect((await stat(spool.castPath)).mode & 0o777).toBe(0o600);
    expect((await stat(spool.statePath)).mode & 0o777).toBe(0o600);
  });
});
