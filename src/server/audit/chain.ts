import { hash } from 'node:crypto';
import type { AuditRow } from '../../store/store.js';

/** The `prev_hash` of the first event: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Sorted-key JSON: the same value always encodes to the same bytes, whatever
 * order its keys were built in. Objects recurse; arrays keep their order.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return absent(value) ? 'null' : JSON.stringify(value);
  // Keys already in order all the way down (gate builds its events so): JSON.stringify writes the same bytes, about three times faster.
  if (inOrder(value)) return JSON.stringify(value);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON(): unknown }).toJSON()); // a Date, as JSON.stringify writes it
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  // One pass over sorted keys (the default sort orders by UTF-16 code units, as `<` does): one event's details per statement come through here.
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (absent(v)) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

/** True when JSON.stringify(value) is canonical already: each object's keys sorted, and no toJSON to call, at every depth. */
function inOrder(value: object): boolean {
  if (Array.isArray(value)) {
    for (const v of value) if (typeof v === 'object' && v !== null && !inOrder(v)) return false;
    return true;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  let prev = '';
  let first = true;
  // for…in walks the object's key cache without copying it into an array (Object.keys would, per object, per event).
  // It would also list inherited enumerable keys, which JSON.stringify leaves out: own keys in order are then still in
  // order, and a false answer only takes the sorting path below.
  for (const k in value) {
    if (!first && !(prev < k)) return false;
    const v = (value as Record<string, unknown>)[k];
    if (typeof v === 'object' && v !== null && !inOrder(v)) return false;
    prev = k;
    first = false;
  }
  return true;
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
const absent = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * SHA-256 over the canonical encoding of every field but `hash` (details
 * parsed, so its text formatting does not matter) together with `prev_hash`.
 * Throws when details is not JSON: such a row was not written by gate.
 */
export function eventHash(row: Omit<AuditRow, 'hash'> & { hash?: string }): string {
  const { details, hash: _hash, ...rest } = row;
  const body = canonicalJson({ ...rest, details: JSON.parse(details) });
  return sha256Hex(body);
}

/**
 * A row's canonical encoding (the one `eventHash` hashes) cut around its
 * `prev_hash`, built once when the event is reported: the chain hash is
 * `head` + `,"prev_hash":…` + `tail`, and `head` + `tail` is the row without
 * its chain fields as one JSON object, which is the journal's line. Needs
 * `details` already canonical (as the audit log writes it). The keys below
 * are in sorted order; a test holds `chainHash` equal to `eventHash`.
 */
export interface EncodedRow {
  head: string;
  tail: string;
}

export function encodeRow(row: Omit<AuditRow, 'prev_hash' | 'hash'>): EncodedRow {
  return {
    head:
      `{"action":${json(row.action)},"actor":${json(row.actor)},"actor_kind":${json(row.actor_kind)}` +
      `,"correlation_id":${json(row.correlation_id)},"details":${row.details},"grant_id":${json(row.grant_id)}` +
      `,"id":${json(row.id)},"ip":${json(row.ip)}`,
    tail:
      `,"result":${json(row.result)},"role":${json(row.role)},"session_id":${json(row.session_id)}` +
      `,"target":${json(row.target)},"time":${json(row.time)}}`,
  };
}

/** The chain hash of an encoded row written after the event whose hash is `prev`. */
export function chainHash(encoded: EncodedRow, prev: string): string {
  return sha256Hex(`${encoded.head},"prev_hash":${json(prev)}${encoded.tail}`);
}

const json = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v));
/** One-shot: no Hash object per event (one event per statement comes through here). */
const sha256Hex = (text: string): string => hash('sha256', text, 'hex');

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
