import type { z } from 'zod';
import { AccessDeniedError, AuthRequiredError, GateError, PendingApprovalError } from '../errors.js';
import type { ApiErrorBody } from './errors.js';
import { httpSend, readBody } from './http.js';

export interface ClientOptions {
  /** Base URL of the gate server, e.g. http://127.0.0.1:4180 */
  server: string;
  /** Returns the bearer token to send, or undefined for anonymous calls. */
  token?: () => Promise<string | undefined>;
  /** Per-request timeout in ms (headers and body). */
  timeoutMs?: number;
}

export interface CallOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  anonymous?: boolean;
  timeoutMs?: number;
  /** Extra request headers (e.g. a recording chunk's hashes); never an authorization header. */
  headers?: Record<string, string>;
}

/** A thin JSON client for the /v1 API that turns every failure into one GateError. */
export interface GateClient {
  readonly server: string;
  call<S extends z.ZodType>(method: string, path: string, schema: S, options?: CallOptions): Promise<z.infer<S>>;
  /** Like call but returns the raw response body as text (for non-JSON payloads). */
  raw(method: string, path: string, options?: CallOptions & { contentType?: string; rawBody?: Buffer | string }): Promise<{ status: number; body: Buffer }>;
  /** GETs a large body as a stream (an error status still becomes a GateError); the stream's errors are network errors. */
  download(path: string, options?: CallOptions): Promise<AsyncIterable<Buffer>>;
}

export function createClient(options: ClientOptions): GateClient {
  const base = options.server.replace(/\/+$/, '');

  async function open(method: string, path: string, opts: CallOptions & { contentType?: string; rawBody?: Buffer | string }) {
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { ...opts.headers, accept: 'application/json', 'user-agent': 'gate-cli' };
    const token = opts.anonymous ? undefined : await options.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | Buffer | undefined;
    if (opts.rawBody !== undefined) {
      body = opts.rawBody;
      headers['content-type'] = opts.contentType ?? 'application/octet-stream';
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const timeout = opts.timeoutMs ?? options.timeoutMs ?? 30_000;
    try {
      return await httpSend(url, { method, headers, body, signal: opts.signal, timeoutMs: timeout });
    } catch (err) {
      throw networkError(err, base);
    }
  }

  async function send(method: string, path: string, opts: CallOptions & { contentType?: string; rawBody?: Buffer | string }) {
    const res = await open(method, path, opts);
    try {
      return { status: res.statusCode ?? 0, body: await readBody(res) };
    } catch (err) {
      throw networkError(err, base);
    }
  }

  return {
    server: base,
    async call(method, path, schema, opts = {}) {
      const res = await send(method, path, opts);
      const text = res.body.toString('utf8');
      if (res.status >= 400) throw httpError(res.status, text, base);
      let json: unknown;
      try {
        json = text === '' ? {} : JSON.parse(text);
      } catch (err) {
        throw new GateError('GATE_ERR_SERVER', `The server at ${base} answered ${path} with something that is not JSON.`, { cause: err });
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        throw new GateError('GATE_ERR_SERVER', `The server at ${base} answered ${path} in an unexpected shape: ${parsed.error.issues[0]?.message}.`, {
          hint: 'Is the server the same gate version as this CLI? Compare `gate version` with `gate status`.',
        });
      }
      return parsed.data;
    },
    async raw(method, path, opts = {}) {
      const res = await send(method, path, opts);
      if (res.status >= 400) throw httpError(res.status, res.body.toString('utf8'), base);
      return res;
    },
    async download(path, opts = {}) {
      const res = await open('GET', path, opts);
      const status = res.statusCode ?? 0;
      if (status >= 400) {
        const text = await readBody(res).then(
          (b) => b.toString('utf8'),
          () => '',
        );
        throw httpError(status, text, base);
      }
      return (async function* () {
        try {
          for await (const piece of res) yield piece as Buffer;
        } catch (err) {
          throw networkError(err, base);
        }
      })();
    },
  };
}

/** Maps an HTTP error response to the GateError a user can act on. */
export function httpError(status: number, text: string, server: string): GateError {
  let body: Partial<ApiErrorBody> = {};
  try {
    body = JSON.parse(text);
  } catch {
    // Not our JSON: a proxy or another service answered.
  }
  const message = body.error?.message ?? `The server at ${server} answered HTTP ${status}.`;
  const details = { status, code: body.error?.code, ...(body.error?.details ?? {}) };
  if (status === 401) {
    return new AuthRequiredError(message, { hint: 'Run `gate login` to sign in again.', details });
  }
  if (status === 403) return new AccessDeniedError(message, { details });
  if (status === 404) return new GateError('GATE_ERR_NOT_FOUND', message, { details });
  if (status === 409 && body.error?.code === 'invalid_state' && body.error?.details?.state === 'pending') {
    return new PendingApprovalError(message, { details });
  }
  if (status === 409) return new GateError('GATE_ERR_CONFLICT', message, { details });
  if (status >= 400 && status < 500) return new GateError('GATE_ERR_USAGE', message, { details });
  return new GateError('GATE_ERR_SERVER', message, { details });
}

/** One actionable line for connection-level failures, naming the URL. */
export function networkError(err: unknown, server: string): GateError {
  if (err instanceof GateError) return err;
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (e.name === 'AbortError' || code === 'ABORT_ERR') {
    return new GateError('GATE_ERR_CANCELLED', 'Cancelled.', { cause: err });
  }
  switch (code) {
    case 'ECONNREFUSED':
      return new GateError('GATE_ERR_NETWORK', `Cannot reach the gate server at ${server}: connection refused.`, {
        hint: 'Is the server running? Check the URL with `gate status` or pass --server.',
        cause: err,
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new GateError('GATE_ERR_NETWORK', `Cannot reach the gate server at ${server}: the host name does not resolve.`, {
        hint: 'Check the server URL (--server or GATE_SERVER).',
        cause: err,
      });
    case 'ETIMEDOUT':
      return new GateError('GATE_ERR_TIMEOUT', `The gate server at ${server} did not answer in time.`, { cause: err });
    case 'ECONNRESET':
    case 'EPIPE':
      return new GateError('GATE_ERR_NETWORK', `The connection to the gate server at ${server} was cut.`, { cause: err });
    default:
      if (code?.startsWith('ERR_TLS') || code?.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
        return new GateError('GATE_ERR_NETWORK', `TLS with the gate server at ${server} failed: ${code}.`, {
          hint: 'Check the server certificate, or set NODE_EXTRA_CA_CERTS to your CA bundle.',
          cause: err,
        });
      }
      return new GateError('GATE_ERR_NETWORK', `Cannot reach the gate server at ${server}: ${e.message ?? String(err)}.`, { cause: err });
  }
}
