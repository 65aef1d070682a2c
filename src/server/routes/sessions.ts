import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, type ApiErrorCode } from '../../api/errors.js';
import {
  CHUNK_HASH_HEADER,
  CHUNK_PREV_HASH_HEADER,
  closeSessionRequest,
  createSessionRequest,
  type SessionWire,
} from '../../api/wire-sessions.js';
import { mcpToolCallRoute } from './mcp-tool-calls.js';
import type { StoredSession } from '../../store/store.js';
import { isAdmin, requireCaller } from '../auth.js';
import type { Caller, ServerContext } from '../context.js';
import { actorOf } from '../grants/actor.js';
import { isSelf, keysOf } from '../identity/principal.js';
import { targetsApprovedBy } from '../grants/policy.js';
import type { Grant } from '../grants/types.js';
import { createRecordingStore, isStorageFull, MAX_STORED_CHUNK_BYTES, RecordingChunkError, type RecordingChunkProblem, type RecordingState, SESSION_ID_RE, STORAGE_FULL_MESSAGE } from '../recordings.js';
import { parseBody } from './validate.js';

/** The API error code each refused-chunk problem is answered with (HTTP status as RecordingChunkError says). */
const CHUNK_ERROR_CODES: Record<RecordingChunkProblem, ApiErrorCode> = {
  invalid_session_id: 'bad_request',
  invalid_chunk: 'bad_request',
  too_large: 'payload_too_large',
  bad_hash: 'bad_hash',
  seq_conflict: 'seq_conflict',
  seq_gap: 'seq_gap',
  chain_mismatch: 'chain_mismatch',
  storage_full: 'storage_full',
};

/** Grant states a session may run under: it was active at some point (a spool may arrive after expiry). */
const ONCE_ACTIVE = new Set<Grant['state']>(['active', 'expired', 'revoked']);

function toWire(s: StoredSession): SessionWire {
  return {
    id: s.id,
    target: s.target,
    user: s.user,
    grant_id: s.grantId,
    command: s.command,
    title: s.title,
    width: s.width,
    height: s.height,
    record_input: s.recordInput,
    started_at: s.startedAt,
    ended_at: s.endedAt,
    exit_code: s.exitCode,
    duration_ms: s.durationMs,
    incomplete: s.incomplete,
    closed: s.closed,
    chunks: s.chunks,
    bytes: s.bytes,
    correlation_id: s.correlationId,
    created_at: s.createdAt,
    kind: s.kind ?? 'terminal',
    client: s.client ?? null,
  };
}

