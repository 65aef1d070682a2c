/**
 * Structured JSON log lines on stderr. Callers pass fields, never tokens or
 * secrets; `redact` scrubs anything that looks like one from free text.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

export function createLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const emit = (level: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    // Fields are scrubbed too: an error string or an attacker-chosen claim can carry a token.
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: redact(msg), ...(fields ? redactDeep(fields) as object : {}) })}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer\s+)[^\s"',]+/gi;
const SERVICE_TOKEN = /\bgst_[A-Za-z0-9_-]+/g;

/** Removes anything that looks like a bearer token, JWT or gate service token. */
export function redact(text: string): string {
  return text.replace(JWT, '[redacted-jwt]').replace(BEARER, '$1[redacted]').replace(SERVICE_TOKEN, 'gst_[redacted]');
}

/** `redact` over every string inside a JSON-shaped value (log fields, error details). */
export function redactDeep(value: unknown): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map(redactDeep);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)]));
  }
  return value;
}
