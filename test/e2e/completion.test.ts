import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { createServiceToken } from '../../src/server/service-tokens.js';
import { GATE_BIN, gateEnv, runGate } from '../helpers/gate-bin.js';

const run = promisify(execFile);

/** Completion scripts from the built CLI, run in real bash, zsh and fish, with a real server behind `gate __complete`. */
describe('shell completions', () => {
  let server: GateServer;
  let url: string;
  let dataDir: string;
  let binDir: string;
  let env: NodeJS.ProcessEnv;
  let scripts: { bash: string; zsh: string; fish: string };
  let hanging: Server;
  let hangingUrl: string;
  const held: Socket[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gate-compl-'));
    const config = parseConfig(
      `targets:
  orders-db: { type: tcp, address: '127.0.0.1:9' }
  billing-db: { type: tcp, address: '127.0.0.1:9' }
  secret-db: { type: tcp, address: '127.0.0.1:9' }
policies:
  - { name: ci, groups: [ci], targets: [orders-db, billing-db], roles: [default] }
`,
      '(test config)',
    );
    server = await buildServer({ config, dataDir, logger: createLogger({ level: 'silent' }) });
    url = await server.listen({ port: 0 });
    const { token } = await createServiceToken(server.ctx, { name: 'completer', groups: ['ci'], ttl: '1d', creator: 'test', creatorKey: 'user:test#test' });

    // `gate` on PATH is the built CLI, as the scripts call it.
    binDir = await mkdtemp(join(tmpdir(), 'gate-bin-'));
    await writeFile(join(binDir, 'gate'), `#!/bin/sh\nexec "${process.execPath}" "${GATE_BIN}" "$@"\n`);
    await chmod(join(binDir, 'gate'), 0o755);
    env = await gateEnv({ PATH: `${binDir}:${process.env.PATH}`, GATE_SERVER: url, GATE_TOKEN: token });

    scripts = { bash: join(binDir, 'gate.bash'), zsh: join(binDir, '_gate'), fish: join(binDir, 'gate.fish') };
    for (const shell of ['bash', 'zsh', 'fish'] as const) {
      const res = await runGate(['completion', shell], { env });
      expect(res.code, res.stderr).toBe(0);
      await writeFile(scripts[shell], res.stdout);
    }

    // A server that accepts connections and never answers.
    hanging = createServer((socket) => {
      held.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => (hanging ? hanging.close(() => r()) : r()));
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(binDir, { recursive: true, force: true });
  });

  async function bash(words: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string[]> {
    const script = `source ${scripts.bash}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _gate; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const { stdout } = await run('bash', ['-c', script], { env: { ...env, ...extraEnv } });
    return stdout.split('\n').filter(Boolean);
  }

  /** Calls _gate with a stubbed compadd that prints what zsh would offer for the current prefix. */
  async function zsh(words: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string[]> {
    const script = `source ${scripts.zsh}
compadd() { while (( $# )) && [[ $1 != -- ]]; do shift; done; shift; local w; for w in "$@"; do [[ $w == \${PREFIX}* ]] && print -r -- $w; done; return 0 }
words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; PREFIX='${words.at(-1)}'
_gate`;
    const { stdout } = await run('zsh', ['-f', '-c', script], { env: { ...env, ...extraEnv } });
    return stdout.split('\n').filter(Boolean);
  }

  async function fish(line: string): Promise<string[]> {
    const { stdout } = await run('fish', ['--no-config', '-c', `source ${scripts.fish}; complete -C'${line}'`], { env });
    return stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0]!);
  }

  test('commands and flags complete in bash, zsh and fish', async () => {
    expect(await bash(['gate', 're'])).toEqual(['request', 'revoke']);
    expect(await bash(['gate', 'token', ''])).toEqual(expect.arrayContaining(['create', 'ls', 'revoke']));
    expect(await bash(['gate', 'token', 'create', '--n'])).toEqual(['--name']);
    expect(await bash(['gate', 'login', '--git'])).toEqual(['--github-actions']);

    expect(await zsh(['gate', 're'])).toEqual(['request', 'revoke']);
    expect(await zsh(['gate', 'login', '--pr'])).toEqual(['--print-token']);
    expect(await zsh(['gate', 'token', 'revoke', '--'])).toEqual(expect.arrayContaining(['--yes', '--json']));

    expect(await fish('gate re')).toEqual(expect.arrayContaining(['request', 'revoke']));
    expect(await fish('gate token ')).toEqual(expect.arrayContaining(['create', 'ls', 'revoke']));
    expect(await fish('gate login --id')).toEqual(['--id-token']);
  });

  test('target names come from the server (only those the caller may request), in every shell', async () => {
    expect((await bash(['gate', 'request', ''])).sort()).toEqual(['billing-db', 'orders-db']);
    expect(await bash(['gate', 'request', 'or'])).toEqual(['orders-db']);
    expect((await zsh(['gate', 'request', ''])).sort()).toEqual(['billing-db', 'orders-db']);
    expect((await fish('gate request ')).sort()).toEqual(['billing-db', 'orders-db']);
    // The answer is cached in the config dir for the next TAB.
    const cache = JSON.parse(await readFile(join(env.GATE_CONFIG_DIR!, 'completion-cache.json'), 'utf8'));
    expect(cache[`${url} targets`].values.sort()).toEqual(['billing-db', 'orders-db']);
  });

  test('grant ids come from the server', async () => {
    const res = await runGate(['request', 'orders-db', '--for', '10m', '--json', '--no-wait'], { env });
    expect(res.code, res.stderr).toBe(0);
    const { grants } = (await (await fetch(`${url}/v1/grants`, { headers: { authorization: `Bearer ${env.GATE_TOKEN}` } })).json()) as {
      grants: { id: string }[];
    };
    expect(grants.length).toBeGreaterThan(0);
    const ids = await bash(['gate', 'revoke', ''], { GATE_CONFIG_DIR: await mkdtemp(join(tmpdir(), 'gate-cfg-')) });
    expect(ids).toEqual(expect.arrayContaining(grants.map((g) => g.id)));
  });

  test('a server that never answers: gate gives up on its own, with the stale cache or nothing', async () => {
    // How long it takes is measured by bench/completion.js; here only what the shell gets.
    const cold = await mkdtemp(join(tmpdir(), 'gate-cfg-'));
    expect(await bash(['gate', 'request', ''], { GATE_SERVER: hangingUrl, GATE_CONFIG_DIR: cold })).toEqual([]);

    // A stale cache (older than the 60 s TTL) for that server is served when the server does not answer.
    await writeFile(join(cold, 'completion-cache.json'), JSON.stringify({ [`${hangingUrl} targets`]: { at: Date.now() - 3_600_000, values: ['stale-db'] } }));
    // Through the script, timeout(1) would turn a hang into an empty answer: the stale value shows gate answered.
    expect(await bash(['gate', 'request', ''], { GATE_SERVER: hangingUrl, GATE_CONFIG_DIR: cold })).toEqual(['stale-db']);
    // Directly, with no timeout(1) around it: gate ends by itself (no signal), exit 0, quietly.
    const direct = await runGate(['__complete', 'targets'], { env: { ...env, GATE_SERVER: hangingUrl, GATE_CONFIG_DIR: cold }, timeoutMs: 30_000 });
    expect(direct.signal).toBeNull();
    expect(direct.code).toBe(0);
    expect(direct.stdout).toBe('stale-db\n');
    expect(direct.stderr).toBe('');
  });

  test('__complete prints nothing when there is no server or no token', async () => {
    const res = await runGate(['__complete', 'grants'], { env: await gateEnv() });
    expect(res).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });
});
