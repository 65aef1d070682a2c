import { createHash } from 'node:crypto';

/**
 * The longest statement text an audit event keeps, in bytes of UTF-8 (64 KiB
 * by default). The SQL-analysis work sets the product's value through
 * `setAuditStatementCap`; a 60 MB literal must not become a 60 MB row.
 */
export const DEFAULT_AUDIT_STATEMENT_CAP = 64 * 1024;
let cap = DEFAULT_AUDIT_STATEMENT_CAP;

/** Sets the statement cap (bytes, >= 256) for every audit log in this process. */
export function setAuditStatementCap(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 256) throw new RangeError(`audit statement cap must be a whole number of bytes >= 256, got ${bytes}`);
  cap = bytes;
}

export function auditStatementCap(): number {
  return cap;
}

/**
 * Details with `statement` cut to the cap. A cut statement keeps its first
 * bytes (on a character boundary) and says what was cut: `statement_bytes`
 * (the full length), `statement_sha256` (of the full text, so two events can
 * be compared) and `statement_truncated: true`.
 */
export function capStatement(details: Record<string, unknown> | undefined, max = cap): Record<string, unknown> | undefined {
  const text = details?.statement;
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short strings need no encoding to check.
  if (typeof text !== 'string' || text.length * 3 <= max) return details;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return details;
  // Back off to the start of a UTF-8 sequence so the kept prefix decodes cleanly.
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return {
    ...details,
    statement: bytes.subarray(0, end).toString('utf8'),
    statement_truncated: true,
    statement_bytes: bytes.length,
    statement_sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}
