/**
 * Masked columns resolved against the catalog. A RowDescription names each
 * result column's table OID and attribute number, so once gate knows which
 * (OID, attnum) pairs are masked, aliases do not matter.
 *
 * The lookup is one query over the role's own upstream connection at session
 * start (before the client's first statement), so it sees exactly the tables
 * that role sees. It also reads every view's definition, so masking follows
 * views (sql/view-masking.ts). A view created later in the session is read
 * from its CREATE VIEW (statement-policy.ts); a table created later is not in
 * the snapshot, and its fields are then matched by name (fail closed). It
 * runs only on targets with `masking.columns`.
 */
import type { Duplex } from 'node:stream';
import type { ResolvedField } from '../sql/index.js';
import type { ViewDefinition } from '../sql/view-masking.js';
import { B, cstring, message, parseErrorFields } from './backend.js';
import { F } from './frontend.js';
import { SocketReader } from './socket-reader.js';
import { MAX_BACKEND_MESSAGE } from './framing.js';

export interface CatalogColumn extends ResolvedField {
  /** Position among the table's visible columns (what COPY table TO writes), from 0. */
  position: number;
  type: number;
}

export interface MaskCatalog {
  /** `${oid}:${attnum}` → column, for every column of a table that has a column named in masking.columns. */
  columns: Map<string, CatalogColumn>;
  /** Every relation OID the role could see at session start. */
  relations: Set<number>;
  /** table name (lower-case) → its columns in order, for COPY table TO. */
  tables: Map<string, CatalogColumn[]>;
  /** Every view and materialized view outside the system schemas, with its definition (see sql/view-masking.ts). */
  views: ViewDefinition[];
}

export function emptyCatalog(): MaskCatalog {
  return { columns: new Map(), relations: new Set(), tables: new Map(), views: [] };
}

/** Runs the lookup; returns the catalog and any bytes read past the query's ReadyForQuery. */
export async function loadMaskCatalog(socket: Duplex, leftover: Buffer, maskedColumns: string[]): Promise<{ catalog: MaskCatalog; leftover: Buffer }> {
  const names = [...new Set(maskedColumns.map((c) => c.split('.').at(-1)!.toLowerCase()))];
  const list = names.map((n) => `'${n.replace(/'/g, "''")}'`).join(',');
  const sql = `select c.oid::int, n.nspname, c.relname, a.attnum::int, a.attname, a.atttypid::int,
      (row_number() over (partition by c.oid order by a.attnum) - 1)::int
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
    where a.attnum > 0 and not a.attisdropped and c.relkind in ('r','v','m','f','p')
      and exists (select 1 from pg_attribute m where m.attrelid = c.oid and m.attnum > 0 and not m.attisdropped and lower(m.attname) in (${list}))
    order by c.oid, a.attnum;
    select oid::int from pg_class where relkind in ('r','v','m','f','p');
    select c.oid::int, n.nspname, c.relname, a.attnum::int, a.attname, a.atttypid::int,
      (row_number() over (partition by c.oid order by a.attnum) - 1)::int,
      case when a.attnum = 1 then pg_get_viewdef(c.oid) end
    from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
    where c.relkind in ('v','m') and a.attnum > 0 and not a.attisdropped
      and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'
    order by c.oid, a.attnum`;
  const reader = new SocketReader(socket);
  if (leftover.length > 0) socket.unshift(leftover);
  socket.write(message(F.Query, cstring(sql)));
  socket.resume();
  const catalog = emptyCatalog();
  let resultSet = 0;
  const views = new Map<string, ViewDefinition>();
  for (;;) {
    const { type, body } = await reader.readTyped(MAX_BACKEND_MESSAGE);
    if (type === B.ErrorResponse) throw new Error(`catalog lookup failed: ${parseErrorFields(body).M ?? ''}`);
    if (type === B.CommandComplete) resultSet++;
    if (type === B.DataRow) {
      const v = dataRowText(body);
      if (resultSet === 0 || resultSet === 2) {
        const col: CatalogColumn = {
          schema: v[1]!,
          table: v[2]!,
          column: v[4]!,
          type: Number(v[5]),
          position: Number(v[6]),
        };
        if (resultSet === 2) {
          const view = views.get(v[0]!) ?? { schema: col.schema, name: col.table, columns: [], definition: v[7] ?? null };
          view.columns.push(col.column);
          views.set(v[0]!, view);
          // A view already listed (it has a column of a masked name) is not listed twice.
          if (catalog.columns.has(`${v[0]}:${v[3]}`)) continue;
        }
        catalog.columns.set(`${v[0]}:${v[3]}`, col);
        const key = col.table.toLowerCase();
        const cols = catalog.tables.get(key) ?? [];
        cols.push(col);
        catalog.tables.set(key, cols);
      } else if (resultSet === 1) catalog.relations.add(Number(v[0]));
    }
    if (type === B.ReadyForQuery) break;
  }
  catalog.views = [...views.values()];
  return { catalog, leftover: reader.detach() };
}

function dataRowText(body: Buffer): (string | null)[] {
  const n = body.readInt16BE(0);
  const out: (string | null)[] = [];
  let i = 2;
  for (let c = 0; c < n; c++) {
    const len = body.readInt32BE(i);
    i += 4;
    if (len < 0) out.push(null);
    else {
      out.push(body.toString('utf8', i, i + len));
      i += len;
    }
  }
  return out;
}
