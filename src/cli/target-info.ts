import { targetsResponse, type TargetSummary } from '../api/wire-grants.js';
import { AccessDeniedError } from '../errors.js';
import type { CliContext } from './context.js';

/** What the caller may request on one target (type, roles, database), from GET /v1/targets. */
export async function targetInfo(ctx: CliContext, server: string, name: string): Promise<TargetSummary> {
  const { targets } = await ctx.client(server).call('GET', '/v1/targets', targetsResponse, { signal: ctx.signal });
  const found = targets.find((t) => t.name === name);
  if (!found) {
    throw new AccessDeniedError(`No target ${JSON.stringify(name)} that you may request.`, {
      hint: targets.length > 0 ? `Targets you may request: ${targets.map((t) => t.name).join(', ')}.` : 'No policy lets you request any target; ask an admin.',
    });
  }
  return found;
}
