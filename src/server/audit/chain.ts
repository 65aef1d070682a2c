import { createHash } from 'node:crypto';
import type { AuditRow } from '../../store/store.js';

/** The `prev_hash` of the first event: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Sorted-key JSON: the same value always encodes to the same bytes, whatever
 * order its keys were built in. Objects recurse; arrays keep their order.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * SHA-256 over the canonical encoding of every field but `hash` (details
 * parsed, so its text formatting does not matter) together with `prev_hash`.
 * Throws when details is not JSON: such a row was not written by gate.
 */
export function eventHash(row: Omit<AuditRow, 'hash'> & { hash?: string }): string {
  const { details, hash: _hash, ...rest } = row;
  const body = canonicalJson({ ...rest, details: JSON.parse(details) });
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

export interface ChainBreak {
  /** The first event that does not verify. */
  id: string;
  seq: number;
  reason: string;
}

/**
 * Checks one event against the hash of the event before it. Returns the
 * reason it is broken, or undefined when it holds.
 */
export function checkEvent(row: AuditRow, expectedPrev: string): string | undefined {
  if (row.prev_hash !== expectedPrev) {
    return 'its prev_hash does not match the hash of the event before it (an event was removed, inserted or reordered)';
  }
  let hash: string;
  try {
    hash = eventHash(row);
  } catch {
    return 'its details column is not valid JSON (the row was edited)';
  }
  if (hash !== row.hash) return 'its content does not match its hash (the row was edited after it was written)';
  return undefined;
}
