import type { FastifyRequest } from 'fastify';
import type { Caller } from '../context.js';
import type { Actor } from './access.js';

/** The grant service's view of a caller outside an HTTP request (the tunnel endpoint). */
export function actorOfCaller(c: Caller, ip?: string): Actor {
  return { sub: c.sub, key: c.key, actsFor: c.actsFor, expiresAt: c.expiresAt, email: c.email, groups: c.groups, kind: c.kind, ip, correlationId: c.correlationId };
}

/** The grant service's view of an authenticated request's caller. */
export function actorOf(request: FastifyRequest): Actor {
  const c = request.caller!;
  const header = request.headers['x-gate-correlation-id'];
  return {
    sub: c.sub,
    key: c.key,
    actsFor: c.actsFor,
    expiresAt: c.expiresAt,
    email: c.email,
    groups: c.groups,
    kind: c.kind,
    ip: request.ip,
    correlationId: c.correlationId ?? (typeof header === 'string' && header ? header.slice(0, 200) : undefined),
  };
}
