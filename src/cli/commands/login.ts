import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { serverConfigResponse } from '../../api/wire.js';
import { createClient } from '../../api/client.js';
import type { Credentials } from '../../auth/credentials.js';
import { type DeviceCode, deviceLogin } from '../../auth/device-login.js';
import { exchangeIdToken } from '../../auth/exchange.js';
import type { CliContext } from '../context.js';
import { canPrompt } from '../io.js';
import { emitEvent, say } from '../output.js';
import { writeSettings } from '../settings.js';

export interface LoginOptions {
  server?: string;
  browser: boolean;
  json: boolean;
}

export function registerLogin(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .summary('sign in to a gate server with your identity provider')
    .description(
      'Sign in with an OIDC device-code login (RFC 8628): gate shows a one-time code and a URL,\n' +
        'you confirm in any browser, and the credentials go to the OS keychain\n' +
        '(or a 0600 file where no keychain exists).\n\n' +
        'Examples:\n' +
        '  $ gate login --server https://gate.example.com\n' +
        '  $ gate login --no-browser --json',
    )
    .option('--server <url>', 'gate server URL (default: GATE_SERVER, then the last one used)')
    .option('--no-browser', 'do not offer to open a browser')
    .option('--json', 'write NDJSON events on stdout')
    .action(async (opts: LoginOptions) => {
      await login(ctx, opts);
    });
}

/** Runs the device login and stores the resulting credentials. Returns them (without printing tokens). */
export async function login(ctx: CliContext, opts: LoginOptions): Promise<Credentials> {
  const server = await ctx.server(opts.server);
  const anon = createClient({ server });
  const config = await anon.call('GET', '/v1/config', serverConfigResponse, { anonymous: true, signal: ctx.signal });
  const interactive = canPrompt(ctx.io, ctx.env) && !opts.json;
  let stopWaiting: (() => void) | undefined;
  const result = await deviceLogin({
    issuer: config.issuer,
    clientId: config.client_id,
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
    issuer: config.issuer,
    client_id: config.client_id,
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
    openBrowser(url);
  };
  const stop = () => {
    stdin.off('data', onData);
    stdin.pause();
  };
  stdin.on('data', onData);
  stdin.resume();
  return stop;
}

function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No opener: the URL is on screen already.
  }
}
