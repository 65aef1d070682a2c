import type { GateClient } from '../api/client.js';
import type { TargetSummary } from '../api/wire-grants.js';
import { targetsResponse } from '../api/wire-grants.js';
import type { CliContext } from '../cli/context.js';
import type { McpSession } from './session.js';
import { ToolError } from './tool-error.js';

/** What every tool of one `gate mcp` run shares. */
export interface McpContext {
  cli: CliContext;
  server: string;
  client: GateClient;
  /** `--target`: only these are offered (empty: every target the caller may request). */
  targets: string[];
  /** `--role`: the default role when a call names none. */
  role?: string;
  /** `--reason`: the reason sent with grants gate requests itself. */
  reason?: string;
  /** Request a grant without being asked when the policy approves it automatically (default true). */
  autoRequest: boolean;
  /** This run's gate session id (sent with every tunnel, so the gateway's events carry it). */
  sessionId: string;
  /** Set once the client sent `initialize`. */
  session?: McpSession;
  /** Settles once the session exists on the server (or failed to): tool calls wait for it, so each is recorded. */
  sessionReady?: Promise<void>;
  /** The grant each target's last call used (target → grant), so a call after it ended can say so. */
  grantsInUse?: Map<string, { id: string; role: string }>;
  /** `target/role` whose grant ended: gate does not request a new one itself until gate_request_access is called. */
  endedGrants?: Set<string>;
}

/** The targets the caller may request, narrowed to `--target`. */
export async function offeredTargets(mcp: McpContext): Promise<TargetSummary[]> {
  const { targets } = await mcp.client.call('GET', '/v1/targets', targetsResponse, { signal: mcp.cli.signal });
  return mcp.targets.length > 0 ? targets.filter((t) => mcp.targets.includes(t.name)) : targets;
}

/** One offered target, of the given type(s); a tool error naming what exists otherwise. */
export async function offeredTarget(mcp: McpContext, name: string, types: string[]): Promise<TargetSummary> {
  const all = await offeredTargets(mcp);
  const found = all.find((t) => t.name === name);
  if (!found) {
    const names = all.filter((t) => types.includes(t.type)).map((t) => t.name);
    throw new ToolError('denied', `No target ${JSON.stringify(name)} is offered to you here.${names.length ? ` Targets of type ${types.join('/')}: ${names.join(', ')}.` : ''} Call gate_targets to see them.`, {
      target: name,
    });
  }
  if (!types.includes(found.type)) {
    throw new ToolError('error', `Target ${name} is of type ${found.type}; this tool works on ${types.join('/')} targets.`, { target: name, type: found.type });
  }
  return found;
}
