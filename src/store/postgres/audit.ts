import type pg from 'pg';
import { AUDIT_COLUMNS, AUDIT_HEAD_COLUMNS, type AuditSeqRow, auditFromSeqRow, auditValues, auditWithoutSeq } from '../rows/audit.js';
import { auditWhere } from '../rows/audit-filter.js';
import type { AuditCheckpoint, AuditRepository, AuditRow } from '../store.js';
import { inTransaction, LOCK_AUDIT_CHAIN, LOCK_NAMESPACE } from './database.js';

const LIST = AUDIT_COLUMNS.join(', ');
/** COUNT and BIGINT come back as text. */
type HeadRow = { count: string; seq: string | null; hash: string | null };
/** 15 parameters a row: well under PostgreSQL's 65535 per statement. */
const ROWS_PER_INSERT = 500;

/**
 * The audit log in PostgreSQL. Appends from every replica take one
 * transaction-scoped advisory lock before reading the chain head, so the chain
 * stays one line however many servers write; `seq` (taken under the same lock)
 * fixes the order.
 */
export function postgresAudit(pool: pg.Pool): AuditRepository {
  /** Takes the chain lock, hands `build` the head's hash and inserts its rows, in chain order. */
  function append(build: (prev: string | undefined) => AuditRow[]): Promise<AuditRow[]> {
    return inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_NAMESPACE, LOCK_AUDIT_CHAIN]);
      const { rows } = await client.query<{ hash: string }>('SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1');
      const built = build(rows[0]?.hash);
      // Multi-row INSERTs keep a batch to a few round trips; VALUES lists number seq in order.
      for (let i = 0; i < built.length; i += ROWS_PER_INSERT) {
        const chunk = built.slice(i, i + ROWS_PER_INSERT);
        const values = chunk.map((_, r) => `(${AUDIT_COLUMNS.map((_c, c) => `$${r * AUDIT_COLUMNS.length + c + 1}`).join(', ')})`);
        await client.query(
          `INSERT INTO audit_events (${LIST}) VALUES ${values.join(', ')}`,
          chunk.flatMap(auditValues),
        );
      }
      return built;
    });
  }

  return {
    async knownIds(ids) {
      const { rows } = await pool.query<{ id: string }>('SELECT id FROM audit_events WHERE id = ANY($1::text[])', [ids]);
      return new Set(rows.map((r) => r.id));
    },
    async tip() {
      const { rows } = await pool.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
      return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : undefined;
    },
    async head(since) {
      const { rows } = since
        ? await pool.query<HeadRow>(`SELECT (SELECT COUNT(*) FROM audit_events WHERE seq > $1) AS count, ${AUDIT_HEAD_COLUMNS}`, [since.seq])
        : await pool.query<HeadRow>(`SELECT (SELECT COUNT(*) FROM audit_events) AS count, ${AUDIT_HEAD_COLUMNS}`);
      const r = rows[0]!;
      return { count: (since?.count ?? 0) + Number(r.count), seq: r.seq === null ? undefined : Number(r.seq), hash: r.hash ?? undefined };
    },
    async addCheckpoint(cp) {
      await pool.query('INSERT INTO audit_checkpoints (count, head, time, signature) VALUES ($1, $2, $3, $4) ON CONFLICT (count) DO NOTHING', [
        cp.count,
        cp.head,
        cp.time,
        cp.signature,
      ]);
    },
    async listCheckpoints() {
      const { rows } = await pool.query<AuditCheckpoint & { count: string }>('SELECT count, head, time, signature FROM audit_checkpoints ORDER BY count');
      return rows.map((c) => ({ ...c, count: Number(c.count) }));
    },
    async appendAtomically(build) {
      return (await append((prev) => [build(prev)]))[0]!;
    },
    appendMany: append,
    async list(filter) {
      const args: unknown[] = [];
      const arg = (v: unknown) => {
        args.push(v);
        return `$${args.length}`;
      };
      const where = auditWhere(filter, arg, 'FALSE');
      const inner = `SELECT seq, ${LIST} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`;
      const limit = arg(filter.limit ?? 1000);
      // Newest N (returned oldest first), unless paging forward from the start or a cursor.
      const sql =
        filter.fromStart || filter.after
          ? `${inner} ORDER BY seq LIMIT ${limit}`
          : `SELECT * FROM (${inner} ORDER BY seq DESC LIMIT ${limit}) newest ORDER BY seq`;
      return (await pool.query<AuditSeqRow>(sql, args)).rows.map(auditWithoutSeq);
    },
    async scan(afterSeq, limit) {
      const { rows } = await pool.query<AuditSeqRow>(`SELECT seq, ${LIST} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]);
      return rows.map(auditFromSeqRow);
    },
  };
}
