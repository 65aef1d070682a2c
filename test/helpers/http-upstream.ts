import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestPki } from './certs.js';

/** One request the upstream API saw (credential headers as received). */
export interface SeenRequest {
  method: string;
  url: string;
  host: string;
  authorization: string | null;
  x_api_key: string | null;
  cookie: string | null;
  body_sha256: string;
  body_length: number;
  upgrade?: string;
}

export interface HttpUpstream {
  /** `https://127.0.0.1:PORT` */
  origin: string;
  seen: SeenRequest[];
  /** Lines the server reported that are not requests (e.g. `{event_stream_closed}`). */
  notes: Record<string, unknown>[];
  /** Resolves with the first note matching. */
  waitForNote(pred: (n: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

const SCRIPT = resolve(import.meta.dirname, 'http-upstream-server.mjs');

/** Starts the test API (HTTPS, certificate from `pki`) in its own process; it accepts only the credentials given. */
export async function startHttpUpstream(options: { pki: TestPki; bearer?: string; apiKey?: string; basic?: string }): Promise<HttpUpstream> {
  const child: ChildProcess = spawn(process.execPath, [SCRIPT], {
    env: {
      PATH: process.env.PATH,
      UP_CERT: options.pki.server.certPath,
      UP_KEY: options.pki.server.keyPath,
      UP_BEARER: options.bearer ?? '',
      UP_API_KEY: options.apiKey ?? '',
      UP_BASIC: options.basic ?? '',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen: SeenRequest[] = [];
  const notes: Record<string, unknown>[] = [];
  const waiters: { pred: (n: Record<string, unknown>) => boolean; resolve(n: Record<string, unknown>): void }[] = [];
  const port = await new Promise<number>((resolvePort, reject) => {
    child.once('exit', (code) => reject(new Error(`the test API exited (${code}) before listening`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (typeof msg.listening === 'number') resolvePort(msg.listening);
      else if (typeof msg.method === 'string') seen.push(msg as unknown as SeenRequest);
      else {
        notes.push(msg);
        for (const w of [...waiters]) if (w.pred(msg)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(msg);
      }
    });
  });
  return {
    origin: `https://127.0.0.1:${port}`,
    seen,
    notes,
    waitForNote(pred) {
      const found = notes.find(pred);
      return found ? Promise.resolve(found) : new Promise((r) => waiters.push({ pred, resolve: r }));
    },
    close: () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}
