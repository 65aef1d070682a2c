import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const GOOD = `
identity:
  oidc: { issuer: https://idp.example.com, client_id: gate-cli }
targets:
  db-prod:
    type: postgres
    address: db.internal:5432
    database: app
    tls: { mode: verify-full, ca: file:/etc/gate/db-ca.pem }
    roles:
      read:  { username: readonly, password: env:DB_PROD_RO_PASSWORD }
      write: { username: app_rw,   password: env:DB_PROD_RW_PASSWORD }
    guardrails:
      - { deny: '^\\s*drop\\s', message: 'DROP is never allowed on db-prod' }
      - { require_approval: '^\\s*(delete|update)\\b(?!.*\\bwhere\\b)' }
    masking: { columns: [email, ssn], detectors: [credit_card] }
  k8s-prod:
    type: kubernetes
    address: https://10.0.0.1:6443
    tls: { ca: file:/etc/gate/k8s-ca.pem }
    roles:
      view:  { token: env:K8S_VIEW_TOKEN }
      admin: { client_cert: file:/etc/gate/admin.crt, client_key: file:/etc/gate/admin.key }
    guardrails:
      - { deny: { verbs: [delete], resources: [namespaces] }, message: 'namespaces are not deleted by hand' }
admins: [platform]
policies:
  - { name: eng-read,  groups: [engineering], targets: [db-prod], roles: [read],  max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h,
      approval: { approvers: [dba-oncall], min: 1 } }
`;

function errorOf(text: string): string {
  try {
    parseConfig(text, 'gate.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('gate.yaml validation', () => {
  test('the design document example is accepted, with defaults filled in', () => {
    const config = parseConfig(GOOD);
    const db = config.targets['db-prod'];
    expect(db?.type).toBe('postgres');
    expect(config.policies[1]?.approval).toEqual({ approvers: ['dba-oncall'], min: 1 });
    expect(config.policies[0]?.reason).toBe('optional');
    expect(config.server.token_ttl).toBe('1h');
  });

  test('a literal password where a reference belongs is refused, naming line and key', () => {
    const message = errorOf(GOOD.replace('env:DB_PROD_RO_PASSWORD', 'hunter2'));
    expect(message).toMatch(/gate\.yaml:11: targets\.db-prod\.roles\.read\.password: must be a secret reference/);
    // The error must not echo the literal secret back.
    expect(message).not.toContain('hunter2');
  });

  test('an unknown key is named with its line', () => {
    const message = errorOf(GOOD.replace('    database: app\n', '    database: app\n    databse: typo\n'));
    expect(message).toMatch(/gate\.yaml:\d+: targets\.db-prod: unknown key "databse"/);
  });

  test('a bad duration, a bad regex and a bad type are all reported at once', () => {
    const text = GOOD.replace('max_duration: 8h', 'max_duration: forever')
      .replace("'^\\s*drop\\s'", "'(unclosed'")
      .replace('type: kubernetes', 'type: mysql');
    const message = errorOf(text);
    expect(message).toContain('policies.0.max_duration: must be a duration');
    expect(message).toContain('targets.db-prod.guardrails.0.deny: is not a valid regular expression');
    expect(message).toContain('targets.k8s-prod.type');
  });

  test('a missing required key says so', () => {
    const message = errorOf('targets:\n  db:\n    type: postgres\n    address: db:5432\n    roles: {}\n');
    expect(message).toMatch(/gate\.yaml:\d+: targets\.db\.database: is required \(string\)/);
  });

  test('YAML syntax errors name the line', () => {
    expect(errorOf('targets:\n  a: [1, 2\n')).toMatch(/Invalid YAML in gate\.yaml:\n {2}gate\.yaml:\d+:/);
  });

  test('an empty file is a valid (empty) configuration', () => {
    expect(parseConfig('').targets).toEqual({});
  });

  test('approval min must be a positive integer', () => {
    expect(errorOf(GOOD.replace('min: 1', 'min: 0'))).toMatch(/policies\.1\.approval/);
  });
});

describe('server ports', () => {
  test('a port browsers and fetch refuse is refused with the reason, others pass', async () => {
    const { parseServerPort } = await import('../../src/cli/parse.js');
    expect(() => parseServerPort('4190')).toThrow(/bad port/);
    expect(() => parseServerPort('70000')).toThrow(/port number from 0 to 65535/);
    expect(parseServerPort('4180')).toBe(4180);
    expect(parseServerPort('0')).toBe(0);
  });
});
