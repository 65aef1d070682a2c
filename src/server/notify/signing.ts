import { createHmac } from 'node:crypto';

/**
 * `X-Gate-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the sink's secret>`.
 * The body carries `timestamp` (the same Unix seconds as `X-Gate-Timestamp`),
 * so the signature covers the time too: a receiver that checks both headers
 * agree and the time is recent refuses a replay (docs/notifications.md).
 */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}
