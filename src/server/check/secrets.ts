import { resolveSecret } from '../../config/secrets.js';
import type { CheckItem, ProbeContext } from './types.js';

/** A probe context whose resolved secrets are kept, so `redactItems` can strip them from any message. */
export function probeContext(env: NodeJS.ProcessEnv, timeoutMs: number): { ctx: ProbeContext; seen: Set<string> } {
  const seen = new Set<string>();
  const ctx: ProbeContext = {
    env,
    timeoutMs,
    async secret(ref) {
      const value = await resolveSecret(ref, env);
      // Very short values would redact ordinary words; they are still never printed by the probes themselves.
      if (value.length >= 4) seen.add(value);
      return value;
    },
  };
  return { ctx, seen };
}

/** Replaces every resolved secret (and its URL-encoded form) in messages and details with [redacted]. */
export function redactItems(items: CheckItem[], secrets: Set<string>): CheckItem[] {
  if (secrets.size === 0) return items;
  const forms = [...secrets].flatMap((s) => [s, encodeURIComponent(s)]).sort((a, b) => b.length - a.length);
  const scrub = (text: string) => forms.reduce((t, f) => t.split(f).join('[redacted]'), text);
  return items.map((item) => {
    const out: CheckItem = { ...item, message: scrub(item.message) };
    if (item.details) out.details = JSON.parse(scrub(JSON.stringify(item.details))) as Record<string, unknown>;
    return out;
  });
}

/** One line of an error, without a stack. */
export function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: { code?: string; message?: string }[] };
  let message = e?.message || e?.errors?.[0]?.message || e?.code || e?.errors?.[0]?.code || String(err);
  // Node's "connect ECONNREFUSED 127.0.0.1:5432" repeats the address the caller already names.
  if (/^(connect|getaddrinfo) E[A-Z]+ /.test(message)) message = message.split(' ')[1]!;
  const code = e?.code && /^E[A-Z]+$/.test(e.code) && !message.includes(e.code) ? `${e.code} ` : '';
  return `${code}${message}`.split('\n')[0]!;
}

/** Rejects after `ms` with a message naming what took too long. */
export async function withTimeout<T>(what: string, ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`${what} did not answer within ${Math.round(ms / 1000)} s`));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
