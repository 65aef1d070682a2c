import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { decide, requestableTargets, targetsApprovedBy } from '../../src/server/grants/policy.js';
import { parseRequestedDuration } from '../../src/server/grants/duration.js';

const config = parseConfig(`
admins: [platform]
targets:
  db-prod:
    type: postgres
    address: db:5432
    database: app
    roles:
      read:  { username: ro, password: env:RO }
      write: { username: rw, password: env:RW }
  db-stage:
    type: postgres
    address: stage:5432
    database: app
    roles:
      read:  { username: ro, password: env:RO }
policies:
  - { name: eng-read,  groups: [engineering], targets: [db-prod, db-stage], roles: [read], max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h, reason: required,
      approval: { approvers: [dba-oncall], min: 2 } }
  - { name: sre-write, groups: [sre], targets: [db-prod], roles: [write], max_duration: 4h, approval: auto }
`);

const eng = { groups: ['engineering'] };

describe('policy matching', () => {
  it('matches on group, target and role and auto-approves', () => {
    const d = decide(config, eng, { target: 'db-prod', role: 'read', duration: 1800 });
    expect(d).toMatchObject({ ok: true, policy: { name: 'eng-read' }, approval: { kind: 'auto' }, duration: 1800, capped: false });
  });

  it('needs the approvers of the policy, with its min', () => {
    const d = decide(config, eng, { target: 'db-prod', role: 'write', duration: 600, reason: 'INC-1' });
    expect(d).toMatchObject({ ok: true, approval: { kind: 'approvers', approvers: ['dba-oncall'], min: 2 } });
  });

  it('caps the duration at max_duration and says so', () => {
    const d = decide(config, eng, { target: 'db-prod', role: 'read', duration: 10 * 3600 });
    expect(d).toMatchObject({ ok: true, duration: 8 * 3600, capped: true, maxDuration: 8 * 3600 });
  });

  it('requires a reason when the policy says so (blank does not count)', () => {
    expect(decide(config, eng, { target: 'db-prod', role: 'write', duration: 60, reason: '   ' })).toMatchObject({
      ok: false,
      why: 'reason_required',
    });
  });

  it('denies with the reason when no policy matches: wrong group, or a role the group lacks', () => {
    const other = decide(config, { groups: ['marketing'] }, { target: 'db-prod', role: 'read', duration: 60 });
    expect(other).toMatchObject({ ok: false, why: 'no_policy' });
    expect(!other.ok && other.message).toContain('(marketing)');
    expect(decide(config, eng, { target: 'db-stage', role: 'write', duration: 60 })).toMatchObject({ ok: false, why: 'unknown_role' });
  });

  it('tells an unknown target and an unknown role apart from a policy refusal', () => {
    expect(decide(config, eng, { target: 'nope', role: 'read', duration: 60 })).toMatchObject({ ok: false, why: 'unknown_target' });
    expect(decide(config, eng, { target: 'db-prod', role: 'admin', duration: 60 })).toMatchObject({ ok: false, why: 'unknown_role' });
  });

  it('picks the most permissive policy when several match', () => {
    const d = decide(config, { groups: ['engineering', 'sre'] }, { target: 'db-prod', role: 'write', duration: 60 });
    expect(d).toMatchObject({ ok: true, policy: { name: 'sre-write' }, approval: { kind: 'auto' } });
  });

  it('lists requestable targets without any credential reference', () => {
    const list = requestableTargets(config, eng);
    expect(list.map((t) => t.name)).toEqual(['db-prod', 'db-stage']);
    expect(JSON.stringify(list)).not.toMatch(/env:|file:|address|password/);
    expect(list[0]).toMatchObject({ database: 'app', roles: [{ role: 'read', username: 'ro' }, { role: 'write', username: 'rw' }] });
    expect(targetsApprovedBy(config, { groups: ['dba-oncall'] })).toEqual(['db-prod']);
  });
});

describe('requested durations', () => {
  it('accepts 30m, 90m, 1h30m, 1.5h and JSON seconds; refuses negative, zero, fractional seconds, absurd and garbage', () => {
    expect(parseRequestedDuration('30m')).toEqual({ seconds: 1800 });
    expect(parseRequestedDuration('90m')).toEqual({ seconds: 5400 });
    expect(parseRequestedDuration('1h30m')).toEqual({ seconds: 5400 });
    expect(parseRequestedDuration('1.5h')).toEqual({ seconds: 5400 });
    expect(parseRequestedDuration(90)).toEqual({ seconds: 90 });
    for (const bad of [-1, 0, 1.5, '999d', 'soon', '-5m', Number.NaN]) expect(parseRequestedDuration(bad)).toHaveProperty('error');
  });

  it('refuses a bare number string, naming the units to add', () => {
    expect(parseRequestedDuration('30')).toEqual({ error: expect.stringMatching(/"30" has no unit: write it as 30m, 30h or 30s/) });
  });
});
