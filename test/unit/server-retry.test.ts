import { describe, expect, it } from 'vitest';
import { httpError, networkError } from '../../src/api/client.js';
import { withServerRetry } from '../../src/tunnel/retry.js';

const SERVER = 'http://127.0.0.1:9';

describe('withServerRetry', () => {
  it('retries an unreachable server with growing waits, says so, and returns once it answers', async () => {
    const said: string[] = [];
    let calls = 0;
    const result = await withServerRetry(
      async () => {
        calls++;
        if (calls < 3) throw networkError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), SERVER);
        return 'open';
      },
      { say: (l) => said.push(l), initialMs: 10 },
    );
    expect(result).toBe('open');
    expect(said).toEqual(['gate: server unreachable, retrying in 0s (attempt 2/4)…', 'gate: server unreachable, retrying in 0s (attempt 3/4)…']);
  });

  it('is bounded: the last network error is thrown after the last attempt', async () => {
    let calls = 0;
    const err = await withServerRetry(
      async () => {
        calls++;
        throw networkError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), SERVER);
      },
      { say: () => {}, initialMs: 1, attempts: 3 },
    ).catch((e: Error) => e);
    expect(calls).toBe(3);
    expect(err.message).toMatch(/was cut/);
  });

  it.each([401, 403, 404])('never retries a refusal (HTTP %i)', async (status) => {
    const said: string[] = [];
    let calls = 0;
    await expect(
      withServerRetry(
        async () => {
          calls++;
          throw httpError(status, JSON.stringify({ error: { code: 'forbidden', message: 'Grant g_1 is denied.' } }), SERVER);
        },
        { say: (l) => said.push(l), initialMs: 1 },
      ),
    ).rejects.toThrow();
    expect(calls).toBe(1);
    expect(said).toEqual([]);
  });

  it('retries a load balancer’s 503 while a replica restarts', async () => {
    let calls = 0;
    await withServerRetry(
      async () => {
        if (++calls === 1) throw httpError(503, 'no backend', SERVER);
      },
      { say: () => {}, initialMs: 1 },
    );
    expect(calls).toBe(2);
  });
});
