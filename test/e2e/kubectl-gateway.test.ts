import { execFile } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { type FakeKube, startFakeKube } from '../helpers/fake-kube.js';
import { gateEnv, type GateResult, type RunningGate, runGate, startGate } from '../helpers/gate-bin.js';
import { type Stack, startStack } from '../helpers/stack.js';

// The built CLI and the real kubectl, through a real gate server's gateway,
// against an HTTPS fake Kubernetes API that accepts only the role's token.

const TOKEN = 'k8s-role-token-e2e-6c0f2a9b71';

let pki: TestPki;
let kube: FakeKube;
let stack: Stack;
let alice: string;
let carol: string;
let env: NodeJS.ProcessEnv;
let carolEnv: NodeJS.ProcessEnv;
const dirs: string[] = [];
/** Everything a user could see (CLI output, kubeconfigs, env, recordings, API answers), checked for secrets at the end. */
const visible: string[] = [];

async function gate(args: string[], e = env): Promise<GateResult> {
  const r = await runGate(args, { env: e });
  visible.push(r.stdout, r.stderr);
  return r;
}

function kubectl(args: string[], kubeconfig: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'kubectl',
      ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args],
      { env: { PATH: process.env.PATH, HOME: env.GATE_CONFIG_DIR } },
      (err, stdout, stderr) => {
        visible.push(stdout, stderr);
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  pki = await createTestPki();
  kube = await startFakeKube({ token: TOKEN, pki });
  process.env.E2E_K8S_TOKEN = TOKEN;
  process.env.E2E_K8S_CA = kube.caPem;
  process.env.E2E_K8S_CERT = pki.client.cert;
  process.env.E2E_K8S_KEY = pki.client.key;
  stack = await startStack({
    configYaml: `
admins: [platform]
targets:
  k8s:
    type: kubernetes
    # These tests read what a piped tool printed back from the recording.
    record_output: full
    address: ${kube.url}
    tls: { ca: env:E2E_K8S_CA }
    roles:
      view: { token: env:E2E_K8S_TOKEN }
    guardrails:
      - { deny: { verbs: [delete], resources: [namespaces] }, message: 'Deleting namespaces is never allowed on k8s.' }
      - { require_approval: { verbs: [delete], resources: [pods] } }
  k8s-cert:
    type: kubernetes
    # These tests read what a piped tool printed back from the recording.
    record_output: full
    address: ${kube.url}
    tls: { ca: env:E2E_K8S_CA }
    roles:
      admin: { client_cert: env:E2E_K8S_CERT, client_key: env:E2E_K8S_KEY }
  k8s-short:
    type: kubernetes
    # These tests read what a piped tool printed back from the recording.
    record_output: full
    address: ${kube.url}
    tls: { ca: env:E2E_K8S_CA }
    roles:
      view: { token: env:E2E_K8S_TOKEN }
policies:
  - { name: eng-k8s, groups: [engineering], targets: [k8s], roles: [view], max_duration: 1h, approval: auto }
  - { name: eng-k8s-cert, groups: [engineering], targets: [k8s-cert], roles: [admin], max_duration: 1h, approval: auto }
  - { name: eng-k8s-short, groups: [engineering], targets: [k8s-short], roles: [view], max_duration: 10m, approval: auto }
`,
  });
  alice = await stack.loginAs('alice');
  carol = await stack.loginAs('carol');
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: alice });
  carolEnv = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: carol });
  dirs.push(env.GATE_CONFIG_DIR!, carolEnv.GATE_CONFIG_DIR!);
});

