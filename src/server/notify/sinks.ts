/**
 * The configured sinks, with their references resolved on first use. A sink's
 * URL may itself be a secret (Slack's are), so anything shown to people names
 * only its host (`describe`).
 */
import { isHttpUrl, type NotificationSink, sinkName } from '../../config/notifications.js';
import { parseDuration } from '../../config/duration.js';
import { resolveSecret } from '../../config/secrets.js';

export interface Sink {
  name: string;
  type: 'webhook' | 'slack';
  events: Set<string>;
  maxAttempts: number;
  maxAgeMs: number;
  timeoutMs: number;
  /** The URL and (webhook) secret, resolved once; throws a message naming the reference, never a value. */
  resolve(): Promise<{ url: URL; secret?: string }>;
  /** The host the sink posts to, once known (from a literal URL at once; from a reference after resolving). */
  host(): string | undefined;
}

export function createSinks(list: NotificationSink[], env: NodeJS.ProcessEnv): Map<string, Sink> {
  const sinks = new Map<string, Sink>();
  list.forEach((cfg, i) => {
    const name = sinkName(cfg, i);
    let resolved: Promise<{ url: URL; secret?: string }> | undefined;
    let host: string | undefined = isHttpUrl(cfg.url) ? new URL(cfg.url).host : undefined;
    sinks.set(name, {
      name,
      type: cfg.type,
      events: new Set(cfg.events),
      maxAttempts: cfg.max_attempts,
      maxAgeMs: parseDuration(cfg.max_age),
      timeoutMs: parseDuration(cfg.timeout),
      host: () => host,
      resolve() {
        resolved ??= (async () => {
          const raw = /^(env|file):/.test(cfg.url) ? await resolveSecret(cfg.url, env) : cfg.url;
          if (!isHttpUrl(raw)) throw new Error(`the URL in ${cfg.url} is not an http:// or https:// URL`);
          const url = new URL(raw);
          host = url.host;
          const secret = cfg.type === 'webhook' ? await resolveSecret(cfg.secret, env) : undefined;
          return { url, secret };
        })();
        // A missing variable may be set by the next start; do not keep the failure.
        resolved.catch(() => {
          resolved = undefined;
        });
        return resolved;
      },
    });
  });
  return sinks;
}
