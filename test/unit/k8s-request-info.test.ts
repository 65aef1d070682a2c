import { describe, expect, test } from 'vitest';
import { describeRequest, parseRequestInfo } from '../../src/gateway/kubernetes/request-info.js';

// The same classification kube-apiserver's RequestInfoFactory makes, so a
// guardrail written in RBAC terms means what an admin expects.
describe('parseRequestInfo', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['GET', '/api/v1/namespaces/default/pods?limit=500', { verb: 'list', resource: 'pods', namespace: 'default', name: '' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=true', { verb: 'watch', resource: 'pods' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=1&resourceVersion=5', { verb: 'watch' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=false', { verb: 'list' }],
    ['GET', '/api/v1/watch/namespaces/default/pods', { verb: 'watch', resource: 'pods', namespace: 'default' }],
    ['GET', '/api/v1/namespaces/default/pods/web-1', { verb: 'get', name: 'web-1' }],
    ['GET', '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dweb-1&watch=1', { verb: 'watch', name: 'web-1' }],
    ['POST', '/api/v1/namespaces/default/pods', { verb: 'create', resource: 'pods' }],
    ['PUT', '/api/v1/namespaces/default/pods/web-1', { verb: 'update' }],
    ['PATCH', '/api/v1/namespaces/default/pods/web-1', { verb: 'patch' }],
    ['DELETE', '/api/v1/namespaces/default/pods/web-1', { verb: 'delete', name: 'web-1' }],
    ['DELETE', '/api/v1/namespaces/default/pods', { verb: 'deletecollection' }],
    ['POST', '/api/v1/namespaces/default/pods/web-1/exec?command=ls', { verb: 'create', action: 'exec', resource: 'pods', subresource: 'exec', name: 'web-1' }],
    ['GET', '/api/v1/namespaces/default/pods/web-1/exec?command=ls', { verb: 'get', action: 'exec', subresource: 'exec' }],
    ['POST', '/api/v1/namespaces/default/pods/web-1/portforward', { action: 'portforward', subresource: 'portforward' }],
    ['GET', '/api/v1/namespaces/default/pods/web-1/log?follow=true', { verb: 'get', action: 'log', subresource: 'log' }],
    ['GET', '/api/v1/namespaces/default/pods/web-1/proxy/metrics', { verb: 'get', action: 'proxy', subresource: 'proxy' }],
    ['GET', '/api/v1/proxy/namespaces/default/pods/web-1/metrics', { verb: 'proxy', subresource: '', name: 'web-1' }],
    ['DELETE', '/api/v1/namespaces/x', { verb: 'delete', resource: 'namespaces', namespace: 'x', name: 'x' }],
    ['PUT', '/api/v1/namespaces/x/finalize', { verb: 'update', resource: 'namespaces', subresource: 'finalize', name: 'x' }],
    ['GET', '/api/v1/nodes/n1', { verb: 'get', resource: 'nodes', namespace: '', name: 'n1' }],
    ['PATCH', '/apis/apps/v1/namespaces/prod/deployments/web/scale', { verb: 'patch', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', subresource: 'scale', namespace: 'prod' }],
    ['GET', '/apis/apps/v1/deployments', { verb: 'list', apiGroup: 'apps', resource: 'deployments', namespace: '' }],
  ];
  test.each(cases)('%s %s', (method, url, expected) => {
    expect(parseRequestInfo(method, url)).toMatchObject({ isResourceRequest: true, ...expected });
  });

  test.each(['/api', '/apis', '/api/v1', '/apis/apps/v1', '/version', '/healthz', '/openapi/v3/api/v1'])(
    'GET %s is a non-resource get',
    (url) => {
      const info = parseRequestInfo('GET', url);
      expect(info).toMatchObject({ isResourceRequest: false, verb: 'get', resource: '', path: url });
    },
  );

  test('describeRequest reads like the approval text', () => {
    expect(describeRequest(parseRequestInfo('POST', '/api/v1/namespaces/default/pods/web-1/exec'))).toBe('create pods/exec default/web-1');
    expect(describeRequest(parseRequestInfo('DELETE', '/api/v1/namespaces/x'))).toBe('delete namespaces x');
    expect(describeRequest(parseRequestInfo('GET', '/api/v1/namespaces/prod/pods'))).toBe('list pods prod');
    expect(describeRequest(parseRequestInfo('GET', '/version'))).toBe('get /version');
  });
});
