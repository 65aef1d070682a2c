import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { TOPICS } from '../../src/cli/topics/index.js';
import { runCliWith } from '../helpers/cli-run.js';

describe('help topics', () => {
  test('gate help agents says what docs/agents.md says', () => {
    const doc = readFileSync(new URL('../../docs/agents.md', import.meta.url), 'utf8');
    expect(doc.split('\n').slice(2).join('\n').trim()).toBe(TOPICS.agents!.text());
  });

  test('gate help exit-codes lists every documented code', () => {
    const text = TOPICS['exit-codes']!.text();
    for (const code of ['0', '1', '2', '4', '5', '8']) expect(text).toMatch(new RegExp(`^\\s+${code}\\s`, 'm'));
  });

  test('every environment variable gate reads is in what `gate help environment` prints', async () => {
    const shown = await runCliWith(['help', 'environment']);
    expect(shown.code, shown.stderr).toBe(0);
    const printed = shown.stdout;
    // The variables src/env.ts really reads (not the list it documents them with)...
    const envTs = readFileSync(new URL('../../src/env.ts', import.meta.url), 'utf8');
    const read = new Set([...envTs.matchAll(/\benv(?:\.|\[')([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!));
    expect(read.size).toBeGreaterThan(10);
    // ...and every GATE_ variable named anywhere in src/, bar the ones gate sets for wrapped tools or uses as codes.
    const named = execSync("grep -rhoE 'GATE_[A-Z_]+' src | sort -u", { encoding: 'utf8' }).split('\n').filter(Boolean);
    const internal = /^GATE_(ERR_|TARGET_|SESSION_ID|GRANT_ID|AUDIENCE$)/;
    const missing = [...read, ...named.filter((n) => !internal.test(n))].filter((name) => !new RegExp(`^\\s*${name}\\b`, 'm').test(printed));
    expect(missing, `read by gate but not in \`gate help environment\`:\n${printed}`).toEqual([]);
  });
});
