import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ENVIRONMENT } from '../../src/env.js';
import { TOPICS } from '../../src/cli/topics/index.js';

describe('help topics', () => {
  test('gate help agents says what docs/agents.md says', () => {
    const doc = readFileSync(new URL('../../docs/agents.md', import.meta.url), 'utf8');
    expect(doc.split('\n').slice(2).join('\n').trim()).toBe(TOPICS.agents!.text());
  });

  test('gate help exit-codes lists every documented code', () => {
    const text = TOPICS['exit-codes']!.text();
    for (const code of ['0', '1', '2', '4', '5', '8']) expect(text).toMatch(new RegExp(`^\\s+${code}\\s`, 'm'));
  });

  test('every environment variable gate reads is in gate help environment', () => {
    const text = TOPICS.environment!.text();
    for (const [name] of ENVIRONMENT) expect(text).toContain(name);
    // And nothing in src/ reads an undocumented GATE_ variable.
    const used = new Set(execSync("grep -rhoE 'GATE_[A-Z_]+' src | sort -u", { encoding: 'utf8' }).split('\n').filter(Boolean));
    const documented = new Set<string>(ENVIRONMENT.map(([n]) => n));
    const internal = /^GATE_(ERR_|TARGET_|SESSION_ID|GRANT_ID|AUDIENCE$)/;
    for (const name of used) if (!internal.test(name) && !documented.has(name)) throw new Error(`${name} is read in src/ but not documented in src/env.ts`);
  });
});
