import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { escapeMrkdwn, formatSeconds } from '../../src/server/notify/slack.js';

const sinks = (list: string, extra = '') => `${extra}notifications:\n${list}\n`;

describe('notifications config', () => {
  it('accepts the issue example: a webhook with a secret reference, Slack with its URL as a reference, console_url', () => {
    const c = parseConfig(
      sinks(
        `  - { type: webhook, url: https://hooks.internal.example/gate, secret: env:GATE_HOOK_SECRET,
      events: [grant.requested, approval.requested, grant.approved, grant.denied, grant.revoked, grant.expired] }
  - { type: slack, url: env:SLACK_WEBHOOK_URL, events: [grant.requested, approval.requested] }`,
        'console_url: https://gate.internal.example/ui/\n',
      ),
    );
    expect(c.console_url).toBe('https://gate.internal.example/ui');
    expect(c.notifications.map((s) => [s.type, s.url, s.max_attempts, s.timeout])).toEqual([
      ['webhook', 'https://hooks.internal.example/gate', 10, '10s'],
      ['slack', 'env:SLACK_WEBHOOK_URL', 10, '10s'],
    ]);
  });

  it('an unknown event name is a config error that names the valid ones', () => {
    expect(() => parseConfig(sinks('  - { type: slack, url: env:S, events: [grant.requestd] }'))).toThrow(
      /notifications\.0\.events\.0: unknown event "grant\.requestd": must be one of grant\.requested, grant\.approved, grant\.denied, grant\.revoked, grant\.expired, grant\.cancelled, approval\.requested, approval\.approved, approval\.denied/,
    );
  });

  it('refuses a URL that is not http(s), a literal webhook secret, and a missing secret', () => {
    expect(() => parseConfig(sinks('  - { type: slack, url: file-not-a-ref, events: [grant.requested] }'))).toThrow(/http:\/\/ or https:\/\/ URL/);
    expect(() => parseConfig(sinks('  - { type: slack, url: "ftp://x.example/hook", events: [grant.requested] }'))).toThrow(/http:\/\/ or https:\/\/ URL/);
    expect(() => parseConfig(sinks('  - { type: webhook, url: "https://x.example", secret: hunter2, events: [grant.requested] }'))).toThrow(
      /notifications\.0\.secret: must be a secret reference/,
    );
    expect(() => parseConfig(sinks('  - { type: webhook, url: "https://x.example", events: [grant.requested] }'))).toThrow(/notifications\.0\.secret: is required/);
    expect(() => parseConfig('console_url: gate.example\n')).toThrow(/console_url: must be an http:\/\/ or https:\/\/ URL/);
  });

  it('two sinks with the same name are refused (the outbox and gate status key on it)', () => {
    expect(() =>
      parseConfig(sinks('  - { type: slack, name: ops, url: env:A, events: [grant.requested] }\n  - { type: slack, name: ops, url: env:B, events: [grant.requested] }')),
    ).toThrow(/sink name ops is used twice/);
  });
});

describe('Slack formatting', () => {
  it('escapes what mrkdwn would read as a link, mention or entity', () => {
    expect(escapeMrkdwn('<!channel> & <https://evil.example|click>')).toBe('&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;');
  });
  it('shows durations as people write them', () => {
    expect([3600, 1800, 5400, 45, 0, 90061].map(formatSeconds)).toEqual(['1h', '30m', '1h30m', '45s', '0s', '1d1h1m1s']);
  });
});
