import { GateError } from '../errors.js';
import type { SessionApi } from '../record/types.js';
import type { GateClient } from './client.js';
import {
  CHUNK_HASH_HEADER,
  CHUNK_PREV_HASH_HEADER,
  type CreateSessionRequest,
  putChunkResponse,
  sessionResponse,
} from './wire-sessions.js';

/**
 * HTTP statuses that a retry of the same request cannot turn into success: a
 * body the server refuses (400, 413, 422), a chunk that conflicts with what
 * it holds (409), a session or grant that is not the caller's (403, 404).
 * 401 is not among them: the next attempt may carry a renewed token.
 */
const PERMANENT = new Set([400, 403, 404, 409, 413, 422]);

/** Marks refusals the uploader must not retry (see SessionApi in src/record/types.ts). */
function classify(err: unknown): never {
  const status = err instanceof GateError ? (err.details as { status?: unknown } | undefined)?.status : undefined;
  if (typeof status === 'number' && PERMANENT.has(status)) Object.assign(err as object, { permanent: true });
  throw err;
}

/**
 * The server's session-recording API over HTTP, for recordSession and
 * uploadPendingSpools. Every call is idempotent on the server: a repeated
 * create answers 200, a chunk already stored answers `duplicate`, a second
 * close changes nothing. Refusals a retry cannot fix carry `permanent: true`.
 * `correlationId` (the CI run) is stored on the session and its audit events.
 */
export function createHttpSessionApi(client: GateClient, session: { correlationId?: string } = {}): SessionApi {
  const path = (id: string) => `/v1/sessions/${encodeURIComponent(id)}`;
  return {
    async create(meta, options) {
      const body: CreateSessionRequest = {
        id: meta.id,
        target: meta.target,
        user: meta.user,
        ...(meta.grant ? { grant: meta.grant } : {}),
        command: meta.command,
        width: meta.width,
        height: meta.height,
        startedAt: meta.startedAt,
        recordInput: meta.recordInput,
        ...(meta.title ? { title: meta.title } : {}),
        ...(meta.kind ? { kind: meta.kind } : {}),
        ...(meta.client ? { client: meta.client } : {}),
        // Sent explicitly: a reused grant carries the correlation id of the run that requested it.
        ...(session.correlationId ? { correlation_id: session.correlationId } : {}),
      };
      await client.call('POST', '/v1/sessions', sessionResponse, { body, signal: options?.signal }).catch(classify);
    },
    async putChunk(id, chunk, options) {
      const res = await client
        .raw('PUT', `${path(id)}/chunks/${chunk.seq}`, {
          rawBody: chunk.data,
          contentType: 'application/octet-stream',
          headers: { [CHUNK_PREV_HASH_HEADER]: chunk.prevHash, [CHUNK_HASH_HEADER]: chunk.hash },
          signal: options?.signal,
        })
        .catch(classify);
      // 'stored' and 'duplicate' both mean the server holds exactly this chunk.
      let json: unknown;
      try {
        json = JSON.parse(res.body.toString('utf8'));
      } catch {
        json = undefined;
      }
      const parsed = putChunkResponse.safeParse(json);
      if (!parsed.success) throw new GateError('GATE_ERR_SERVER', `The server answered chunk ${chunk.seq} of session ${id} in an unexpected shape.`);
    },
    async close(id, end, options) {
      await client
        .call('POST', `${path(id)}/close`, sessionResponse, {
          body: { exitCode: end.exitCode, durationMs: Math.max(0, Math.round(end.durationMs)), incomplete: end.incomplete },
          signal: options?.signal,
        })
        .catch(classify);
    },
  };
}