/** Details as an object for readers (as `GET /v1/audit` shows them). */
function presentDetails(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

type IdParams = { Params: { id: string } };

/** True when an audit event of a session's timeline was done by the session's owner (older rows name a sub only). */
function ownersEvent(session: StoredSession, actor: string | null, details: unknown): boolean {
  const key = (details as { actor_id?: unknown } | null)?.actor_id;
  if (typeof key === 'string') return isSelf(session.userKey, { key, kind: key.startsWith('user:') ? 'user' : 'other', sub: actor ?? '' });
  return actor === session.user;
}

/**
 * Recorded sessions: `POST /v1/sessions`, `PUT /v1/sessions/:id/chunks/:seq`,
 * `POST /v1/sessions/:id/close` (the session's owner only), and
 * `GET /v1/sessions[/:id[/recording|/verify]]` (the owner, approvers of the target,
 * admins). Anyone else gets 404, so a session id reveals nothing.
 */
export function sessionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const auth = { preHandler: requireCaller(ctx) };
  // Shared by every replica with a PostgreSQL store; files in this server's data dir with SQLite.
  const recordings = ctx.store.recordings ?? createRecordingStore(join(ctx.dataDir, 'recordings'));
  const notFound = (id: string) => new ApiError('not_found', `No session ${id} (or it is not yours to see).`);

  const normalizeId = (id: string) => {
    if (!SESSION_ID_RE.test(id)) throw new ApiError('bad_request', 'A session id must be a UUID.');
    return id.toLowerCase();
  };
  const canRead = (caller: Caller, s: StoredSession) =>
    isSelf(s.userKey, caller) || isAdmin(ctx, caller) || targetsApprovedBy(ctx.config, caller).includes(s.target);

  async function owned(caller: Caller, rawId: string): Promise<StoredSession> {
    const id = normalizeId(rawId);
    const s = await ctx.store.sessions.get(id);
    if (!s || !isSelf(s.userKey, caller)) throw notFound(id);
    return s;
  }
  async function readable(caller: Caller, rawId: string): Promise<StoredSession> {
    const id = normalizeId(rawId);
    const s = await ctx.store.sessions.get(id);
    if (!s || !canRead(caller, s)) throw notFound(id);
    return s;
  }

  app.post('/v1/sessions', auth, async (request, reply) => {
    const caller = request.caller!;
    const body = parseBody(createSessionRequest, request.body);
    const id = body.id.toLowerCase();
    const existing = await ctx.store.sessions.get(id);
    if (existing) {
      // A retried create (the CLI lost the answer): a no-op for the same owner.
      if (!isSelf(existing.userKey, caller)) throw new ApiError('conflict', `Session id ${id} is taken.`);
      return { session: toWire(existing) };
    }
    const kind = body.kind ?? 'terminal';
    // A terminal session runs under the caller's own grant for this target. An
    // mcp session may start before any grant: its tools request them, and each
    // tunnel it opens is checked against its own grant by the gateway.
    const grant = body.grant || kind === 'terminal' ? await ownGrant(request, caller, body.grant, body.target) : undefined;
    const now = ctx.now().toISOString();
    const correlationId = body.correlation_id ?? caller.correlationId ?? grant?.correlation_id ?? null;
    const session: StoredSession = {
      id,
      target: body.target,
      user: caller.sub,
      userKey: caller.key,
      grantId: grant?.id ?? '',
      command: body.command,
      title: body.title ?? null,
      width: body.width,
      height: body.height,
      recordInput: body.recordInput,
      startedAt: new Date(body.startedAt).toISOString(),
      endedAt: null,
      exitCode: null,
      durationMs: null,
      incomplete: false,
      closed: false,
      chunks: 0,
      bytes: 0,
      correlationId,
      createdAt: now,
      kind,
      client: body.client ?? null,
    };
    if (!(await ctx.store.sessions.insert(session))) {
      // Lost a race with a concurrent create of the same id.
      const again = await ctx.store.sessions.get(id);
      if (!again || !isSelf(again.userKey, caller)) throw new ApiError('conflict', `Session id ${id} is taken.`);
      return { session: toWire(again) };
    }
    await ctx.audit.append({
      action: 'session.started',
      actor: caller.sub,
      actorKind: caller.kind,
      actorKey: caller.key,
      target: grant?.target ?? body.target,
      role: grant?.role ?? null,
      grantId: grant?.id ?? null,
      sessionId: id,
      correlationId,
      ip: request.ip,
      details: {
        command: body.command,
        record_input: body.recordInput,
        started_at: session.startedAt,
        ...(kind === 'mcp' ? { kind, client: session.client } : {}),
      },
    });
    return reply.status(201).send({ session: toWire(session) });
  });

  async function ownGrant(request: FastifyRequest, caller: Caller, grantId: string | undefined, target: string): Promise<Grant> {
    if (!grantId) throw new ApiError('bad_request', 'A terminal session needs the grant it runs under.');
    const grant = await ctx.grants.get(actorOf(request), grantId);
    if (!isSelf(grant.requester_key, caller)) {
      throw new ApiError('forbidden', `Grant ${grant.id} is not yours: a session can only be recorded under your own grant.`);
    }
    if (grant.target !== target) {
      throw new ApiError('bad_request', `Grant ${grant.id} is for ${grant.target}, not ${target}.`);
    }
    if (!ONCE_ACTIVE.has(grant.state)) {
      throw new ApiError('invalid_state', `Grant ${grant.id} is ${grant.state}; a session needs an active grant.`, {
        state: grant.state,
        grant_id: grant.id,
      });
    }
    return grant;
  }

  mcpToolCallRoute(app, ctx, owned);

  app.put<{ Params: { id: string; seq: string } }>(
    '/v1/sessions/:id/chunks/:seq',
    // Room for the largest chunk the store takes; a bigger one is refused by the store as too_large.
    { ...auth, bodyLimit: 2 * MAX_STORED_CHUNK_BYTES },
    async (request) => {
      const caller = request.caller!;
      const session = await owned(caller, request.params.id);
      const seq = Number(request.params.seq);
      const data = request.body === undefined ? Buffer.alloc(0) : request.body;
      if (!Buffer.isBuffer(data)) {
        throw new ApiError('bad_request', 'A chunk is sent as raw bytes with content-type application/octet-stream.');
      }
      const header = (name: string) => {
        const v = request.headers[name];
        return typeof v === 'string' ? v.toLowerCase() : '';
      };
      if (session.closed) {
        // Retries of what is stored stay no-ops; nothing new joins a closed recording.
        const { lastSeq } = await recordings.state(session.id);
        if (!(Number.isSafeInteger(seq) && seq >= 1 && seq <= lastSeq)) {
          throw new ApiError('invalid_state', `Session ${session.id} is closed; its recording takes no more chunks.`, { state: 'closed' });
        }
      }
      let status: 'stored' | 'duplicate';
      let state: RecordingState;
      try {
        ({ status, state } = await recordings.appendChunk(session.id, {
          seq,
          data,
          prevHash: header(CHUNK_PREV_HASH_HEADER),
          hash: header(CHUNK_HASH_HEADER),
        }));
      } catch (err) {
        if (err instanceof RecordingChunkError) {
          throw new ApiError(CHUNK_ERROR_CODES[err.problem], err.message, err.details as Record<string, unknown>);
        }
        throw err;
      }
      // A retried last chunk also sets the progress: the first attempt may have stored it and then failed here.
      if (status === 'stored' || state.lastSeq === seq) {
        try {
          await ctx.store.sessions.setProgress(session.id, { chunks: state.lastSeq, bytes: state.bytes });
        } catch (err) {
          if (isStorageFull(err)) throw new ApiError('storage_full', STORAGE_FULL_MESSAGE);
          throw err;
        }
      }
      return { status };
    },
  );

  app.post<IdParams>('/v1/sessions/:id/close', auth, async (request) => {
    const caller = request.caller!;
    const session = await owned(caller, request.params.id);
    const end = parseBody(closeSessionRequest, request.body);
    // The end as the recording saw it: a spool uploaded days later still ends when its tool did.
    const endedAt = new Date(Date.parse(session.startedAt) + end.durationMs).toISOString();
    if (await ctx.store.sessions.close(session.id, { endedAt, ...end })) {
      const closed = (await ctx.store.sessions.get(session.id))!;
      const grant = await ctx.store.grants.get(closed.grantId);
      await ctx.audit.append({
        action: 'session.closed',
        result: end.incomplete ? 'error' : 'ok',
        actor: caller.sub,
        actorKind: caller.kind,
        actorKey: caller.key,
        target: closed.target,
        role: (grant?.data as { role?: string } | undefined)?.role ?? null,
        grantId: closed.grantId,
        sessionId: closed.id,
        correlationId: closed.correlationId,
        ip: request.ip,
        details: { exit_code: end.exitCode, duration_ms: end.durationMs, incomplete: end.incomplete, chunks: closed.chunks, bytes: closed.bytes },
      });
      return { session: toWire(closed) };
    }
    return { session: toWire((await ctx.store.sessions.get(session.id))!) };
  });

  app.get<{ Querystring: Record<string, string> }>('/v1/sessions', auth, async (request) => {
    const caller = request.caller!;
    const { target, user, since, limit } = request.query;
    let sinceIso: string | undefined;
    if (since) {
      const d = new Date(since);
      if (Number.isNaN(d.getTime())) throw new ApiError('bad_request', `since must be an ISO time, got ${JSON.stringify(since)}.`);
      sinceIso = d.toISOString();
    }
    const n = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) {
      throw new ApiError('bad_request', `limit must be a whole number from 1 to 10000, got ${JSON.stringify(limit)}.`);
    }
    const visibleTo = isAdmin(ctx, caller) ? undefined : { userKeys: keysOf(caller), targets: targetsApprovedBy(ctx.config, caller) };
    const rows = await ctx.store.sessions.list({ target: target || undefined, user: user || undefined, since: sinceIso, visibleTo, limit: n });
    return { sessions: rows.map(toWire) };
  });

  app.get<IdParams>('/v1/sessions/:id', auth, async (request) => {
    const session = await readable(request.caller!, request.params.id);
    const rows = await ctx.audit.list({ sessionId: session.id, limit: 10_000 });
    // Only the owner's events make the timeline: a tunnel of anyone else that carried this id is not part of it.
    const events = rows
      .filter((r) => r.session_id === session.id)
      .map((r) => ({ ...r, details: presentDetails(r.details) }))
      .filter((r) => ownersEvent(session, r.actor, r.details));
    return { session: toWire(session), events };
  });

  app.get<IdParams>('/v1/sessions/:id/verify', auth, async (request) => {
    const session = await readable(request.caller!, request.params.id);
    const found = await recordings.verify(session.id);
    // The session row counts what was acknowledged on upload: fewer stored chunks means some were lost.
    const missing = Math.max(0, session.chunks - found.chunks);
    return {
      session_id: session.id,
      ok: found.ok && missing === 0,
      chunks: found.chunks,
      broken_at_seq: found.ok ? null : (found.brokenAtSeq ?? null),
      missing,
      closed: session.closed,
      incomplete: session.incomplete,
    };
  });

  app.get<IdParams>('/v1/sessions/:id/recording', auth, async (request: FastifyRequest<IdParams>, reply) => {
    const session = await readable(request.caller!, request.params.id);
    // Streamed from the file: a long session's recording can be hundreds of MB.
    const { bytes, stream } = await recordings.openRead(session.id);
    return reply
      .header('content-type', 'application/x-asciicast')
      .header('content-length', bytes)
      .header('content-disposition', `attachment; filename="${session.id}.cast"`)
      .send(stream);
  });
}
