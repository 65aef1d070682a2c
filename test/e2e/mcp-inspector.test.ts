import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { GATE_BIN, gateEnv } from '../helpers/gate-bin.js';
import { type Stack, startStack } from '../helpers/stack.js';

// The MCP Inspector's CLI mode, a client nobody on the team wrote, against the built `gate mcp`.

const INSPECTOR = resolve(import.meta.dirname, '../../node_modules/@modelcontextprotocol/inspector-cli/build/cli.js');

let stack: Stack;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  stack = await startStack({
    configYaml: `
targets:
  cache:
    type: tcp
    address: 127.0.0.1:6379
    description: the session cache
policies:
  - { name: eng, groups: [engineering], targets: [cache], roles: [default], approval: auto }
`,
  });
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: await stack.loginAs('alice') });
});

afterAll(async () => {
  await stack?.close();
  await rm(env.GATE_CONFIG_DIR!, { recursive: true, force: true });
});

function inspector(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const pass = ['GATE_SERVER', 'GATE_TOKEN', 'GATE_CONFIG_DIR', 'GATE_CREDENTIAL_STORE'].flatMap((k) => ['-e', `${k}=${env[k]}`]);
  return new Promise((done) => {
    execFile(
      process.execPath,
      [INSPECTOR, '--cli', ...pass, process.execPath, GATE_BIN, 'mcp', ...args],
      // The inspector looks for its package.json relative to the working directory (its build dir).
      { env: { PATH: process.env.PATH, HOME: process.env.HOME }, cwd: dirname(INSPECTOR), timeout: 60_000 },
      (err, stdout, stderr) => done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test("the Inspector lists gate mcp's tools", async () => {
  const r = await inspector(['--method', 'tools/list']);
  expect(r.code, r.stderr).toBe(0);
  const names = (JSON.parse(r.stdout).tools as { name: string }[]).map((t) => t.name);
  expect(names).toEqual(expect.arrayContaining(['gate_targets', 'gate_request_access', 'gate_grant_status', 'gate_sql', 'gate_schema', 'gate_kubectl']));
});

test('the Inspector calls gate_targets and gets the targets it may use', async () => {
  const r = await inspector(['--method', 'tools/call', '--tool-name', 'gate_targets']);
  expect(r.code, r.stderr).toBe(0);
  const result = JSON.parse(r.stdout) as { isError?: boolean; structuredContent: { targets: { name: string; type: string; description: string }[] } };
  expect(result.isError).toBeFalsy();
  expect(result.structuredContent.targets).toEqual([expect.objectContaining({ name: 'cache', type: 'tcp', description: 'the session cache' })]);
});
