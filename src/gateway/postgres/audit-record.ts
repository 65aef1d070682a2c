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
  /** Its event has been reported (a record is audited once, when its outcome is known or the session ends). */
  audited?: boolean;
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

/**
 * The event of one statement. Its details are built with their keys in
 * sorted order (nested ones too), which lets the audit log encode them with
 * one JSON.stringify (see canonicalJson): this runs once per statement.
 */
export function queryEvent(r: QueryRecord, maxBytes: number): GatewayAuditEvent {
  const text = statementFields(r.text, maxBytes);
  const statements = r.statements && r.statements.length > 0 ? r.statements : undefined;
  const summary = statements ? summaryFields(statements) : undefined;
  const details: Record<string, unknown> = {};
  if (summary) details.command = summary.command;
  details.decision = r.decision ?? 'allowed';
  if (r.error) details.error = { message: r.error.message, sqlstate: r.error.sqlstate };
  if (summary) details.fingerprint = summary.fingerprint;
  if (r.masked && r.masked.length > 0) details.masked_columns = r.masked;
  if (r.prepared) details.prepared = true;
  details.protocol = r.protocol;
  if (r.rows !== undefined) details.rows = r.rows;
  details.statement = text.statement;
  details.statement_bytes = text.statement_bytes;
  details.statement_sha256 = text.statement_sha256;
  if (text.statement_truncated) details.statement_truncated = true;
  if (summary?.statements) details.statements = (summary.statements as StatementSummary[]).map(sortedSummary);
  if (summary) details.tables = summary.tables;
  if (r.tag !== undefined) details.tag = r.tag;
  if (r.extra) Object.assign(details, r.extra);
  return { action: r.protocol === 'fastpath' ? 'pg.function_call' : 'pg.query', result: r.error ? 'error' : 'ok', details };
}

/** A statement's summary with its keys in sorted order (the same fields). */
function sortedSummary(s: StatementSummary): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.filtered !== undefined) out.filtered = s.filtered;
  if (s.fingerprint !== undefined) out.fingerprint = s.fingerprint;
  if (s.opaque !== undefined) out.opaque = s.opaque;
  out.tables = s.tables;
  out.tag = s.tag;
  return out;
}
