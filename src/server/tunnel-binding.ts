import { ApiError } from '../api/errors.js';
import type { TargetConfig } from '../config/schema.js';
import type { TunnelGrant } from '../gateway/types.js';
import type { StoredSession } from '../store/store.js';
import type { Caller } from './context.js';
import { isSelf } from './identity/principal.js';

/** The wrapped commands that record a session, by target type, for the refusal's hint. */
const RECORDED_COMMANDS: Record<TargetConfig['type'], string> = {
  postgres: '`gate psql`',
  kubernetes: '`gate kubectl`',
  tcp: '`gate exec`',
  mcp: '`gate mcp`',
  http: '`gate exec`',
};

/**
 * Which recorded session a tunnel joins. A `Gate-Session` id is accepted only
 * from the session's owner: anyone else's tunnel is refused, so their events
 * never land in that timeline. A target with `recording: required` takes only
 * tunnels bound to a live (not closed) recorded session of the same caller on
 * that target: `gate connect` and raw tunnels record nothing, so they are refused.
 */
export function checkSessionBinding(input: {
  caller: Caller;
  grant: TunnelGrant;
  target: TargetConfig;
  sessionId: string | undefined;
  session: StoredSession | undefined;
}): void {
  const { caller, grant, target, sessionId, session } = input;
  if (sessionId && session && !isSelf(session.userKey, caller)) {
    throw new ApiError('forbidden', `Session ${sessionId} belongs to someone else: a tunnel can only join your own recorded session.`, {
      session_id: sessionId,
    });
  }
  if (target.recording !== 'required') return;
  const how = `use ${RECORDED_COMMANDS[target.type]} or \`gate exec\`, which record the session`;
  if (!sessionId || !session) {
    throw new ApiError('recording_required', `Target ${grant.target} requires a recorded session (recording: required), and this tunnel is not part of one: ${how}.`, {
      target: grant.target,
    });
  }
  if (session.closed || session.target !== grant.target || session.grantId !== grant.id) {
    throw new ApiError(
      'recording_required',
      `Target ${grant.target} requires a live recorded session under grant ${grant.id}; session ${session.id} is ${session.closed ? 'closed' : `for ${session.target} under grant ${session.grantId}`}: ${how}.`,
      { target: grant.target, session_id: session.id },
    );
  }
}
