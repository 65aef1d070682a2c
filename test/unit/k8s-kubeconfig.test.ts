import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { kubeconfigFor, writeKubeconfig } from '../../src/client/kubeconfig.js';
import { UsageError } from '../../src/errors.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('kubeconfigFor', () => {
  test('one cluster, context and user named gate-<target>, pointing at the listener, with no credential', () => {
    const text = kubeconfigFor({ server: 'http://127.0.0.1:41234', target: 'prod-k8s', namespace: 'payments' });
    const doc = parse(text);
    expect(doc).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'gate-prod-k8s', cluster: { server: 'http://127.0.0.1:41234' } }],
      contexts: [{ name: 'gate-prod-k8s', context: { cluster: 'gate-prod-k8s', user: 'gate-prod-k8s', namespace: 'payments' } }],
      'current-context': 'gate-prod-k8s',
      users: [{ name: 'gate-prod-k8s', user: {} }],
      preferences: {},
    });
    expect(text).not.toMatch(/token|password|client-key|client-certificate|exec:|auth-provider/i);
    // Written as a person would: plain names, no quotes where none are needed.
    expect(text).toContain('      namespace: payments\n');
    expect(text).toContain('      server: http://127.0.0.1:41234\n');
  });

  test('a namespace that YAML would read otherwise (quotes, ": ", " #", a number, a newline) comes back as written', () => {
    for (const namespace of ['a: b', 'x #not a comment', '"quoted"', '007', 'true', 'yes', 'null', 'two\nlines', 'ünïcode', 'team-a']) {
      const doc = parse(kubeconfigFor({ server: 'http://[::1]:8001', target: 'k8s', namespace }));
      expect(doc.contexts[0].context.namespace).toBe(namespace);
      expect(doc.clusters[0].cluster.server).toBe('http://[::1]:8001');
    }
    // Without a namespace the context has none (kubectl's default applies).
    expect(parse(kubeconfigFor({ server: 'http://127.0.0.1:1', target: 'k8s' })).contexts[0].context).toEqual({ cluster: 'gate-k8s', user: 'gate-k8s' });
  });

  test('rejects a listener URL with credentials or a bad scheme, and bad target names', () => {
    expect(() => kubeconfigFor({ server: 'http://u:p@127.0.0.1:1', target: 'x' })).toThrow(UsageError);
    expect(() => kubeconfigFor({ server: 'ftp://127.0.0.1:1', target: 'x' })).toThrow(UsageError);
    expect(() => kubeconfigFor({ server: 'http://127.0.0.1:1', target: '../x' })).toThrow(UsageError);
  });

  test('writeKubeconfig leaves a 0600 file (also when it existed with wider permissions) that kubectl reads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gate-kc-'));
    dirs.push(dir);
    const path = join(dir, 'config');
    await writeFile(path, 'old', { mode: 0o644 });
    await writeKubeconfig(path, kubeconfigFor({ server: 'http://127.0.0.1:41234', target: 'prod-k8s' }));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const { stdout } = await promisify(execFile)('kubectl', ['config', 'view', '-o', 'jsonpath={.clusters[0].cluster.server} {.current-context}'], {
      env: { PATH: process.env.PATH, HOME: dir, KUBECONFIG: path },
    });
    expect(stdout).toBe('http://127.0.0.1:41234 gate-prod-k8s');
  });
});
