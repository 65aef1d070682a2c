import { randomUUID } from 'node:crypto';
import { debuglog } from 'node:util';
import type { GateClient } from '../api/client.js';
import { createHttpSessionApi } from '../api/sessions-client.js';
import type { ToolCallRequest } from '../api/wire-sessions.js';
import { detectJson, detectText } from '../gateway/mcp/detectors.js';
import { type CastWriter, createCastWriter } from '../record/asciicast.js';
import { createSpool, type SpoolWriter } from '../record/spool.js';
import type { SessionMeta } from '../record/types.js';
import { type LiveUpload, startLiveUpload } from '../record/uploader.js';

const debug = debuglog('gate');

/** One `gate mcp` run as a gate session: kind `mcp`, recorded as the tool calls and what the agent was told. */
export interface McpSession {
  readonly id: string;
  /** Records one call (arguments with detectors applied) and audits it as `mcp.tool_call`. */
  toolCall(call: ToolCallRecord): Promise<void>;
  /** Ends the recording and uploads the rest (a spool left behind goes up with the next gate command). */
  close(): Promise<void>;
}

/** How long a tool call's answer waits for the server to take its `mcp.tool_call` record. */
const TOOL_CALL_AUDIT_MS = 5_000;

export interface ToolCallRecord {
  tool: string;
  arguments: Record<string, unknown>;
  outcome: ToolCallRequest['outcome'];
  /** The text the agent got back. */
  resultText: string;
  target?: string;
  grantId?: string;
  approvalId?: string;
  durationMs: number;
}

export interface StartMcpSessionOptions {
  /** The session id, chosen before the client connects (tunnels opened early carry it). */
  id?: string;
  client: GateClient;
  configDir: string;
  user: string;
  /** The `--target` list ('' entries never), or empty for any target. */
  targets: string[];
  command: string;
  /** `name/version` from the MCP client's initialize. */
  clientInfo?: string;
  correlationId?: string;
}

/** Longest result text kept in the recording per call; the agent got it all. */
const MAX_RECORDED_RESULT = 64 * 1024;

/**
 * Creates the session on the server (so tool calls can be audited under it)
 * and starts the recording. Recording failures never fail a tool call: the
 * spool keeps what the server did not get.
 */
export async function startMcpSession(opts: StartMcpSessionOptions): Promise<McpSession> {
  const api = createHttpSessionApi(opts.client, { correlationId: opts.correlationId });
  const meta: SessionMeta = {
    id: opts.id ?? randomUUID(),
    target: opts.targets.length > 0 ? opts.targets.join(',').slice(0, 200) : '*',
    user: opts.user,
    grant: '',
    command: opts.command,
    width: 120,
    height: 40,
    startedAt: new Date().toISOString(),
    recordInput: false,
    kind: 'mcp',
    ...(opts.clientInfo ? { client: opts.clientInfo, title: `MCP: ${opts.clientInfo}` } : {}),
  };
  let created = false;
  try {
    await api.create(meta);
    created = true;
  } catch (err) {
    debug('mcp session %s not created on the server: %s', meta.id, (err as Error).message);
  }
  let spool: SpoolWriter | undefined;
  let writer: CastWriter | undefined;
  let uploader: LiveUpload | undefined;
  try {
    let notify: (data: Buffer, offset: number) => void = () => {};
    spool = await createSpool(opts.configDir, meta, { onWritten: (d, o) => notify(d, o) });
    if (created) await spool.update({ created: true });
    uploader = startLiveUpload(spool, api);
    const live = uploader;
    notify = (d, o) => live.notify(d, o);
    const sp = spool;
    writer = createCastWriter(
      {
        version: 2,
        width: meta.width,
        height: meta.height,
        timestamp: Math.floor(Date.parse(meta.startedAt) / 1000),
        command: meta.command,
        ...(meta.title ? { title: meta.title } : {}),
        env: { TERM: 'dumb' },
        gate: { target: meta.target, user: meta.user, grant: '', session_id: meta.id },
      },
      { write: (line) => sp.append(line) },
    );
    writer.output(`gate mcp session ${meta.id}${opts.clientInfo ? ` (client ${opts.clientInfo})` : ''}\r\n`);
  } catch (err) {
    debug('mcp session %s: no local recording: %s', meta.id, (err as Error).message);
  }
  const t0 = performance.now();

  return {
    id: meta.id,
    async toolCall(call) {
      const args = detectJson(call.arguments);
      const text = call.resultText.length > MAX_RECORDED_RESULT ? `${call.resultText.slice(0, MAX_RECORDED_RESULT)}…` : call.resultText;
      writer?.output(`\r\n→ ${call.tool} ${JSON.stringify(args)}\r\n← ${call.outcome}: ${crlf(detectText(text))}\r\n`);
      if (!created) return;
      const body: ToolCallRequest = {
        tool: call.tool,
        arguments: args,
        outcome: call.outcome,
        ...(call.target ? { target: call.target } : {}),
        ...(call.grantId ? { grant_id: call.grantId } : {}),
        ...(call.approvalId ? { approval_id: call.approvalId } : {}),
        message: detectText(call.resultText.slice(0, 4000)),
        duration_ms: Math.max(0, Math.round(call.durationMs)),
      };
      try {
        // Bounded: the agent's answer waits for this, and a server that stopped answering must not hold it (the recording has the call).
        await opts.client.raw('POST', `/v1/sessions/${encodeURIComponent(meta.id)}/tool-calls`, { body, timeoutMs: TOOL_CALL_AUDIT_MS });
      } catch (err) {
        debug('mcp.tool_call for %s not audited: %s', meta.id, (err as Error).message);
      }
    },
    async close() {
      writer?.output('\r\nsession ended\r\n');
      writer?.close();
      if (!spool || !uploader) return;
      const durationMs = Math.round(performance.now() - t0);
      await spool.end();
      await spool.update({ closed: true, exitCode: 0, durationMs });
      await uploader.finish({ exitCode: 0, durationMs }, { timeoutMs: 10_000 });
    },
  };
}

const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
