import type { GrantWire } from '../api/wire-grants.js';
import { formatDuration } from '../config/duration.js';
import type { CliContext } from './context.js';
import type { GrantEventName } from './grant-flow.js';
import { emitEvent, say } from './output.js';
import { waitingLine } from './waiting-line.js';

/**
 * The `onEvent` for ensureGrant used by connect, exec, psql and kubectl:
 * NDJSON events with --json, otherwise short lines on stderr (stdout belongs
 * to the data or to the wrapped tool), with the ink spinner while waiting
 * on a terminal. Call `stop` when the wait ends without an event.
 */
export function grantProgress(
  ctx: CliContext,
  json: boolean,
  asked?: string,
): ((name: GrantEventName, fields: Record<string, unknown>) => void) & { stop(): void } {
  let stopWaiting = () => {};
  const stop = () => {
    stopWaiting();
    stopWaiting = () => {};
  };
  const onEvent = (name: GrantEventName, fields: Record<string, unknown>) => {
    if (json) {
      emitEvent(ctx.io, name, fields);
      return;
    }
    // On a terminal the ink spinner shows the wait goes on; it is gone before the next line (or the wrapped tool).
    stop();
    const g = fields.grant as GrantWire | undefined;
    switch (name) {
      case 'requested':
        if (g?.duration_capped) say(ctx.io, ctx.style.yellow(cappedMessage(g, asked)));
        break;
      case 'waiting_approval':
        say(ctx.io, `Grant ${fields.grant_id} needs approval by ${(fields.approvers as string[]).join(', ')}; waiting (an approver runs \`gate approve ${fields.grant_id}\`)…`);
        if (ctx.io.stderr.isTTY) stopWaiting = waitingLine(ctx.io, ctx.style.enabled, 'Waiting for approval…');
        break;
      case 'approved':
        say(ctx.io, `${ctx.style.green('✓')} Access granted: ${g?.target}/${g?.role} until ${g?.expires_at}`);
        break;
      default:
        break;
    }
  };
  // `stop` for a wait that ends in an error with no event (a timeout, a lost server).
  return Object.assign(onEvent, { stop });
}

/** "Duration capped at 8h by policy eng-read (you asked for 10h)." in the unit the user typed. */
export function cappedMessage(g: GrantWire, asked?: string): string {
  const you = asked ?? formatDuration(g.requested_duration);
  return `Duration capped at ${formatDuration(g.duration, asked)} by policy ${g.policy} (you asked for ${you}).`;
}
