import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * The CLI's HTTP requests (to the gate server, to a CI platform's token
 * service) on node:http. Not undici: loading it cost every gate command about
 * 60 ms of start-up, a third of the whole, and these requests need nothing it
 * adds. Connections are kept alive and reused (a recording uploads hundreds of
 * chunks); an idle one never keeps gate from exiting.
 */
const agents: Record<string, HttpAgent> = {
  'http:': new HttpAgent({ keepAlive: true }),
  'https:': new HttpsAgent({ keepAlive: true }),
};

export interface HttpRequestOptions {
  method: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  signal?: AbortSignal;
  /** How long the server may stay silent: before its answer, or between two pieces of it. */
  timeoutMs: number;
}

/** The server stayed silent for longer than `timeoutMs`; `code` is ETIMEDOUT. */
export class HttpTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

/**
 * Sends one request; resolves with the response once its headers arrive (the
 * body is still to be read, e.g. with `readBody`). Rejects with the socket's
 * error (ECONNREFUSED, ...), an AbortError, or an HttpTimeoutError.
 */
export function httpSend(url: URL, options: HttpRequestOptions): Promise<IncomingMessage> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string | number> = { ...options.headers };
  // A length even when there is no body: node:http would otherwise send a POST chunked.
  if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
  else if (options.method !== 'GET' && options.method !== 'HEAD') headers['content-length'] = 0;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: options.method,
      headers,
      agent: agents[url.protocol],
      signal: options.signal,
      timeout: options.timeoutMs,
    });
    req.on('timeout', () => req.destroy(new HttpTimeoutError(`no answer within ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', resolve);
    req.end(options.body);
  });
}

/** The whole body of a response. */
export async function readBody(res: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of res) parts.push(part as Buffer);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
