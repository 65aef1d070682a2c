import { Readable } from 'node:stream';
import type pg from 'pg';
import { chunkHash, GENESIS_HASH } from '../../record/chain.js';
import {
  checkChunk,
  checkSessionId,
  isStorageFull,
  RecordingChunkError,
  type RecordingState,
  type RecordingStore,
  readWhole,
  STORAGE_FULL_MESSAGE,
} from '../../server/recordings.js';
import { inTransaction } from './database.js';

/** Rows fetched per round trip when streaming a recording out: at most this many chunks (1 MiB each) in memory. */
const READ_BATCH = 4;

interface LastRow {
  seq: number;
  hash: string;
  end: string;
}

/**
 * Recordings in the PostgreSQL store, so every replica reads and extends the
 * same ones: a session started through one replica finishes its upload
 * through another, and replays from any. One row per uploaded chunk (the
 * CLI's chunks are at most 1 MiB), keyed by session and seq, with its place
 * in the .cast (`byte_offset`) and its chain hashes. Appends to one session
 * take a transaction-scoped advisory lock, so two replicas receiving the same
 * retried chunk store it once. Reads stream a few rows at a time: a recording
 * of hundreds of MB is never whole in memory.
 */
export function postgresRecordings(pool: pg.Pool): RecordingStore {
  const last = async (q: pg.Pool | pg.PoolClient, id: string): Promise<RecordingState> => {
    const { rows } = await q.query<LastRow>(
      `SELECT seq, hash, (byte_offset + octet_length(data))::text AS end
         FROM recording_chunks WHERE session_id = $1 ORDER BY seq DESC LIMIT 1`,
      [id],
    );
    const r = rows[0];
    return r ? { lastSeq: r.seq, lastHash: r.hash, bytes: Number(r.end) } : { lastSeq: 0, lastHash: GENESIS_HASH, bytes: 0 };
  };

  /** Chunks `after < seq <= upTo`, oldest first, a batch per read. */
  function chunks(id: string, upTo: number): AsyncGenerator<{ seq: number; hash: string; offset: number; data: Buffer }> {
    return (async function* () {
      let after = 0;
      while (after < upTo) {
        const { rows } = await pool.query<{ seq: number; hash: string; byte_offset: string; data: Buffer }>(
          `SELECT seq, hash, byte_offset::text, data FROM recording_chunks
            WHERE session_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT ${READ_BATCH}`,
          [id, after, upTo],
        );
        if (rows.length === 0) return;
        for (const r of rows) yield { seq: r.seq, hash: r.hash, offset: Number(r.byte_offset), data: r.data };
        after = rows[rows.length - 1]!.seq;
      }
    })();
  }

  async function openRead(sessionId: string) {
    const id = checkSessionId(sessionId);
    const state = await last(pool, id);
    // Later appends only add past this seq: the stream is exactly `bytes` long.
    const gen = chunks(id, state.lastSeq);
    const stream = Readable.from(
      (async function* () {
        for await (const c of gen) yield c.data;
      })(),
      { objectMode: false },
    );
    return { bytes: state.bytes, stream };
  }

  return {
    async appendChunk(sessionId, chunk) {
      const id = checkSessionId(sessionId);
      checkChunk(chunk);
      const { seq, data, prevHash, hash } = chunk;
      return inTransaction(pool, async (client) => {
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('gate-recording:' || $1)::bigint)`, [id]);
        const state = await last(client, id);
        const expected = { nextSeq: state.lastSeq + 1, prevHash: state.lastHash };
        if (seq <= state.lastSeq) {
          const { rows } = await client.query<{ hash: string }>('SELECT hash FROM recording_chunks WHERE session_id = $1 AND seq = $2', [id, seq]);
          if (rows[0]?.hash === hash) return { status: 'duplicate' as const, state };
          throw new RecordingChunkError('seq_conflict', `Chunk ${seq} is already stored with different content.`, expected);
        }
        if (seq !== state.lastSeq + 1) {
          throw new RecordingChunkError('seq_gap', `Chunk ${seq} arrived; the next one expected is ${state.lastSeq + 1}.`, expected);
        }
        if (prevHash !== state.lastHash) {
          throw new RecordingChunkError('chain_mismatch', `Chunk ${seq} does not follow chunk ${state.lastSeq}.`, expected);
        }
        try {
          await client.query(
            'INSERT INTO recording_chunks (session_id, seq, prev_hash, hash, byte_offset, data) VALUES ($1, $2, $3, $4, $5, $6)',
            [id, seq, prevHash, hash, state.bytes, data],
          );
        } catch (err) {
          // The transaction rolls back whole: nothing of the chunk is kept, and a retry once space is back stores it.
          if (isStorageFull(err)) throw new RecordingChunkError('storage_full', STORAGE_FULL_MESSAGE, expected);
          throw err;
        }
        return { status: 'stored' as const, state: { lastSeq: seq, lastHash: hash, bytes: state.bytes + data.length } };
      });
    },

    openRead,

    read: (sessionId) => readWhole(openRead, sessionId),

    state: async (sessionId) => last(pool, checkSessionId(sessionId)),

    async verify(sessionId) {
      const id = checkSessionId(sessionId);
      const { lastSeq } = await last(pool, id);
      let prev = GENESIS_HASH;
      let offset = 0;
      let expectSeq = 1;
      for await (const c of chunks(id, lastSeq)) {
        if (c.seq !== expectSeq || c.offset !== offset || chunkHash(prev, c.seq, c.data) !== c.hash) {
          return { ok: false, brokenAtSeq: expectSeq, chunks: lastSeq };
        }
        prev = c.hash;
        offset += c.data.length;
        expectSeq++;
      }
      if (expectSeq !== lastSeq + 1) return { ok: false, brokenAtSeq: expectSeq, chunks: lastSeq };
      return { ok: true, chunks: lastSeq };
    },

    async remove(sessionId) {
      await pool.query('DELETE FROM recording_chunks WHERE session_id = $1', [checkSessionId(sessionId)]);
    },
  };
}
