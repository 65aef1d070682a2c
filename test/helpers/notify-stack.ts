/**
 * A gate server for notification tests: people from a test OIDC issuer (no
 * browser), its own data dir so a test can stop it and start another on the
 * same one, short retry delays, and its log lines kept for the test to await.
 */
import { request } from 'undici';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import type { TestIssuer } from './oidc-issuer.js';

const CLIENT_ID = 'gate-cli';

export interface NotifyServer {
  url: string;
  server: GateServer;
  logs: string[];
  /** Resolves with the first log line (seen or to come) that contains `text`. */
  waitForLog(text: string): Promise<string>;
  token(sub: string, groups: string[]): Promise<string>;
  api<T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startNotifyServer(o: { yaml: string; dataDir: string; env: NodeJS.ProcessEnv; people: TestIssuer }): Promise<NotifyServer> {
  const config = parseConfig(`identity:\n  oidc: { issuer: '${o.people.issuer}', client_id: ${CLIENT_ID} }\n${o.yaml}`, '(test config)');
  const logs: string[] = [];
  const waiters: { text: string; resolve(line: string): void }[] = [];
  const logger = createLogger({
    level: 'debug',
    write: (line) => {
      logs.push(line);
      for (const w of waiters.slice()) {
        if (line.includes(w.text)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    },
  });
  const server = await buildServer({ config, dataDir: o.dataDir, env: o.env, logger, notify: { retryBaseMs: 100, pollMs: 200 } });
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

  let closing: Promise<void> | undefined;
  return {
    url,
    server,
    logs,
    waitForLog(text) {
      const found = logs.find((l) => l.includes(text));
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ text, resolve }));
    },
    async token(sub, groups) {
      const subjectToken = await o.people.sign({ sub, aud: CLIENT_ID, email: `${sub}@example.com`, groups });
      const res = await request(`${url}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subjectToken }),
      });
      const body = (await res.body.json()) as { access_token?: string };
      if (res.statusCode !== 200 || !body.access_token) throw new Error(`token exchange failed: ${res.statusCode} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    api,
    close: () => (closing ??= server.close()),
  };
}
