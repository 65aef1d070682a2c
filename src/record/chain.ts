import { createHash } from 'node:crypto';

/**
 * The `prevHash` of a session's first chunk: 64 zeros. Every later chunk's
 * `prevHash` is the `hash` of the chunk before it, so the server can prove a
 * recording is complete and unaltered from its first byte.
 */
export const GENESIS_HASH = '0'.repeat(64);

/** The first chunk of a session has seq 1; seq 0 means "nothing uploaded yet". */
export const FIRST_SEQ = 1;

/**
 * sha256(prevHash + "\n" + seq + "\n" + data) as lowercase hex, where seq is
 * written in decimal ASCII and data is the chunk's raw bytes.
 */
export function chunkHash(prevHash: string, seq: number, data: Uint8Array): string {
  return createHash('sha256').update(`${prevHash}\n${seq}\n`).update(data).digest('hex');
}

/** One hash-chained piece of a session's .cast file, as sent to the server. */
export interface RecordingChunk {
  seq: number;
  data: Buffer;
  prevHash: string;
  hash: string;
}

export const HASH_RE = /^[0-9a-f]{64}$/;

/**
 * Checks a whole sequence of chunks from seq 1: every hash matches its data
 * and links to the previous one. Returns the index of the first bad chunk, or
 * -1 when the chain holds.
 */
export function findBrokenLink(chunks: readonly RecordingChunk[]): number {
  let prev = GENESIS_HASH;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i]!;
    if (c.seq !== FIRST_SEQ + i || c.prevHash !== prev || chunkHash(c.prevHash, c.seq, c.data) !== c.hash) return i;
    prev = c.hash;
  }
  return -1;
}
