import { describe, expect, test } from 'vitest';
import { canonicalPath, canonicalTarget, joinUnderPrefix, splitTarget } from '../../src/gateway/path/canonical.js';

// What the guardrails classify must be what the upstream receives: one
// canonical form, and refusal of every encoding two servers could read apart.
describe('canonicalPath', () => {
  test.each([
    ['/api/v1/pods', '/api/v1/pods', ['api', 'v1', 'pods']],
    ['//api/v1/pods', '/api/v1/pods', ['api', 'v1', 'pods']],
    ['/api//v1///pods', '/api/v1/pods', ['api', 'v1', 'pods']],
    ['/api/v1/pods/', '/api/v1/pods/', ['api', 'v1', 'pods']],
    ['/', '/', []],
    ['//', '/', []],
    ['/%61pi/v1', '/api/v1', ['api', 'v1']],
    ['/a%20b/c:d@e', '/a%20b/c:d@e', ['a b', 'c:d@e']],
    ['/caf%c3%a9', '/caf%C3%A9', ['café']],
    ['/café', '/caf%C3%A9', ['café']],
    ['/.well-known/x', '/.well-known/x', ['.well-known', 'x']],
    ['/a..b/...', '/a..b/...', ['a..b', '...']],
  ])('%s is forwarded as %s', (raw, path, segments) => {
    const c = canonicalPath(raw);
    expect(c).toMatchObject({ ok: true, path, segments });
  });

  test.each([
    ['/api/v1/namespaces/d/pods/web%2Fexec', /%2F/],
    ['/api/v1/namespaces/d/secrets%2fdb', /%2F/],
    ['/api/v1/../../admin', /"\.\."/],
    ['/api/v1/%2e%2e/%2E%2E/admin', /"\.\."/],
    ['/api/v1/.%2e/admin', /"\.\."/],
    ['/api/./v1', /"\.\."/],
    ['/api/%2e/v1', /"\.\."/],
    ['/api/..', /"\.\."/],
    ['/api\\v1', /backslash/],
    ['/api%5Cv1', /%5C/],
    ['/api/web%252Fexec', /double-encoded/],
    ['/api/%zz', /malformed/],
    ['/api/%2', /malformed/],
    ['/api/%c0%af', /UTF-8/],
    ['/api/a%00b', /control/],
    ['/api/a%0Ab', /control/],
    ['api/v1', /starting with/],
    ['http://evil/api/v1', /starting with/],
    ['*', /starting with/],
  ])('%s is refused', (raw, reason) => {
    const c = canonicalPath(raw);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.reason).toMatch(reason);
  });
});

describe('canonicalTarget', () => {
  test('keeps the query as sent and canonicalises the path', () => {
    expect(canonicalTarget('//api/v1/pods?watch=1&labelSelector=a%3Db')).toMatchObject({
      ok: true,
      path: '/api/v1/pods',
      query: 'watch=1&labelSelector=a%3Db',
      target: '/api/v1/pods?watch=1&labelSelector=a%3Db',
    });
  });
  test('a ".." in the query is not a path segment', () => {
    expect(canonicalTarget('/api/v1/pods?x=/../..')).toMatchObject({ ok: true, path: '/api/v1/pods' });
  });
  test('refuses an ambiguous path behind a harmless query', () => {
    expect(canonicalTarget('/api/v1/pods/web%2Fexec?command=id').ok).toBe(false);
  });
});

describe('splitTarget and joinUnderPrefix', () => {
  test('split at the first ?, fragment dropped', () => {
    expect(splitTarget('/a?b=?c#frag')).toEqual({ path: '/a', query: 'b=?c' });
    expect(splitTarget('/a')).toEqual({ path: '/a', query: '' });
  });
  test('a canonical path stays under the prefix', () => {
    expect(joinUnderPrefix('/k8s/clusters/c-1/', '/api/v1/pods')).toBe('/k8s/clusters/c-1/api/v1/pods');
    expect(joinUnderPrefix('', '/api')).toBe('/api');
  });
});
