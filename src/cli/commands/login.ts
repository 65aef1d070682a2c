import { spawn } from 'node:child_process';
import { type Command, Option } from 'commander';
import { createClient } from '../../api/client.js';
import { serverConfigResponse } from '../../api/wire.js';
import { type CredentialStore, type Credentials, fileStore, openCredentialStore } from '../../auth/credentials.js';
import { type DeviceCode, deviceLogin } from '../../auth/device-login.js';
import { exchangeIdToken } from '../../auth/exchange.js';
import { githubActionsLogin, readIdToken } from '../../auth/workload.js';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { canPrompt } from '../io.js';
import { emitEvent, say } from '../output.js';
import { writeSettings } from '../settings.js';

export interface LoginOptions {
  server?: string;
  browser: boolean;
  json: boolean;
}

/** Flags of the non-interactive workload login (`--id-token`, `--github-actions`). */
export interface WorkloadLoginOptions {
  server?: string;
  json?: boolean;
  /** A file holding the job's OIDC token, or `-` for stdin. */
  idToken?: string;
  githubActions?: boolean;
  audience?: string;
  /** Print only the gate token on stdout and store nothing (unless `store` is given too). */
  printToken?: boolean;
  store?: 'file' | 'keychain';
}

export function registerLogin(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .summary('sign in to a gate server with your identity provider')
    .description(
      'Sign in with an OIDC device-code login (RFC 8628): gate shows a one-time code and a URL,\n' +
        'you confirm in any browser, and the credentials go to the OS keychain\n' +
        '(or a 0600 file where no keychain exists).\n\n' +
        'CI jobs log in without a person: --github-actions asks the runner for the job\'s OIDC token,\n' +
        '--id-token reads one your platform already gave the job (a file, or - for stdin). The server\n' +
        'accepts it under an identity.workloads trust rule. With --print-token only the gate token is\n' +
        'printed (nothing stored); otherwise it goes to --store (in CI: the 0600 file store).\n\n' +
        'Examples:\n' +
        '  $ gate login --server https://gate.example.com\n' +
        '  $ gate login --no-browser --json\n' +
        '  $ export GATE_TOKEN=$(gate login --github-actions --print-token)\n' +
        '  $ gate login --id-token "$CI_JOB_JWT_FILE" --store file',
    )
    .option('--server <url>', 'gate server URL (default: GATE_SERVER, then the last one used)')
    .option('--no-browser', 'do not offer to open a browser')
    .option('--json', 'write NDJSON events on stdout')
    .option('--id-token <file>', "exchange a CI job's OIDC token read from FILE (- for stdin)")
    .option('--github-actions', "fetch the GitHub Actions job's OIDC token and exchange it")
    .option('--audience <aud>', 'audience to request with --github-actions (default: the server\'s workload audience)')
    .option('--print-token', 'print only the gate token on stdout; store nothing')
    .addOption(new Option('--store <where>', 'where --id-token/--github-actions keep the gate token').choices(['file', 'keychain']))
    .action(async (opts: LoginOptions & WorkloadLoginOptions) => {
      if (opts.idToken !== undefined || opts.githubActions) {
        await workloadLogin(ctx, opts);
        return;
      }
      for (const flag of ['audience', 'printToken', 'store'] as const) {
        if (opts[flag] !== undefined) throw new UsageError(`--${flag === 'printToken' ? 'print-token' : flag} goes with --id-token or --github-actions.`);
      }
      await login(ctx, opts);
    });
}

/** Runs the device login and stores the resulting credentials. Returns them (without printing tokens). */
export async function login(ctx: CliContext, opts: LoginOptions): Promise<Credentials> {
  const server = await ctx.server(opts.server);
  const anon = createClient({ server });
  const config = await anon.call('GET', '/v1/config', serverConfigResponse, { anonymous: true, signal: ctx.signal });
  const { issuer, client_id: clientId } = config;
  if (!issuer || !clientId) {
    throw new UsageError(`The gate server at ${server} has no identity provider for people (identity.oidc).`, {
      hint: 'CI jobs log in with `gate login --github-actions` or `--id-token FILE`; scripts use a service token in GATE_TOKEN.',
    });
  }
  const interactive = canPrompt(ctx.io, ctx.env, ctx.noInput) && !opts.json;
  let stopWaiting: (() => void) | undefined;
  const result = await deviceLogin({
    issuer,
    clientId,
    scopes: config.scopes,
    signal: ctx.signal,
    onCode: (code) => {
      if (opts.json) {
        emitEvent(ctx.io, 'device_code', {
          user_code: code.user_code,
          verification_uri: code.verification_uri,
          verification_uri_complete: code.verification_uri_complete,
          expires_in: code.expires_in,
        });
        return;
      }
      showCode(ctx, code);
      if (interactive && opts.browser) stopWaiting = offerBrowser(ctx, code.verification_uri_complete ?? code.verification_uri);
      else say(ctx.io, 'Waiting for you to confirm in the browser…');
    },
  }).finally(() => stopWaiting?.());
  const exchanged = await exchangeIdToken(anon, result.idToken, ctx.signal);
  const creds: Credentials = {
    server,
    access_token: exchanged.access_token,
    expires_at: new Date(ctx.now().getTime() + exchanged.expires_in * 1000).toISOString(),
    refresh_token: result.refreshToken,
    issuer,
    client_id: clientId,
    user: exchanged.user,
  };
  await (await ctx.credentials()).set(creds);
  await writeSettings(ctx.env.configDir, { server });
  const user = exchanged.user;
  if (opts.json) {
    emitEvent(ctx.io, 'logged_in', { user, server, expires_at: creds.expires_at });
  } else {
    say(ctx.io, `${ctx.style.green('✓')} Logged in as ${ctx.style.bold(user.sub)}${user.email ? ` (${user.email})` : ''} to ${server}`);
  }
  return creds;
}

