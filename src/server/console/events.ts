import type { ServerResponse } from 'node:http';
import type { Caller, ServerContext } from '../context.js';
import { canSeeApproval, canSeeGrant } from '../grants/access.js';
import { actorOfCaller } from '../grants/actor.js';
import type { CommandApproval, Grant } from '../grants/types.js';

/**
 * Server-sent events for the console's live pages, straight from the grant
 * service's in-process `events` (which a shared store's change feed also
 * feeds): only the id and state of what the caller may see, so the page
 * knows to fetch itself again. Nothing else rides on the stream.
 */
export function createLiveEvents(ctx: ServerContext) {
  const open = new Set<ServerResponse>();
  return {
    stream(res: ServerResponse, caller: Caller): void {
      const actor = actorOfCaller(caller);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      res.write(': gate console live updates\n\n');
      const send = (data: Record<string, string>) => res.write(`event: change\ndata: ${JSON.stringify(data)}\n\n`);
      const onGrant = (g: Grant) => {
        if (canSeeGrant(ctx.config, actor, g)) send({ kind: 'grant', id: g.id, state: g.state });
      };
      const onApproval = (a: CommandApproval) => {
        if (canSeeApproval(ctx.config, actor, a)) send({ kind: 'approval', id: a.id, state: a.state });
      };
      // A proxy in between may drop a quiet stream; a comment every 25 s keeps it open.
      const ping = setInterval(() => res.write(': ping\n\n'), 25_000);
      ping.unref();
      ctx.grants.events.on('change', onGrant);
      ctx.grants.events.on('approval', onApproval);
      open.add(res);
      // The stream ends with the gate session behind it.
      const left = caller.expiresAt ? caller.expiresAt.getTime() - Date.now() : 3_600_000;
      const end = setTimeout(() => res.end(), Math.max(1000, left));
      end.unref();
      res.on('close', () => {
        clearInterval(ping);
        clearTimeout(end);
        ctx.grants.events.off('change', onGrant);
        ctx.grants.events.off('approval', onApproval);
        open.delete(res);
      });
    },
    closeAll(): void {
      for (const res of open) res.end();
    },
  };
}
