import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { BodySample, redactQuery } from '../../src/gateway/http/audit.js';
import { createHttpMasker, maskBody, maskJson } from '../../src/gateway/http/masking.js';
import { checkHttpRules, compilePathPattern } from '../../src/gateway/http/rules.js';
import { canonicalPath } from '../../src/gateway/path/canonical.js';

const segs = (p: string) => {
  const c = canonicalPath(p);
  if (!c.ok) throw new Error(c.reason);
  return c.segments;
};

describe('path patterns', () => {
  test('* is one segment, ** any number (also none)', () => {
    const one = compilePathPattern('/v1/customers/*');
    expect(one(segs('/v1/customers/42'))).toBe(true);
    expect(one(segs('/v1/customers'))).toBe(false);
    expect(one(segs('/v1/customers/42/cards'))).toBe(false);
    const any = compilePathPattern('/v1/customers/**');
    expect(any(segs('/v1/customers'))).toBe(true);
    expect(any(segs('/v1/customers/42/cards/7'))).toBe(true);
    expect(any(segs('/v1/customersX'))).toBe(false);
    expect(compilePathPattern('/**/refunds')(segs('/a/b/refunds'))).toBe(true);
  });

  test('case and ;parameters do not slip past a rule', () => {
    const p = compilePathPattern('/v1/customers/**');
    expect(p(segs('/V1/CUSTOMERS/1'))).toBe(true);
    expect(p(segs('/v1/customers;jsessionid=x/1'))).toBe(true);
  });
});

describe('guardrails', () => {
  const rails = [
    { require_approval: { methods: ['DELETE'], paths: ['/v1/**'] }, message: 'held' },
    { deny: { methods: ['DELETE'], paths: ['/v1/customers/**'] }, message: 'no' },
    { deny: { methods: ['GET'], paths: ['/admin/**'] } },
  ];
  test('deny wins over require_approval whatever the order', () => {
    expect(checkHttpRules(rails, 'DELETE', segs('/v1/customers/1'))).toMatchObject({ kind: 'deny', message: 'no' });
    expect(checkHttpRules(rails, 'DELETE', segs('/v1/invoices/1'))).toMatchObject({ kind: 'require_approval' });
    expect(checkHttpRules(rails, 'GET', segs('/v1/customers/1'))).toBeUndefined();
  });
  test('a rule on GET covers HEAD', () => {
    expect(checkHttpRules(rails, 'HEAD', segs('/admin/x'))).toMatchObject({ kind: 'deny', rule: 'deny methods=GET paths=/admin/**' });
  });
});

describe('masking', () => {
  const m = createHttpMasker({ json_fields: ['card.number', '**.ssn', 'customers.*.email'], detectors: ['email', 'credit_card'], max_body_bytes: 1 << 20 })!;
  test('nested fields, arrays, any depth, and detectors in the other strings', () => {
    const out = maskJson(m, {
      card: { number: 4111111111111111, cvc: '123' },
      customers: [{ email: 'a@example.com', note: 'b.c@example.com' }, { email: 'x@y.io', deep: { ssn: '1' } }],
      ssn: '2',
    });
    expect(out).toEqual({
      card: { number: '****', cvc: '123' },
      customers: [{ email: '****', note: 'b***@example.com' }, { email: '****', deep: { ssn: '****' } }],
      ssn: '****',
    });
  });
  test('a plain name applies to every item of a list answer', () => {
    expect(maskJson(m, [{ card: { number: '1' } }, { card: { number: '2' } }])).toEqual([{ card: { number: '****' } }, { card: { number: '****' } }]);
  });
  test('a body that says JSON but is not gets the detectors as text', () => {
    expect(maskBody(m, 'json', Buffer.from('oops a@example.com')).toString()).toBe('oops a***@example.com');
  });
});

describe('audit', () => {
  test('redact_query removes the named parameters, case-insensitively, keeping the rest in order', () => {
    expect(redactQuery('a=1&token=x&B=2&Signature=y&sig%6Eature=z', ['token', 'signature'])).toBe('a=1&B=2');
  });
  test('body samples are capped and masked', () => {
    const m = createHttpMasker({ json_fields: ['password'], detectors: ['email'], max_body_bytes: 1024 })!;
    const whole = new BodySample(100);
    whole.add(Buffer.from('{"password":"hunter2","to":"a@example.com"}'));
    expect(whole.text(m)).toBe('{"password":"****","to":"a***@example.com"}');
    const cut = new BodySample(10);
    cut.add(Buffer.from('x@example.com and more'));
    expect(cut.truncated).toBe(true);
    expect(cut.text(m)).toBe('x@example.');
  });
});

describe('config', () => {
  const base = (extra: string) => `
targets:
  billing-api:
    type: http
    address: https://billing.internal.example/base
    roles:
${extra}
`;
  test('bearer, header and basic roles parse', () => {
    const c = parseConfig(base(`      read: { bearer: env:RO }
      admin: { headers: { X-Api-Key: env:KEY } }
      ops: { basic: { username: ops, password: file:/etc/gate/pw } }`));
    const t = c.targets['billing-api'];
    expect(t?.type).toBe('http');
  });
  test('a literal credential is refused with the key named', () => {
    expect(() => parseConfig(base('      read: { bearer: sk_live_123 }'), 'gate.yaml')).toThrow(ConfigError);
    try {
      parseConfig(base('      read: { bearer: sk_live_123 }'), 'gate.yaml');
    } catch (err) {
      expect((err as Error).message).toMatch(/gate\.yaml:\d+: targets\.billing-api\.roles\.read/);
      expect((err as Error).message).not.toContain('sk_live_123');
    }
  });
});
