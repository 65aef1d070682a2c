import type { FastifyReply, FastifyRequest } from 'fastify';

/** Reads one cookie from the request (no cookie plugin: the console sets two cookies, both its own). */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export interface CookieOptions {
  path: string;
  maxAgeS: number;
  secure: boolean;
}

/**
 * Sets an HttpOnly, SameSite=Lax cookie (Lax: the IdP's redirect back to
 * /ui/callback is a cross-site top-level GET that must carry the flow cookie;
 * every state change is a POST, which Lax never sends cross-site), Secure over https.
 */
export function setCookie(reply: FastifyReply, name: string, value: string, options: CookieOptions): void {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${options.path}`, `Max-Age=${Math.max(0, Math.floor(options.maxAgeS))}`, 'HttpOnly', 'SameSite=Lax'];
  if (options.secure) parts.push('Secure');
  const existing = reply.getHeader('set-cookie');
  const list = Array.isArray(existing) ? existing : existing ? [String(existing)] : [];
  reply.header('set-cookie', [...list, parts.join('; ')]);
}

export function clearCookie(reply: FastifyReply, name: string, options: Omit<CookieOptions, 'maxAgeS'>): void {
  setCookie(reply, name, '', { ...options, maxAgeS: 0 });
}