/**
 * Logs a workload in: its platform's OIDC token in, a gate token out. No
 * refresh token exists, so the next login is simply another exchange.
 */
export async function workloadLogin(ctx: CliContext, opts: WorkloadLoginOptions): Promise<Credentials> {
  if (opts.idToken !== undefined && opts.githubActions) throw new UsageError('Pass either --id-token or --github-actions, not both.');
  if (opts.audience !== undefined && !opts.githubActions) throw new UsageError('--audience goes with --github-actions (an --id-token already names its audience).');
  const server = await ctx.server(opts.server);
  const exchanged = opts.githubActions
    ? await githubActionsLogin({
        server,
        requestUrl: ctx.env.actionsTokenUrl,
        requestToken: ctx.env.actionsTokenRequest,
        audience: opts.audience,
        signal: ctx.signal,
      })
    : await exchangeIdToken(createClient({ server }), await readIdToken(opts.idToken!, ctx.io.stdin), ctx.signal);
  const creds: Credentials = {
    server,
    access_token: exchanged.access_token,
    expires_at: new Date(ctx.now().getTime() + exchanged.expires_in * 1000).toISOString(),
    user: exchanged.user,
  };
  const user = exchanged.user;
  if (opts.printToken) ctx.io.stdout.write(`${exchanged.access_token}\n`);
  let store: CredentialStore | undefined;
  if (opts.store === 'file') store = fileStore(ctx.env.configDir);
  else if (opts.store === 'keychain') store = await openCredentialStore({ configDir: ctx.env.configDir, mode: 'keychain', warn: () => {} });
  else if (!opts.printToken && (ctx.env.ci || ctx.env.credentialStore === 'file')) {
    // A CI runner has no keychain worth probing; the file dies with the runner.
    store = fileStore(ctx.env.configDir);
    if (ctx.env.credentialStore !== 'file') say(ctx.io, `note: CI is set, so the gate token is kept in ${store.location} (pass --print-token to keep it out of files).`);
  } else if (!opts.printToken) store = await ctx.credentials();
  if (store) {
    await store.set(creds);
    await writeSettings(ctx.env.configDir, { server });
  }
  const label = `${user.sub}${user.workload ? ` (workload rule ${user.workload})` : ''}`;
  if (opts.json && !opts.printToken) emitEvent(ctx.io, 'logged_in', { user, server, expires_at: creds.expires_at, stored: store?.kind ?? null });
  else say(ctx.io, `${ctx.style.green('✓')} Logged in as ${ctx.style.bold(label)} to ${server}, until ${creds.expires_at}`);
  return creds;
}

function showCode(ctx: CliContext, code: DeviceCode): void {
  const { style } = ctx;
  say(ctx.io, `${style.yellow('!')} First copy your one-time code: ${style.bold(code.user_code)}`);
  say(ctx.io, `Then open ${style.cyan(code.verification_uri)} in a browser and enter it.`);
  if (code.verification_uri_complete) say(ctx.io, `Or open this URL, which carries the code: ${code.verification_uri_complete}`);
}

/** On a TTY: "Press Enter to open the browser", while polling goes on. Returns a function that stops listening. */
function offerBrowser(ctx: CliContext, url: string): () => void {
  const { stdin } = ctx.io;
  say(ctx.io, `Press ${ctx.style.bold('Enter')} to open the browser, or confirm on any device; waiting…`);
  const onData = (chunk: Buffer) => {
    if (!chunk.includes(10) && !chunk.includes(13)) return;
    stop();
    openBrowser(url, (why) => {
      say(ctx.io, `${ctx.style.yellow('!')} No browser could be opened here (${why}).`);
      say(ctx.io, `Open this URL in a browser on any device: ${url}`);
    });
  };
  const stop = () => {
    stdin.off('data', onData);
    stdin.pause();
  };
  stdin.on('data', onData);
  stdin.resume();
  return stop;
}

/** Hands the URL to the desktop's opener; `failed` says why when there is none, or it found no browser. */
export function openBrowser(url: string, failed: (why: string) => void, opener?: string): void {
  const cmd = opener ?? (process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open');
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', (err: NodeJS.ErrnoException) => failed(err.code === 'ENOENT' ? `${cmd} is not installed` : err.message));
    // xdg-open exits non-zero when it finds no browser to hand the URL to.
    child.on('exit', (code) => {
      if (code) failed(`${cmd} exited with code ${code}`);
    });
    child.unref();
  } catch (err) {
    failed((err as Error).message);
  }
}
