import { describe, expect, test } from 'vitest';
import { checkGuardrails, type K8sGuardrail, matches } from '../../src/gateway/kubernetes/guardrails.js';
import { parseRequestInfo } from '../../src/gateway/kubernetes/request-info.js';

const req = (method: string, url: string) => parseRequestInfo(method, url);
const execPod = req('POST', '/api/v1/namespaces/prod/pods/web-1/exec?command=sh');
const wsExecPod = req('GET', '/api/v1/namespaces/prod/pods/web-1/exec?command=sh');
const getPod = req('GET', '/api/v1/namespaces/prod/pods/web-1');
const deleteNs = req('DELETE', '/api/v1/namespaces/prod');
const deleteNode = req('DELETE', '/api/v1/nodes/n1');
const scaleDeploy = req('PATCH', '/apis/apps/v1/namespaces/prod/deployments/web/scale');
const discovery = req('GET', '/api');

describe('guardrail matching', () => {
  test('verbs: [exec] matches pods/exec over SPDY (create) and WebSocket (get), not a plain get', () => {
    expect(matches({ verbs: ['exec'] }, execPod)).toBe(true);
    expect(matches({ verbs: ['exec'] }, wsExecPod)).toBe(true);
    expect(matches({ verbs: ['exec'] }, getPod)).toBe(false);
    expect(matches({ verbs: ['create'], resources: ['pods/exec'] }, execPod)).toBe(true);
  });

  test('verbs: [exec] covers everything that runs a command: attach, ephemeral containers, the kubelet via nodes/proxy', () => {
    const runs = [
      req('POST', '/api/v1/namespaces/prod/pods/web-1/attach?stdin=true'),
      req('GET', '/api/v1/namespaces/prod/pods/web-1/attach?stdin=true'),
      req('PATCH', '/api/v1/namespaces/prod/pods/web-1/ephemeralcontainers'),
      req('PUT', '/api/v1/namespaces/prod/pods/web-1/ephemeralcontainers'),
      req('GET', '/api/v1/nodes/n1/proxy/exec/prod/web-1/app?command=id'),
      req('POST', '/api/v1/nodes/n1/proxy/run/prod/web-1/app'),
      req('GET', '/api/v1/nodes/n1/proxy/pods'),
      req('GET', '/api/v1/proxy/nodes/n1/exec/prod/web-1/app'),
    ];
    for (const info of runs) expect({ path: info.path, hit: matches({ verbs: ['exec'] }, info) }).toEqual({ path: info.path, hit: true });
    // Reading the ephemeral containers, logs or a port-forward do not run a command.
    const reads = [
      req('GET', '/api/v1/namespaces/prod/pods/web-1/ephemeralcontainers'),
      req('GET', '/api/v1/namespaces/prod/pods/web-1/log'),
      req('POST', '/api/v1/namespaces/prod/pods/web-1/portforward'),
      req('GET', '/api/v1/namespaces/prod/pods/web-1/proxy/metrics'),
    ];
    for (const info of reads) expect({ path: info.path, hit: matches({ verbs: ['exec'] }, info) }).toEqual({ path: info.path, hit: false });
  });

  test('resources follow RBAC: pods does not cover pods/exec; pods/* and * do; group-qualified names work', () => {
    expect(matches({ resources: ['pods'] }, execPod)).toBe(false);
    expect(matches({ resources: ['pods'] }, getPod)).toBe(true);
    expect(matches({ resources: ['pods/*'] }, execPod)).toBe(true);
    expect(matches({ resources: ['*'] }, execPod)).toBe(true);
    expect(matches({ resources: ['deployments/scale'] }, scaleDeploy)).toBe(true);
    expect(matches({ resources: ['deployments.apps/scale'] }, scaleDeploy)).toBe(true);
    expect(matches({ resources: ['deployments.batch/scale'] }, scaleDeploy)).toBe(false);
  });

  test('namespaces support globs; cluster-scoped requests match only `*`', () => {
    expect(matches({ namespaces: ['pro*'] }, getPod)).toBe(true);
    expect(matches({ namespaces: ['staging'] }, getPod)).toBe(false);
    expect(matches({ verbs: ['delete'], namespaces: ['prod'] }, deleteNode)).toBe(false);
    expect(matches({ verbs: ['delete'], namespaces: ['*'] }, deleteNode)).toBe(true);
    // A Namespace object is "in" itself, as in Kubernetes.
    expect(matches({ verbs: ['delete'], namespaces: ['prod'] }, deleteNs)).toBe(true);
  });

  test('every given list must match', () => {
    expect(matches({ verbs: ['delete'], resources: ['namespaces'] }, deleteNs)).toBe(true);
    expect(matches({ verbs: ['delete'], resources: ['pods'] }, deleteNs)).toBe(false);
    expect(matches({}, deleteNs)).toBe(true);
  });

  test('discovery only matches rules without resources or namespaces', () => {
    expect(matches({ verbs: ['get'], resources: ['*'] }, discovery)).toBe(false);
    expect(matches({ namespaces: ['*'] }, discovery)).toBe(false);
    expect(matches({ verbs: ['get'] }, discovery)).toBe(true);
  });
});

describe('checkGuardrails', () => {
  const rules: K8sGuardrail[] = [
    { require_approval: { verbs: ['delete'] } },
    { deny: { verbs: ['delete'], resources: ['namespaces'] }, message: 'never' },
  ];
  test('a matching deny wins over an earlier require_approval', () => {
    expect(checkGuardrails(rules, deleteNs)).toEqual({ kind: 'deny', index: 1, rule: 'deny verbs=delete resources=namespaces', message: 'never' });
  });
  test('otherwise the first require_approval applies; nothing matching means allowed', () => {
    expect(checkGuardrails(rules, deleteNode)).toMatchObject({ kind: 'require_approval', index: 0, rule: 'require_approval verbs=delete' });
    expect(checkGuardrails(rules, getPod)).toBeUndefined();
  });
});
