import { mkdtemp, readdir, rm, stat, truncate, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chunkHash, findBrokenLink, GENESIS_HASH, type RecordingChunk } from '../../src/record/chain.js';
import { createRecordingStore, RecordingChunkError, type RecordingStore } from '../../src/server/recordings.js';

const ID = '3b241101-e2bb-4255-8caf-4136c566a962';

function chain(parts: string[]): RecordingChunk[] {
  let prev = GENESIS_HASH;
  return parts.map((text, i) => {
    const data = Buffer.from(text);
    const hash = chunkHash(prev, i + 1, data);
    const c = { seq: i + 1, data, prevHash: prev, hash };
    prev = hash;
    return c;
  });
}

async function refusal(p: Promise<unknown>): Promise<RecordingChunkError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RecordingChunkError);
  return err as RecordingChunkError;
}

let dir: string;
let store: RecordingStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-rec-'));
  store = createRecordingStore(join(dir, 'recordings'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('chunk hash chain', () => {
  it('is sha256(prevHash \\n seq \\n data) starting from 64 zeros', async () => {
    const { createHash } = await import('node:crypto');
    expect(GENESIS_HASH).toBe('0'.repeat(64));
    const expected = createHash('sha256').update(`${'0'.repeat(64)}\n1\nhello`).digest('hex');
    expect(chunkHash(GENESIS_HASH, 1, Buffer.from('hello'))).toBe(expected);
  });

  it('finds the first altered link', () => {
    const chunks = chain(['a', 'b', 'c']);
    expect(findBrokenLink(chunks)).toBe(-1);
    chunks[1] = { ...chunks[1]!, data: Buffer.from('B') };
    expect(findBrokenLink(chunks)).toBe(1);
  });
});

describe('recording store', () => {
  it('assembles chunks into the .cast file and tracks the last seq, hash and size', async () => {
    const chunks = chain(['{"version":2}\n', '[0.1,"o","hi"]\n']);
    for (const c of chunks) expect(await store.appendChunk(ID, c)).toMatchObject({ status: 'stored' });
    expect((await store.read(ID)).toString()).toBe('{"version":2}\n[0.1,"o","hi"]\n');
    expect(await store.state(ID)).toEqual({ lastSeq: 2, lastHash: chunks[1]!.hash, bytes: 29 });
    expect(await store.verify(ID)).toEqual({ ok: true, chunks: 2 });
  });

  it('writes owner-only files', async () => {
    await store.appendChunk(ID, chain(['x'])[0]!);
    const recDir = join(dir, 'recordings');
    expect((await stat(recDir)).mode & 0o777).toBe(0o700);
    for (const f of await readdir(recDir)) expect((await stat(join(recDir, f))).mode & 0o777).toBe(0o600);
  });

  it('answers a replayed chunk with duplicate and stores it once', async () => {
    const chunks = chain(['one\n', 'two\n']);
    await store.appendChunk(ID, chunks[0]!);
    await store.appendChunk(ID, chunks[1]!);
    expect(await store.appendChunk(ID, chunks[0]!)).toMatchObject({ status: 'duplicate' });
    expect(await store.appendChunk(ID, chunks[1]!)).toMatchObject({ status: 'duplicate' });
    expect((await store.read(ID)).toString()).toBe('one\ntwo\n');
  });

  it('rejects a tampered chunk (data changed, hash kept) with 422', async () => {
    const [c] = chain(['select * from users;\n']);
    const err = await refusal(store.appendChunk(ID, { ...c!, data: Buffer.from('drop table users;\n') }));
    expect(err.problem).toBe('bad_hash');
    expect(err.httpStatus).toBe(422);
    expect((await store.read(ID)).length).toBe(0);
  });

  it('rejects a chunk that skips ahead, or does not link to the last one, with 409', async () => {
    const chunks = chain(['a', 'b', 'c']);
    await store.appendChunk(ID, chunks[0]!);
    const gap = await refusal(store.appendChunk(ID, chunks[2]!));
    expect([gap.problem, gap.httpStatus]).toEqual(['seq_gap', 409]);
    expect(gap.details).toMatchObject({ nextSeq: 2, prevHash: chunks[0]!.hash });
    // A self-consistent chunk 2 that claims a different predecessor.
    const forged = chain(['x', 'b'])[1]!;
    const broken = await refusal(store.appendChunk(ID, forged));
    expect([broken.problem, broken.httpStatus]).toEqual(['chain_mismatch', 409]);
  });

  it('rejects a different chunk under a seq already stored with 409', async () => {
    const chunks = chain(['a', 'b']);
    await store.appendChunk(ID, chunks[0]!);
    await store.appendChunk(ID, chunks[1]!);
    const other = chain(['a', 'B'])[1]!;
    const err = await refusal(store.appendChunk(ID, other));
    expect([err.problem, err.httpStatus]).toEqual(['seq_conflict', 409]);
    expect((await store.read(ID)).toString()).toBe('ab');
  });

  it('refuses session ids that could leave the directory', async () => {
    const [c] = chain(['a']);
    for (const id of ['../../etc/passwd', '..', `${ID}/../x`, `${ID}.cast`, '', 'a'.repeat(36)]) {
      const err = await refusal(store.appendChunk(id, c!));
      expect(err.problem).toBe('invalid_session_id');
      await refusal(store.read(id));
    }
    // Nothing was created anywhere.
    expect(await readdir(dir)).toEqual([]);
  });

  it('serializes concurrent appends of the same chunk: one stored, one duplicate', async () => {
    const [c] = chain(['once']);
    const results = await Promise.all([store.appendChunk(ID, c!), store.appendChunk(ID, c!)]);
    expect(results.map((r) => r.status).sort()).toEqual(['duplicate', 'stored']);
    expect((await store.read(ID)).toString()).toBe('once');
  });

  it('recovers from a crash between the data append and the index append', async () => {
    const chunks = chain(['first\n', 'second\n']);
    await store.appendChunk(ID, chunks[0]!);
    // The crash: chunk 2's bytes reached the .cast file, its index record did not (or only half).
    await appendFile(join(dir, 'recordings', `${ID}.cast`), 'second\n');
    await appendFile(join(dir, 'recordings', `${ID}.idx`), '00000000');
    const fresh = createRecordingStore(join(dir, 'recordings'));
    expect(await fresh.state(ID)).toMatchObject({ lastSeq: 1, bytes: 6 });
    expect(await fresh.appendChunk(ID, chunks[1]!)).toMatchObject({ status: 'stored' });
    expect((await fresh.read(ID)).toString()).toBe('first\nsecond\n');
    expect(await fresh.verify(ID)).toEqual({ ok: true, chunks: 2 });
  });

  it('verify spots a .cast file altered on disk', async () => {
    for (const c of chain(['aaaa', 'bbbb'])) await store.appendChunk(ID, c);
    const cast = join(dir, 'recordings', `${ID}.cast`);
    await truncate(cast, 4);
    await appendFile(cast, 'BBBB');
    expect(await store.verify(ID)).toEqual({ ok: false, brokenAtSeq: 2, chunks: 2 });
  });
});
