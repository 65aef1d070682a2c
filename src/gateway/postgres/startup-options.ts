/**
 * The client's startup `options` (PGOPTIONS, e.g. `-c statement_timeout=1000`)
 * can set any run-time setting, including ones that change how gate must read
 * statements (standard_conforming_strings) or what the role may do
 * (session_replication_role, role). gate passes an allow-list of settings
 * that only shape the client's own session, and refuses the rest with a
 * notice the client shows.
 */

/** Settings a client may set at startup (lower-case; PostgreSQL's names are case-insensitive). */
export const ALLOWED_STARTUP_SETTINGS = [
  'application_name',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'idle_session_timeout',
  'search_path',
  'timezone',
  'datestyle',
  'intervalstyle',
  'extra_float_digits',
  'work_mem',
  'maintenance_work_mem',
  'temp_buffers',
  'default_transaction_isolation',
  'default_transaction_read_only',
  'bytea_output',
  'xmloption',
  'lc_messages',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'client_min_messages',
  'jit',
  'random_page_cost',
  'effective_cache_size',
  'enable_seqscan',
  'enable_indexscan',
  'enable_hashjoin',
  'enable_mergejoin',
  'enable_nestloop',
  'geqo',
] as const;

const ALLOWED = new Set<string>(ALLOWED_STARTUP_SETTINGS);

export interface StartupOptions {
  /** Allowed settings, to pass upstream as startup parameters. */
  allowed: Record<string, string>;
  /** Settings refused (name as written), and tokens gate could not read. */
  refused: string[];
}

/** Splits an `options` string as the server does: whitespace separates, `\` escapes the next character. */
function tokens(options: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i]!;
    if (c === '\\' && i + 1 < options.length) {
      cur += options[++i];
      has = true;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

/** Reads `-c name=value`, `-cname=value` and `--name=value` forms. */
export function parseStartupOptions(options: string | undefined): StartupOptions {
  const result: StartupOptions = { allowed: {}, refused: [] };
  if (!options) return result;
  const list = tokens(options);
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    let setting: string | undefined;
    if (t === '-c') setting = list[++i];
    else if (t.startsWith('-c')) setting = t.slice(2);
    else if (t.startsWith('--')) setting = t.slice(2);
    const eq = setting?.indexOf('=') ?? -1;
    if (!setting || eq <= 0) {
      result.refused.push(t);
      continue;
    }
    // The server folds `-` to `_` in `--name=value`.
    const name = setting.slice(0, eq).replace(/-/g, '_');
    const value = setting.slice(eq + 1);
    if (ALLOWED.has(name.toLowerCase())) result.allowed[name] = value;
    else result.refused.push(name);
  }
  return result;
}

/** The notice text for refused settings. */
export function refusedNotice(refused: string[], targetName: string): string {
  return `gate: ignored startup option${refused.length > 1 ? 's' : ''} ${refused.join(', ')} on ${targetName}: only ${[...ALLOWED_STARTUP_SETTINGS].join(', ')} may be set at startup`;
}
