/**
 * A gate server whose people and CI jobs come from two test OIDC issuers
 * (test/helpers/oidc-issuer.ts), so a test can be alice, a workload or a
 * service token in a few milliseconds, without a browser. Every identity goes
 * through the server's real token exchange.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { startTestIssuer, type TestIssuer } from './oidc-issuer.js';

export const CLIENT_ID = 'gate-cli';
export const WORKLOAD_AUDIENCE = 'https://gate.example.com';

export interface TokenStack {
  url: string;
  server: GateServer;
  dataDir: string;
  people: TestIssuer;
  ci: TestIssuer;
  logs: string[];
  /** A person's gate token (ID token from the people issuer, exchanged). */
  human(sub: string, groups: string[]): Promise<string>;
  /** A CI job's gate token under the `ci` rule, whose subject is the `actor` claim. */
  workload(actor: string): Promise<string>;
  api<T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** `yaml` holds targets, admins, policies and any other top-level key; identity is added here. */
export async function startTokenStack(yaml: string, options: { dataDir?: string } = {}): Promise<TokenStack> {
  const people = await startTestIssuer();
  const ci = await startTestIssuer();
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'gate-token-stack-')));
  const config = parseConfig(
    `identity:
  oidc: { issuer: '${people.issuer}', client_id: ${CLIENT_ID} }
  workloads:
    - { name: ci, issuer: '${ci.issuer}', audience: '${WORKLOAD_AUDIENCE}', subject_claim: actor, groups: [engineering, ci] }
${yaml}`,
    '(test config)',
  );
  const logs: string[] = [];
  const server = await buildServer({ config, dataDir, jwksCooldownMs: 0, logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }) });
  const url = await server.listen({ port: 0 });

  async function api<T>(token: string, method: string, path: string, body?: unknown) {
    const res = await request(`${url}${path}`, {
      method: method as 'GET',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: (text ? JSON.parse(text) : {}) as T };
  }
  async function exchange(subjectToken: string): Promise<string> {
    const res = await request(`${url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subjectToken }),
    });
    const body = (await res.body.json()) as { access_token?: string };
    if (res.statusCode !== 200 || !body.access_token) throw new Error(`token exchange failed: ${res.statusCode} ${JSON.stringify(body)}`);
    return body.access_token;
  }

  return {
    url,
    server,
    dataDir,
    people,
    ci,
    logs,
    human: async (sub, groups) => exchange(await people.sign({ sub, aud: CLIENT_ID, email: `${sub}@example.com`, groups })),
    workload: async (actor) => exchange(await ci.sign({ sub: `repo:acme/app:${actor}`, aud: WORKLOAD_AUDIENCE, actor })),
    api,
    async close() {
      await server.close();
      await people.close();
      await ci.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
