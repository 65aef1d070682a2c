import { once } from 'node:events';
import type { Command } from 'commander';
import {
  type SessionShowResponse,
  type SessionWire,
  sessionListResponse,
  sessionShowResponse,
  sessionVerifyResponse,
} from '../../api/wire-sessions.js';
import { ExitCode, UsageError } from '../../errors.js';
import { playCast } from '../../record/player.js';
import type { CliContext } from '../context.js';
import { describeEvent } from '../describe-event.js';
import { printJson, printTable, say, timeCell } from '../output.js';
import { flushPendingRecordings } from '../pending-recordings.js';
import { resolveId } from '../short-id.js';
import { parseSince } from './audit.js';

export interface ListSessionsOptions {
  server: string;
  target?: string;
  user?: string;
  since?: Date;
  limit?: number;
}

/** Sessions the caller may see, newest first, after uploading any recording an earlier run left behind. */
export async function listSessions(ctx: CliContext, opts: ListSessionsOptions): Promise<SessionWire[]> {
  await flushPendingRecordings(ctx, opts.server);
  const query = { target: opts.target, user: opts.user, since: opts.since?.toISOString(), limit: opts.limit };
  const { sessions } = await ctx.client(opts.server).call('GET', '/v1/sessions', sessionListResponse, { query, signal: ctx.signal });
  return sessions;
}

/** One session's metadata and the gateway's audit events that carry its id. */
export async function showSession(ctx: CliContext, server: string, id: string): Promise<SessionShowResponse> {
  return ctx.client(server).call('GET', `/v1/sessions/${encodeURIComponent(id)}`, sessionShowResponse, { signal: ctx.signal });
}

/** The session's recording as stored (asciicast v2 bytes). */
export async function fetchRecording(ctx: CliContext, server: string, id: string): Promise<Buffer> {
  const res = await ctx.client(server).raw('GET', recordingPath(id), { signal: ctx.signal });
  return res.body;
}

const recordingPath = (id: string) => `/v1/sessions/${encodeURIComponent(id)}/recording`;

