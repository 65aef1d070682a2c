import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { isTrustedIssuerUrl } from '../../src/config/schema.js';
import { claimMatches, ruleMiss } from '../../src/server/identity/workload.js';

describe('workload trust rules', () => {
  test('match values: equality, any-of, and a trailing * as a prefix glob', () => {
    expect(claimMatches('refs/heads/*', 'refs/heads/main')).toBe(true);
    expect(claimMatches('refs/heads/*', 'refs/tags/v1')).toBe(false);
    expect(claimMatches('acme/app', 'acme/app')).toBe(true);
    expect(claimMatches('acme/app', 'acme/app2')).toBe(false);
    // Only a trailing * is special.
    expect(claimMatches('repo:*/app', 'repo:acme/app')).toBe(false);
    const rule = { audience: 'gate', match: { repository: 'acme/app', event_name: ['push', 'workflow_dispatch'] } };
    expect(ruleMiss(rule, { aud: 'gate', repository: 'acme/app', event_name: 'workflow_dispatch' })).toBeUndefined();
    expect(ruleMiss(rule, { aud: ['x', 'gate'], repository: 'acme/app', event_name: 'push' })).toBeUndefined();
    expect(ruleMiss(rule, { aud: 'gate', repository: 'acme/app', event_name: 'pull_request' })).toMatch(/event_name.*pull_request.*push.*workflow_dispatch/);
    expect(ruleMiss(rule, { aud: 'other', repository: 'acme/app', event_name: 'push' })).toMatch(/audience/);
    expect(ruleMiss(rule, { aud: 'gate', event_name: 'push' })).toBe('claim "repository" is missing');
  });

  test('issuers must be https, or http on loopback only; the config error names the key', () => {
    expect(isTrustedIssuerUrl('https://token.actions.githubusercontent.com')).toBe(true);
    expect(isTrustedIssuerUrl('http://127.0.0.1:8080')).toBe(true);
    expect(isTrustedIssuerUrl('http://127.9.9.9')).toBe(true);
    expect(isTrustedIssuerUrl('http://localhost:3000/issuer')).toBe(true);
    expect(isTrustedIssuerUrl('http://[::1]:3000')).toBe(true);
    expect(isTrustedIssuerUrl('http://gitlab.example.com')).toBe(false);
    expect(isTrustedIssuerUrl('http://127.0.0.1.evil.com')).toBe(false);
    expect(isTrustedIssuerUrl('ftp://127.0.0.1')).toBe(false);
    expect(() =>
      parseConfig('identity:\n  workloads:\n    - { name: gl, issuer: "http://gitlab.example.com", audience: gate }\n', 'gate.yaml'),
    ).toThrow(/identity\.workloads.*issuer[\s\S]*https/);
  });
});
