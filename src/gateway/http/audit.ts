import type { HttpTarget } from '../../config/http-target.js';
import type { HttpMasker } from './masking.js';
import { maskBody, maskString } from './masking.js';

/**
 * `http.request` audit details. The query keeps its order; parameters named
 * in `audit.redact_query` are removed (names compared case-insensitively).
 * Never a header, so never the injected credential.
 */
export function redactQuery(query: string, redact: readonly string[]): string {
  if (query === '' || redact.length === 0) return query;
  const drop = new Set(redact.map((r) => r.toLowerCase()));
  return query
    .split('&')
    .filter((pair) => {
      const name = pair.split('=', 1)[0]!;
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // An undecodable name is kept as written; it cannot equal a configured name anyway.
      }
      return !drop.has(decoded.toLowerCase());
    })
    .join('&');
}

/** Collects the first bytes of a body for the audit log (only when `audit.bodies` is on). */
export class BodySample {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number) {}
  add(chunk: Buffer): void {
    if (this.size >= this.limit) {
      this.truncated ||= chunk.length > 0;
      return;
    }
    const take = chunk.subarray(0, this.limit - this.size);
    if (take.length < chunk.length) this.truncated = true;
    this.chunks.push(take);
    this.size += take.length;
  }
  /** The sample as text, masked: whole JSON gets its fields masked, anything else the detectors. */
  text(masker: HttpMasker | undefined): string {
    const body = Buffer.concat(this.chunks);
    if (!masker) return body.toString('utf8');
    // Masked first (on the raw sample, where detectors see whole values), then capped again: a mask may be longer than its value.
    const masked = this.truncated ? maskString(masker, body.toString('utf8')) : maskBody(masker, 'json', body).toString('utf8');
    return Buffer.from(masked, 'utf8').subarray(0, this.limit).toString('utf8');
  }
}

export interface ExchangeRecord {
  method: string;
  path: string;
  query: string;
  status?: number;
  bytesIn: number;
  bytesOut: number;
  started: number;
  websocket?: boolean;
}

export function httpAuditDetails(target: HttpTarget, r: ExchangeRecord, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    method: r.method,
    path: r.path,
    query: redactQuery(r.query, target.audit.redact_query),
    status: r.status ?? null,
    bytes_in: r.bytesIn,
    bytes_out: r.bytesOut,
    duration_ms: Date.now() - r.started,
    ...(r.websocket ? { websocket: true } : {}),
    ...extra,
  };
}
