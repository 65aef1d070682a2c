import type { HttpTarget } from '../../config/http-target.js';
import { type Detectors, detectText } from '../postgres/detectors.js';

/**
 * Response masking for HTTP targets: named JSON fields become `"****"`, and
 * the detectors (e-mail, card numbers) rewrite matches inside every JSON
 * string and inside text bodies. The detector rules are the PostgreSQL
 * handler's, so a value looks the same masked whichever target it came from.
 */
export interface HttpMasker {
  /** Each `json_fields` entry split on `.`. */
  fields: string[][];
  detectors: Detectors | undefined;
  maxBody: number;
}

export const MASK = '****';

export function createHttpMasker(config: HttpTarget['masking']): HttpMasker | undefined {
  const email = config.detectors.includes('email');
  const card = config.detectors.includes('credit_card');
  const detectors = email || card ? { email, card } : undefined;
  if (config.json_fields.length === 0 && !detectors) return undefined;
  return { fields: config.json_fields.map((f) => f.split('.')), detectors, maxBody: config.max_body_bytes };
}

/** Detectors over a text; the text unchanged when none is configured or nothing matched. */
export function maskString(m: HttpMasker, text: string): string {
  return m.detectors ? (detectText(m.detectors, text) ?? text) : text;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Masks the values a dotted path names. `*` is any one key or array item,
 * `**` any depth (also none). A plain name meeting an array applies to each
 * item, so `customers.email` and `card.number` also work on list answers.
 */
function maskPath(value: Json, path: readonly string[], i: number): Json {
  if (i === path.length) return MASK;
  if (value === null || typeof value !== 'object') return value;
  const seg = path[i]!;
  if (seg === '**') {
    // Zero levels here, or one level down keeping `**` for deeper ones.
    let out = maskPath(value, path, i + 1);
    if (out === null || typeof out !== 'object') return out;
    if (Array.isArray(out)) return out.map((v) => maskPath(v, path, i));
    const obj: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(out)) obj[k] = maskPath(v, path, i);
    out = obj;
    return out;
  }
  if (Array.isArray(value)) {
    return seg === '*' ? value.map((v) => maskPath(v, path, i + 1)) : value.map((v) => maskPath(v, path, i));
  }
  const obj: { [k: string]: Json } = { ...value };
  for (const k of Object.keys(obj)) {
    if (seg === '*' || k === seg) obj[k] = maskPath(obj[k]!, path, i + 1);
  }
  return obj;
}

function maskStrings(m: HttpMasker, value: Json): Json {
  if (typeof value === 'string') return maskString(m, value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => maskStrings(m, v));
  const obj: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) obj[k] = maskStrings(m, v);
  return obj;
}

/** Masks a parsed JSON document: named fields first, then the detectors over every remaining string. */
export function maskJson(m: HttpMasker, doc: unknown): unknown {
  let out = doc as Json;
  for (const path of m.fields) out = maskPath(out, path, 0);
  return m.detectors ? maskStrings(m, out) : out;
}

/** How a response body of this content type is masked. */
export type BodyKind = 'json' | 'text' | 'lines' | 'raw';

/**
 * JSON is parsed (bounded); event streams and NDJSON are masked line by line
 * as they flow; other text is read whole (bounded); binary passes untouched.
 */
export function bodyKind(m: HttpMasker, contentType: string | undefined): BodyKind {
  const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'text/event-stream' || type === 'application/x-ndjson' || type === 'application/jsonl') return m.detectors ? 'lines' : 'raw';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (!m.detectors) return 'raw';
  if (type.startsWith('text/') || type === 'application/xml' || type.endsWith('+xml') || type === 'application/x-www-form-urlencoded' || type === '') {
    return 'text';
  }
  return 'raw';
}

/** Masks a whole body read for masking; returns the bytes to send. Non-JSON in a JSON response is masked as text. */
export function maskBody(m: HttpMasker, kind: 'json' | 'text', body: Buffer): Buffer {
  const text = body.toString('utf8');
  if (kind === 'json') {
    try {
      return Buffer.from(JSON.stringify(maskJson(m, JSON.parse(text))), 'utf8');
    } catch {
      // Not JSON after all: the detectors still apply; named fields cannot.
    }
  }
  return Buffer.from(maskString(m, text), 'utf8');
}
