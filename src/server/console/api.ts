import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface ApiAnswer<T> {
  status: number;
  ok: boolean;
  body: T & { error?: { code: string; message: string } };
  raw: Buffer;
  headers: Record<string, unknown>;
}

export type ConsoleApi = <T = Record<string, unknown>>(method: 'GET' | 'POST', url: string, payload?: unknown) => Promise<ApiAnswer<T>>;

/**
 * The console's one way to read or change anything: the gate API itself,
 * called in process with the signed-in user's gate token. So a console user
 * sees and does exactly what the CLI lets them: same routes, same checks,
 * same audit events (with the browser's address as the caller's ip).
 */
export function apiFor(app: FastifyInstance, request: FastifyRequest, token: string): ConsoleApi {
  return async (method, url, payload) => {
    const res = await app.inject({
      method,
      url,
      remoteAddress: request.ip,
      headers: { authorization: `Bearer ${token}`, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
    });
    const raw = res.rawPayload;
    let body: unknown = {};
    if (String(res.headers['content-type'] ?? '').includes('json')) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = {};
      }
    }
    return { status: res.statusCode, ok: res.statusCode < 400, body: body as never, raw, headers: res.headers };
  };
}
