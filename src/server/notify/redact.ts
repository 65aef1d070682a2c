/**
 * What a notification may say about a held statement. The audit log keeps the
 * statement as the gateway saw it; a notification leaves the building (a
 * webhook, a Slack channel), so it carries a redacted copy:
 * - PostgreSQL: when the statement names a masked column (or sets a
 *   PASSWORD), every literal and comment becomes `****`, since the value
 *   written to or compared with a masked column is the masked value itself;
 *   a statement gate cannot tokenise is withheld, not sent as is.
 * - HTTP: values of the target's masked JSON fields become `"****"`.
 * - Always: the target's detectors, and the card-number detector whatever the
 *   target says (a card number never goes to a chat channel).
 */
import type { GateConfig } from '../../config/schema.js';
import { detectText } from '../../gateway/postgres/detectors.js';
import { loadSqlParser, scan } from '../../gateway/sql/parser.js';

export interface RedactedStatement {
  text: string;
  /** Something was replaced (or the whole statement withheld). */
  redacted: boolean;
}

export const WITHHELD = '(statement withheld: gate could not read it to remove masked values; see it in gate approvals)';
const MASK = '****';

const CONSTANT = /^(?:SCONST|ICONST|FCONST|BCONST|XCONST|USCONST)$/;
// The scanner reports B'…', X'…', U&'…' and N'…' as UNKNOWN: recognise them by shape.
const QUOTED_SHAPE = /^(?:[bBxXnNeE]|[uU]&)?'|^\$/;
const COMMENT = /^(?:SQL_COMMENT|C_COMMENT)$/;

export async function redactStatement(config: GateConfig, targetName: string, text: string): Promise<RedactedStatement> {
  const target = config.targets[targetName];
  let out = text;
  let detectors = { email: false, card: true };
  if (target?.type === 'postgres') {
    detectors = { email: target.masking.detectors.includes('email'), card: true };
    const r = await redactSql(text, target.masking.columns);
    out = r.text;
  } else if (target?.type === 'http') {
    detectors = { email: target.masking.detectors.includes('email'), card: true };
    out = redactJsonFields(text, target.masking.json_fields);
  } else if (target?.type === 'mcp') {
    detectors = { email: target.masking.detectors.includes('email'), card: true };
  }
  out = detectText(detectors, out) ?? out;
  return { text: out, redacted: out !== text };
}

async function redactSql(text: string, maskedColumns: string[]): Promise<{ text: string }> {
  await loadSqlParser();
  const tokens = scan(text);
  if (tokens.length === 0) return { text: text.trim() === '' ? text : WITHHELD };
  const columns = new Set(maskedColumns.map((c) => c.split('.').at(-1)!.toLowerCase()));
  const names = (t: { text: string; tokenName: string }) => (t.tokenName === 'IDENT' ? [identName(t.text)] : [t.text.toLowerCase()]);
  const sensitive = tokens.some((t) => names(t).some((n) => columns.has(n) || (t.tokenName !== 'IDENT' && n === 'password')));
  if (!sensitive) return { text };
  // Rebuild from the tokens' offsets (bytes, on the UTF-8 text).
  const bytes = Buffer.from(text, 'utf8');
  let out = '';
  let at = 0;
  for (const t of tokens) {
    const isConstant = CONSTANT.test(t.tokenName) || (t.tokenName === 'UNKNOWN' && QUOTED_SHAPE.test(t.text));
    const isComment = COMMENT.test(t.tokenName);
    if (!isConstant && !isComment) continue;
    out += bytes.subarray(at, t.start).toString('utf8');
    out += isComment ? `/* ${MASK} */` : /^[0-9.]/.test(t.text) ? MASK : `'${MASK}'`;
    at = t.end;
  }
  out += bytes.subarray(at).toString('utf8');
  return { text: out };
}

/** An identifier as PostgreSQL folds it: quoted keeps case, unquoted is lower-cased. */
function identName(raw: string): string {
  if (raw.startsWith('"') && raw.endsWith('"')) return raw.slice(1, -1).replace(/""/g, '"').toLowerCase();
  return raw.toLowerCase();
}

/** `"ssn": "123"` → `"ssn": "****"` for each masked JSON field's last key. */
function redactJsonFields(text: string, fields: string[]): string {
  let out = text;
  for (const f of fields) {
    const key = f.split('.').at(-1)!;
    if (key === '*' || key === '**') continue;
    const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(`("${escaped}"\\s*:\\s*)("(?:[^"\\\\]|\\\\.)*"|-?[0-9][0-9.eE+-]*|true|false)`, 'g');
    out = out.replace(re, `$1"${MASK}"`);
  }
  return out;
}