const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`);
const exitOf = (s: SessionWire) => (!s.closed ? 'running' : s.exit_code === null ? '?' : String(s.exit_code));

function positiveNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`${flag} must be a positive number, got ${JSON.stringify(value)}.`);
  return n;
}

export function registerSessions(program: Command, ctx: CliContext): void {
  const sessions = program
    .command('sessions')
    .summary('list, show, replay and export recorded sessions')
    .description(
      'List recorded sessions, newest first: your own, plus those on targets you approve (admins: all).\n' +
        'Recordings an earlier gate run could not upload are sent first.\n\n' +
        'Examples:\n  $ gate sessions --since 1h\n  $ gate sessions --target db-prod --json\n' +
        '  $ gate sessions show 2f1c…\n  $ gate sessions play 2f1c… --speed 2 --idle-limit 1\n  $ gate sessions export 2f1c… > session.cast\n' +
        '  $ gate sessions verify 2f1c…',
    )
    .option('--target <name>', 'only sessions on this target')
    .option('--user <sub>', 'only sessions of this user')
    .option('--since <when>', 'only sessions started since a duration ago (1h) or an ISO time')
    .option('--limit <n>', 'at most this many (newest)', '100')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (opts: { target?: string; user?: string; since?: string; limit: string; server?: string; json?: boolean }) => {
      const server = await ctx.server(opts.server);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive whole number, got ${JSON.stringify(opts.limit)}.`);
      const since = opts.since ? parseSince(opts.since, ctx.now()) : undefined;
      const list = await listSessions(ctx, { server, target: opts.target, user: opts.user, since, limit });
      if (opts.json) {
        printJson(ctx.io, { sessions: list });
        return;
      }
      const rows = list.map((s) => [
        s.id,
        timeCell(ctx.io, s.started_at, ctx.now()),
        s.user,
        s.target,
        s.kind === 'mcp' ? `${s.command} [mcp${s.client ? ` ${s.client}` : ''}]` : s.command,
        exitOf(s) + (s.incomplete ? ' (incomplete)' : ''),
        seconds(s.duration_ms),
      ]);
      printTable(ctx.io, ['id', 'started', 'user', 'target', 'command', 'exit', 'duration'], rows);
    });

  // The parent's --server/--json also match after a subcommand: read both.
  const merged = <T extends object>(own: T) => ({ ...sessions.opts(), ...own }) as T & { server?: string; json?: boolean };

  sessions
    .command('show')
    .argument('<id>', 'session id')
    .summary('show a session and what the gateway saw during it')
    .description(
      "Print a session's metadata and the gateway's audit events that carry its id (SQL statements, Kubernetes requests).\n\n" +
        'Examples:\n  $ gate sessions show 2f1c…\n  $ gate sessions show 2f1c… --json',
    )
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (id: string, own: { server?: string; json?: boolean }) => {
      const opts = merged(own);
      const server = await ctx.server(opts.server);
      const shown = await showSession(ctx, server, await resolveId(ctx, server, id, ['session']));
      if (opts.json) {
        printJson(ctx.io, shown);
        return;
      }
      const s = shown.session;
      const fields: [string, string][] = [
        ['session', s.id],
        ['target', s.target],
        ['user', s.user],
        ['grant', s.grant_id],
        ['command', s.command],
        ['started', s.started_at],
        ['ended', s.ended_at ?? '-'],
        ['exit', exitOf(s)],
        ['duration', seconds(s.duration_ms)],
        ['recording', `${s.bytes} bytes in ${s.chunks} chunks${s.incomplete ? ', incomplete (gate stopped before the tool did)' : ''}`],
      ];
      if (s.kind === 'mcp') fields.splice(1, 0, ['kind', 'mcp'], ['client', s.client ?? '-']);
      if (s.correlation_id) fields.push(['correlation', s.correlation_id]);
      const width = Math.max(...fields.map(([k]) => k.length));
      for (const [k, v] of fields) ctx.io.stdout.write(`${k.padEnd(width)}  ${v}\n`);
      ctx.io.stdout.write('\n');
      const gateway = shown.events.filter((e) => !e.action.startsWith('session.'));
      if (gateway.length === 0) {
        say(ctx.io, 'The gateway recorded no events for this session.');
        return;
      }
      printTable(
        ctx.io,
        ['time', 'actor', 'action', 'result', 'what'],
        // The actor of every event: the timeline holds only the owner's, and says so.
        gateway.map((e) => [e.time, actorOf(e), e.action, e.result, describeEvent(e.details)]),
      );
    });

  sessions
    .command('play')
    .argument('<id>', 'session id')
    .summary('replay a recording in the terminal')
    .description(
      'Replay what the terminal showed, with the original timing.\n\n' +
        'Examples:\n  $ gate sessions play 2f1c…\n  $ gate sessions play 2f1c… --speed 4 --idle-limit 0.5',
    )
    .option('--speed <n>', 'play this many times faster', '1')
    .option('--idle-limit <seconds>', 'cap pauses at this many seconds')
    .option('--server <url>', 'gate server URL')
    .action(async (id: string, own: { speed: string; idleLimit?: string; server?: string }) => {
      const opts = merged(own);
      const speed = positiveNumber('--speed', opts.speed) ?? 1;
      const idleLimit = positiveNumber('--idle-limit', opts.idleLimit);
      const server = await ctx.server(opts.server);
      const cast = await fetchRecording(ctx, server, await resolveId(ctx, server, id, ['session']));
      await playCast(cast.toString('utf8'), ctx.io.stdout, { speed, idleLimit, signal: ctx.signal });
    });

  sessions
    .command('verify')
    .argument('<id>', 'session id')
    .summary("check a recording's hash chain as stored")
    .description(
      "Recompute the stored recording's hash chain on the server, chunk by chunk, and check that every chunk the upload\n" +
        'acknowledged is still there. Exits 1 naming the first chunk that does not verify (bytes changed, moved or cut).\n\n' +
        'Examples:\n  $ gate sessions verify 2f1c…\n  $ gate sessions verify 2f1c… --json',
    )
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (id: string, own: { server?: string; json?: boolean }) => {
      const opts = merged(own);
      const server = await ctx.server(opts.server);
      const sid = await resolveId(ctx, server, id, ['session']);
      const result = await ctx.client(server).call('GET', `/v1/sessions/${encodeURIComponent(sid)}/verify`, sessionVerifyResponse, { signal: ctx.signal });
      if (opts.json) printJson(ctx.io, result);
      if (!result.ok) ctx.exitCode = ExitCode.failure;
      if (opts.json) return;
      const state = !result.closed ? ' (still running)' : result.incomplete ? ' (incomplete: gate stopped before the tool did)' : '';
      if (result.ok) {
        say(ctx.io, `${ctx.style.green('✓')} Recording of session ${result.session_id} intact: ${result.chunks} chunks verified${state}.`);
        return;
      }
      if (result.broken_at_seq !== null) {
        say(ctx.io, `${ctx.style.red('✗')} Recording of session ${result.session_id} broken at chunk ${result.broken_at_seq} of ${result.chunks}: its bytes, place or link differ from what was uploaded.`);
      }
      if (result.missing > 0) {
        say(ctx.io, `${ctx.style.red('✗')} Recording of session ${result.session_id} lacks ${result.missing} chunks that were uploaded and acknowledged.`);
      }
    });

  sessions
    .command('export')
    .argument('<id>', 'session id')
    .summary('write a recording to stdout as asciicast v2')
    .description(
      'Write the recording exactly as stored (asciicast v2), for asciinema or an archive.\n\n' +
        'Examples:\n  $ gate sessions export 2f1c… > session.cast\n  $ gate sessions export 2f1c… | asciinema cat /dev/stdin',
    )
    .option('--server <url>', 'gate server URL')
    .action(async (id: string, own: { server?: string }) => {
      const opts = merged(own);
      const server = await ctx.server(opts.server);
      // Streamed: a long session's recording can be hundreds of MB.
      const cast = await ctx.client(server).download(recordingPath(await resolveId(ctx, server, id, ['session'])), { signal: ctx.signal });
      const out = ctx.io.stdout;
      for await (const piece of cast) {
        if (!out.write(piece)) await once(out, 'drain', { signal: ctx.signal });
      }
      await new Promise<void>((resolve, reject) => out.write('', (err) => (err ? reject(err) : resolve())));
    });
}

/** Who did an event, as `gate sessions show` prints it: the subject and, when not a person, its kind. */
function actorOf(e: { actor: string | null; actor_kind: string | null }): string {
  if (!e.actor) return e.actor_kind ?? '-';
  return e.actor_kind && e.actor_kind !== 'user' ? `${e.actor} (${e.actor_kind})` : e.actor;
}
