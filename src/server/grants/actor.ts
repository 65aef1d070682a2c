import type { FastifyRequest } from 'fastify';
import type { Actor } from './access.js';

/** The grant service's view of an authenticated request's caller. */
export function actorOf(request: FastifyRequest): Actor {
  const c = request.caller!;
  const header = request.headers['x-gate-correlation-id'];
  return {
    sub: c.sub,
    email: c.email,
    groups: c.groups,
    kind: c.kind,
    ip: request.ip,
    correlationId: c.correlationId ?? (typeof header === 'string' && header ? header.slice(0, 200) : undefined),
  };
}
