/**
 * What the audit keeps of one statement: the text the server ran (capped,
 * with its full length and SHA-256), the parser's view of it (command tags,
 * tables, fingerprint), gate's decision, and the server's outcome.
 */
import { hash } from 'node:crypto';
import type { StatementAnalysis } from '../sql/index.js';
import type { GatewayAuditEvent } from '../types.js';

/** Default cap on the statement text an audit event stores (the rest is summarised by length + hash). */
export const DEFAULT_AUDIT_STATEMENT_BYTES = 64 * 1024;

/** The parser's summary of one statement, as audited. */
export interface StatementSummary {
  tag: string;
  tables: string[];
  fingerprint?: string;
  filtered?: boolean;
  opaque?: string;
}

export interface QueryRecord {
  text: string;
  protocol: 'simple' | 'extended' | 'fastpath';
  prepared?: boolean;
  /** Per statement of the text, from the analysis. */
  statements?: StatementSummary[];
  /** The analysis itself (masking reads each result's lineage from it). */
  analyses?: StatementAnalysis[];
  /** Simple query: which statement's result the server is sending now. */
  resultIndex?: number;
  /** `allowed`, `approved as a_…`; denials and holds have their own events. */
  decision?: string;
  /** Result columns gate masked. */
  masked?: string[];
  rows?: number;
  tag?: string;
  error?: { sqlstate: string; message: string };
  /** Extra fields for special events (fastpath function oid, …). */
  extra?: Record<string, unknown>;
}

/** The statement text fields of an audit event: capped text, full length, SHA-256 (into `out` when given). */
export function statementFields(text: string, maxBytes = DEFAULT_AUDIT_STATEMENT_BYTES, out: Record<string, unknown> = {}): Record<string, unknown> {
  const bytes = Buffer.byteLength(text, 'utf8');
  out.statement = text;
  if (bytes > maxBytes) {
    // Cut on a character boundary: decode the capped bytes and drop a split last character.
    out.statement = Buffer.from(text, 'utf8').subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
    out.statement_truncated = true;
  }
  out.statement_bytes = bytes;
  out.statement_sha256 = hash('sha256', text, 'hex');
  return out;
}

/** The parser fields of an audit event: one statement inline, several as a list (into `out` when given). */
export function summaryFields(statements: StatementSummary[] | undefined, out: Record<string, unknown> = {}): Record<string, unknown> {
  if (!statements || statements.length === 0) return out;
  if (statements.length === 1) {
    const s = statements[0]!;
    out.command = s.tag;
    out.tables = s.tables.length < 2 ? s.tables.slice() : [...new Set(s.tables)];
    out.fingerprint = s.fingerprint;
    return out;
  }
  out.command = statements.map((s) => s.tag).join('; ');
  out.tables = [...new Set(statements.flatMap((s) => s.tables))];
  out.fingerprint = statements.map((s) => s.fingerprint).join(',');
  out.statements = statements;
  return out;
}

export function queryEvent(r: QueryRecord, maxBytes: number): GatewayAuditEvent {
  // One object filled in place: this runs once per statement on the data path.
  const details = statementFields(r.text, maxBytes);
  details.protocol = r.protocol;
  summaryFields(r.statements, details);
  details.decision = r.decision ?? 'allowed';
  if (r.masked && r.masked.length > 0) details.masked_columns = r.masked;
  if (r.prepared) details.prepared = true;
  if (r.tag !== undefined) details.tag = r.tag;
  if (r.rows !== undefined) details.rows = r.rows;
  if (r.error) details.error = r.error;
  if (r.extra) Object.assign(details, r.extra);
  return { action: r.protocol === 'fastpath' ? 'pg.function_call' : 'pg.query', result: r.error ? 'error' : 'ok', details };
}
