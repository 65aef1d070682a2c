import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createClient, type GateClient } from '../api/client.js';
import { httpSend, readBody } from '../api/http.js';
import { serverConfigResponse, type TokenExchangeResponse } from '../api/wire.js';
import { GateError, UsageError } from '../errors.js';
import { exchangeIdToken } from './exchange.js';

/**
 * Asks the GitHub Actions runner for the job's OIDC token, as its toolkit
 * does: GET `$ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>` with
 * `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the runner answers
 * `{"value": "<jwt>"}`. The job needs `permissions: id-token: write`.
 */
export async function fetchGithubActionsIdToken(options: {
  requestUrl: string | undefined;
  requestToken: string | undefined;
  audience?: string;
  signal?: AbortSignal;
}): Promise<string> {
  if (!options.requestUrl || !options.requestToken) {
    throw new UsageError('ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set: this is not a GitHub Actions job with an OIDC token.', {
      hint: 'Give the job `permissions: { id-token: write }`, or pass --id-token FILE with a token from your CI platform.',
    });
  }
  let url: URL;
  try {
    url = new URL(options.requestUrl);
  } catch {
    throw new UsageError('ACTIONS_ID_TOKEN_REQUEST_URL is not a URL.');
  }
  if (options.audience) url.searchParams.set('audience', options.audience);
  let status: number;
  let text: string;
  try {
    const res = await httpSend(url, {
      method: 'GET',
      headers: { authorization: `bearer ${options.requestToken}`, accept: 'application/json; api-version=2.0', 'user-agent': 'gate-cli' },
      signal: options.signal,
      timeoutMs: 30_000,
    });
    status = res.statusCode ?? 0;
    text = (await readBody(res)).toString('utf8');
  } catch (err) {
    throw new GateError('GATE_ERR_NETWORK', `Cannot reach the GitHub Actions token service at ${url.origin}: ${(err as Error).message}.`, { cause: err });
  }
  if (status !== 200) {
    throw new GateError('GATE_ERR_AUTH_FAILED', `The GitHub Actions token service answered HTTP ${status}.`, {
      hint: 'Check that the job has `permissions: { id-token: write }`.',
    });
  }
  let value: unknown;
  try {
    value = (JSON.parse(text) as { value?: unknown }).value;
  } catch {
    value = undefined;
  }
  if (typeof value !== 'string' || value.split('.').length !== 3) {
    throw new GateError('GATE_ERR_AUTH_FAILED', 'The GitHub Actions token service answered without a token.');
  }
  return value;
}

/** Reads a job's OIDC token from a file or, with `-`, from stdin; surrounding whitespace is dropped. */
export async function readIdToken(source: string, stdin: Readable): Promise<string> {
  let text: string;
  if (source === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      text = await readFile(source, 'utf8');
    } catch (err) {
      throw new UsageError(`Cannot read the ID token file ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
    }
  }
  const token = text.trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw new UsageError(`The ID token from ${source === '-' ? 'stdin' : source} is not a JWT.`);
  }
  return token;
}

/**
 * The non-interactive login of a GitHub Actions job: ask the runner for the
 * job's OIDC token with the server's workload audience (GET /v1/config, or
 * `audience`), and exchange it for a gate token. Nothing is stored.
 */
export async function githubActionsLogin(options: {
  server: string;
  requestUrl: string | undefined;
  requestToken: string | undefined;
  audience?: string;
  signal?: AbortSignal;
}): Promise<TokenExchangeResponse> {
  const client = createClient({ server: options.server });
  const audience = options.audience ?? (await workloadAudience(client, options.signal));
  const idToken = await fetchGithubActionsIdToken({ ...options, audience });
  return exchangeIdToken(client, idToken, options.signal);
}

/** The audience the server's first workload rule expects, from GET /v1/config. */
export async function workloadAudience(client: GateClient, signal?: AbortSignal): Promise<string> {
  let audience: string | undefined;
  try {
    audience = (await client.call('GET', '/v1/config', serverConfigResponse, { anonymous: true, signal })).workload_audience;
  } catch (err) {
    if (err instanceof GateError && (err.code === 'GATE_ERR_NETWORK' || err.code === 'GATE_ERR_TIMEOUT' || err.code === 'GATE_ERR_CANCELLED')) throw err;
    audience = undefined;
  }
  if (!audience) {
    throw new UsageError(`The gate server at ${client.server} names no workload audience.`, {
      hint: 'Pass --audience with the audience of your identity.workloads rule.',
    });
  }
  return audience;
}
