import { z } from 'zod';
import { DURATION } from './duration.js';
import { name, secretRef } from './common.js';

/**
 * `notifications:` (signed webhooks and Slack incoming webhooks, delivered
 * from the store's outbox by src/server/notify) and `console_url:`, where the
 * links in a notification point.
 */

/** Every event a sink may subscribe to (docs/notifications.md). */
export const NOTIFY_EVENTS = [
  'grant.requested',
  'grant.approved',
  'grant.denied',
  'grant.revoked',
  'grant.expired',
  'grant.cancelled',
  'approval.requested',
  'approval.approved',
  'approval.denied',
] as const;

export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

const duration = z.string().regex(DURATION, 'must be a duration such as 10s, 30m or 24h');

const eventName = z.string().refine((v) => (NOTIFY_EVENTS as readonly string[]).includes(v), {
  error: (issue) => `unknown event ${JSON.stringify(issue.input)}: must be one of ${NOTIFY_EVENTS.join(', ')}`,
});

/** A literal http(s) URL, or a secret reference resolved when the server starts (Slack's URLs are secrets). */
const sinkUrl = z.string().superRefine((value, ctx) => {
  if (/^(env|file):/.test(value)) {
    const r = secretRef.safeParse(value);
    if (!r.success) ctx.addIssue({ code: 'custom', message: r.error.issues[0]!.message });
    return;
  }
  if (!isHttpUrl(value)) ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL, or a secret reference (env:NAME, file:/path)' });
});

/** Only http and https: a notification never goes to file:, data: or any other scheme. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
  } catch {
    return false;
  }
}

const delivery = {
  /** Shown in `gate status` and the audit log; default `<type>-<position>` (1-based). */
  name: name.optional(),
  events: z.array(eventName).min(1),
  /** Attempts before a notification is given up as `failed` (default 10). */
  max_attempts: z.number().int().min(1).max(100).default(10),
  /** Age after which a notification that was never delivered is given up (default 24h). */
  max_age: duration.default('24h'),
  /** How long one POST may take (default 10s). */
  timeout: duration.default('10s'),
};

const webhookSink = z.strictObject({
  type: z.literal('webhook'),
  url: sinkUrl,
  /** The HMAC key of X-Gate-Signature: always a reference. */
  secret: secretRef,
  ...delivery,
});

const slackSink = z.strictObject({
  type: z.literal('slack'),
  url: sinkUrl,
  ...delivery,
});

export const notificationSink = z.discriminatedUnion('type', [webhookSink, slackSink]);

export const notificationsConfig = z
  .array(notificationSink)
  .default([])
  .superRefine((sinks, ctx) => {
    const seen = new Set<string>();
    sinks.forEach((s, i) => {
      const n = sinkName(s, i);
      if (seen.has(n)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `sink name ${n} is used twice: give each sink its own name` });
      seen.add(n);
    });
  });

/** The web console's base URL, e.g. https://gate.internal.example/ui. */
export const consoleUrl = z
  .string()
  .refine(isHttpUrl, 'must be an http:// or https:// URL, such as https://gate.internal.example/ui')
  .transform((v) => v.replace(/\/+$/, ''));

export type NotificationSink = z.infer<typeof notificationSink>;

/** The name a sink is known by in the outbox, `gate status` and the audit log. */
export function sinkName(sink: { type: string; name?: string }, index: number): string {
  return sink.name ?? `${sink.type}-${index + 1}`;
}