afterAll(async () => {
  await stack?.close();
  await kube?.close();
  await pki?.cleanup?.();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('gate kubectl', () => {
  test('get pods works through the gateway, which alone holds the token', async () => {
    const before = kube.seen.length;
    const r = await gate(['kubectl', 'k8s', '--', 'get', 'pods']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/NAME\s+READY\s+STATUS/);
    expect(r.stdout).toContain('web-1');
    expect(r.stdout).toContain('web-2');
    const seen = kube.seen.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) {
      expect(s.auth).toBe('bearer');
      expect(s.authorization).toBe(`Bearer ${TOKEN}`);
      expect(s.impersonation).toEqual([]);
    }
  });

  test("a credential the user passes to kubectl never reaches the API server", async () => {
    const before = kube.seen.length;
    // It replaces the one-time local token of gate's kubeconfig, so the gateway refuses it with a Status.
    const r = await gate(['kubectl', 'k8s', '--', '--token', 'users-own-token-must-not-arrive', 'get', 'pods', '-n', 'prod']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/one-time local token|Unauthorized|provide credentials/);
    expect(kube.seen.length).toBe(before);
  });

  test('a client-certificate role: the gateway presents the certificate, kubectl never sees the key', async () => {
    const before = kube.seen.length;
    const r = await gate(['kubectl', 'k8s-cert', '--', 'get', 'pods']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('web-1');
    const seen = kube.seen.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    for (const s of seen) expect(s.auth).toBe('cert');
    const envDump = await gate(['exec', 'k8s-cert', '--', 'sh', '-c', 'env; cat "$KUBECONFIG"']);
    expect(envDump.code).toBe(0);
    expect(envDump.stdout).not.toContain('PRIVATE KEY');
  });

  test('the temporary kubeconfig is 0600, holds no target credential (only a one-time local token), and is gone after exit', async () => {
    const r = await gate(['exec', 'k8s', '--', 'sh', '-c', 'echo "kubeconfig=$KUBECONFIG"; stat -c "mode=%a" "$KUBECONFIG"; cat "$KUBECONFIG"; env']);
    expect(r.code).toBe(0);
    const path = /kubeconfig=(\S+)/.exec(r.stdout)![1]!;
    expect(r.stdout).toContain('mode=600');
    // https with the listener's own pinned certificate: kubectl sends the local token only over TLS.
    expect(r.stdout).toMatch(/server: https:\/\/127\.0\.0\.1:\d+/);
    expect(r.stdout).toMatch(/certificate-authority-data: \S+/);
    expect(r.stdout).toMatch(/token: [A-Za-z0-9_-]{24}\n/);
    expect(r.stdout).not.toContain(TOKEN);
    expect(r.stdout).not.toMatch(/client-key|client-certificate|password:/);
    expect(r.stdout).not.toContain('GATE_TOKEN=');
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
  });

  test('a guardrail-denied verb prints the rule message through kubectl and exits non-zero', async () => {
    const r = await gate(['kubectl', 'k8s', '--', 'delete', 'namespace', 'prod']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (Forbidden)');
    expect(r.stderr).toContain('Deleting namespaces is never allowed on k8s.');
    expect(kube.namespaces).toContain('prod');
  });

  test('an approval-held request passes after an approver runs gate approve', async () => {
    const held = await gate(['kubectl', 'k8s', '--', 'delete', 'pod', 'web-2']);
    expect(held.code).not.toBe(0);
    const id = /approval request (a_\S+?) is pending/.exec(held.stderr)?.[1];
    expect(id, held.stderr).toBeDefined();
    expect(held.stderr).toContain(`gate approve ${id}`);
    expect(kube.pods.map((p) => p.name)).toContain('web-2');

    // The requester cannot approve their own request.
    const self = await gate(['approve', id!]);
    expect(self.code, self.stderr).toBe(5);
    expect(self.stderr).toContain(`The command in ${id} is yours`);
    // And it did not count: the request is still held.
    const still = await gate(['kubectl', 'k8s', '--', 'delete', 'pod', 'web-2']);
    expect(still.code).not.toBe(0);
    expect(still.stderr).toContain(`approval request ${id} is pending`);
    expect(kube.pods.map((p) => p.name)).toContain('web-2');

    const approved = await gate(['approve', id!], carolEnv);
    expect(approved.stderr + approved.stdout).not.toMatch(/error/i);
    expect(approved.code).toBe(0);

    const again = await gate(['kubectl', 'k8s', '--', 'delete', 'pod', 'web-2']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('pod "web-2" deleted');
    expect(kube.pods.map((p) => p.name)).not.toContain('web-2');
  });

  test('audit events carry the verb, resource and namespace of each request kubectl made', async () => {
    const run = await gate(['exec', 'k8s', '--', 'sh', '-c', 'echo "session=$GATE_SESSION_ID"; kubectl get pods -n prod; kubectl get namespaces']);
    expect(run.code).toBe(0);
    const sessionId = /session=(\S+)/.exec(run.stdout)![1]!;
    const audit = await gate(['audit', '--json', '--target', 'k8s'], carolEnv);
    expect(audit.code).toBe(0);
    const { events } = JSON.parse(audit.stdout) as {
      events: { action: string; session_id: string | null; result: string; details: Record<string, unknown> }[];
    };
    const mine = events.filter((e) => e.action === 'k8s.request' && e.session_id === sessionId);
    expect(mine).toContainEqual(expect.objectContaining({ details: expect.objectContaining({ verb: 'list', resource: 'pods', namespace: 'prod' }) }));
    expect(mine).toContainEqual(expect.objectContaining({ details: expect.objectContaining({ verb: 'list', resource: 'namespaces' }) }));
    const denied = events.find((e) => e.action === 'k8s.request' && e.details.resource === 'namespaces' && e.details.verb === 'delete');
    expect(denied).toMatchObject({ result: 'denied', details: { namespace: 'prod' } });

    const shown = await gate(['sessions', 'show', sessionId, '--json']);
    const body = JSON.parse(shown.stdout) as { events: { session_id: string; details: Record<string, unknown> }[] };
    expect(body.events.filter((e) => e.details.resource === 'pods')).not.toHaveLength(0);
    const cast = await gate(['sessions', 'export', sessionId]);
    expect(cast.stdout).toContain('db-0');
  });
});

describe('gate connect k8s', () => {
  test('--json: the ready event names a credential-free kubeconfig that the real kubectl uses', async () => {
    const c = startGate(['connect', 'k8s', '--json'], { env });
    const ready = JSON.parse(await c.waitFor(/"event":"ready"/, 'stdout')) as { kubeconfig: string; url: string };
    const text = await readFile(ready.kubeconfig, 'utf8');
    visible.push(text);
    expect((await stat(ready.kubeconfig)).mode & 0o777).toBe(0o600);
    expect(text).toContain(ready.url);
    expect(text).not.toMatch(/token:|client-key|client-certificate|password:/);
    const r = await kubectl(['get', 'pods', '-n', 'prod'], ready.kubeconfig);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('db-0');
    await c.stop('SIGINT');
    visible.push(...c.lines.stdout, ...c.lines.stderr);
    expect(c.lines.stdout.map((l) => JSON.parse(l).event)).toContain('closed');
    await expect(stat(ready.kubeconfig)).rejects.toThrow(/ENOENT/);
  });

  test('--local-password: the kubeconfig carries a one-time token, the listener speaks pinned TLS, and a request without the token gets 401', async () => {
    const c = startGate(['connect', 'k8s', '--local-password', '--json'], { env });
    const ready = JSON.parse(await c.waitFor(/"event":"ready"/, 'stdout')) as { kubeconfig: string; url: string };
    const text = await readFile(ready.kubeconfig, 'utf8');
    expect(ready.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const local = /token: (\S+)/.exec(text)?.[1];
    expect(local).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(c.lines.stdout.join('\n')).not.toContain(local!);
    const r = await kubectl(['get', 'pods', '-n', 'prod'], ready.kubeconfig);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('db-0');
    const before = kube.seen.length;
    const stranger = await new Promise<{ stdout: string }>((resolve) => {
      execFile('curl', ['-sk', `${ready.url}/api/v1/namespaces/prod/pods`], (_e, stdout) => resolve({ stdout }));
    });
    expect(JSON.parse(stranger.stdout)).toMatchObject({ kind: 'Status', code: 401, message: expect.stringMatching(/one-time local token/) });
    expect(kube.seen.length).toBe(before);
    await c.stop('SIGINT');
    visible.push(...c.lines.stdout, ...c.lines.stderr);
  });

  test('human mode prints export KUBECONFIG=…', async () => {
    const c = startGate(['connect', 'k8s'], { env });
    const line = await c.waitFor(/export KUBECONFIG=/);
    const path = /export KUBECONFIG=(\S+)/.exec(line)![1]!;
    const r = await kubectl(['get', 'namespaces'], path);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('kube-system');
    await c.stop('SIGINT');
    visible.push(...c.lines.stdout, ...c.lines.stderr);
  });
});

/** alice's active grant on a target, from the server. */
async function activeGrant(target: string): Promise<{ id: string; expires_at: string }> {
  const res = await fetch(`${stack.url}/v1/grants?state=active`, { headers: { authorization: `Bearer ${alice}` } });
  const { grants } = (await res.json()) as { grants: { id: string; target: string; expires_at: string }[] };
  const grant = grants.find((g) => g.target === target);
  expect(grant, JSON.stringify(grants)).toBeDefined();
  return grant!;
}

async function msUntil(p: Promise<unknown>): Promise<number> {
  const started = performance.now();
  await p;
  return performance.now() - started;
}

describe('the end of a grant, through the real server', () => {
  test('expiry closes a kubectl get pods --watch within a second, and gate says why', async () => {
    const w = startGate(['kubectl', 'k8s-short', '--', 'get', 'pods', '--watch'], { env });
    await w.waitFor(/web-1/, 'stdout');
    const grant = await activeGrant('k8s-short');
    const ended = watchEnded(w);
    const advanced = stack.advanceClock(Date.parse(grant.expires_at) - Date.now() + 1_000);
    const ms = await msUntil(ended);
    await advanced;
    expect(ms, 'the watch ended more than a second after the expiry').toBeLessThan(1_000);
    const code = await w.exited;
    visible.push(...w.lines.stdout, ...w.lines.stderr);
    // kubectl either prints the gateway's final watch event (a Status, exit 0) or, when it re-lists first, the
    // refusal of that request (exit 1); either way gate says why, and gate passes kubectl's code on.
    expect(w.lines.stderr.join('\n')).toMatch(new RegExp(`gate: access to k8s-short has ended: the grant ${grant.id} expired`));
    expect([0, 1]).toContain(code);
    expect(kube.openWatches()).toBe(0);
  });

  test('revocation by an admin closes a kubectl get pods --watch within a second', async () => {
    const w = startGate(['kubectl', 'k8s-short', '--', 'get', 'pods', '--watch'], { env });
    await w.waitFor(/web-1/, 'stdout');
    const grant = await activeGrant('k8s-short');
    const ended = watchEnded(w);
    // Timed from the revocation itself (the API call), not from a CLI's start-up.
    const started = performance.now();
    const revoke = await fetch(`${stack.url}/v1/grants/${grant.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${carol}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(revoke.status, await revoke.text()).toBe(200);
    await ended;
    expect(performance.now() - started, 'the watch ended more than a second after the revocation').toBeLessThan(1_000);
    await w.exited;
    visible.push(...w.lines.stdout, ...w.lines.stderr);
    expect([...w.lines.stdout, ...w.lines.stderr].join('\n')).toMatch(/has ended: .*revoked/);
    expect(kube.openWatches()).toBe(0);
  });
});

/**
 * The moment a `kubectl --watch` through gate learns its access ended: kubectl prints the gateway's final
 * watch event on stdout, or gate (and kubectl, for a request it retried) says so on stderr, whichever comes first.
 */
function watchEnded(w: RunningGate): Promise<string> {
  return Promise.any([
    w.waitFor(/Forbidden\s+gate: access to target "k8s-short" has ended/, 'stdout'),
    w.waitFor(/access to (target "k8s-short"|k8s-short) has ended/, 'stderr'),
  ]);
}

describe('secrets', () => {
  test('the token never appears in kubeconfigs, environments, recordings, CLI output or API answers', async () => {
    const list = await gate(['sessions', '--json']);
    for (const s of (JSON.parse(list.stdout) as { sessions: { id: string }[] }).sessions) {
      await gate(['sessions', 'export', s.id]);
      await gate(['sessions', 'show', s.id, '--json']);
    }
    await gate(['audit', '--json'], carolEnv);
    await gate(['targets', '--json']);
    const all = visible.join('\n');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(pki.client.key.trim());
    expect(all).not.toContain(pki.client.key.split('\n')[1]!);
    for (const part of alice.split('.')) expect(all).not.toContain(part);
    for (const part of carol.split('.')) expect(all).not.toContain(part);
  }, 180_000);
});
