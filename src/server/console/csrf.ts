import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ownOrigin } from './sign-in.js';

/**
 * Why a state-changing request is refused, or undefined when it may go on.
 * Two independent checks: the browser's own word on where the request came
 * from (Origin, Sec-Fetch-Site), checked before anything else so a
 * cross-site post is refused even before a session is looked at, and the
 * session's CSRF token, which a page on another origin cannot read.
 */
export function crossSiteRefusal(request: FastifyRequest): string | undefined {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin') return `the browser says this request came from a ${site} page`;
  const origin = request.headers.origin;
  if (typeof origin === 'string' && origin !== ownOrigin(request)) return `it came from ${origin === 'null' ? 'an opaque origin' : origin}, not from the console`;
  return undefined;
}

export function csrfTokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
