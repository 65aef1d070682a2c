import { debuglog } from 'node:util';
import { createHttpSessionApi } from '../api/sessions-client.js';
import { listPendingSpools } from '../record/spool.js';
import { type PendingUploadResult, uploadPendingSpools } from '../record/uploader.js';
import type { CliContext } from './context.js';

const debug = debuglog('gate');

/**
 * Uploads recordings an earlier gate run left in the spool (its upload timed
 * out, or gate was killed mid-session: those arrive marked incomplete), so
 * they show up in `gate sessions`. Spends at most `timeoutMs` (default 3 s),
 * skips spools a live gate process is writing, and never throws: a recording
 * that does not go up now stays in the spool for the next run. Touches
 * neither the network nor the keychain when the spool is empty.
 */
export async function flushPendingRecordings(
  ctx: CliContext,
  server: string,
  options: { timeoutMs?: number } = {},
): Promise<PendingUploadResult> {
  const empty: PendingUploadResult = { uploaded: [], failed: [], skipped: [] };
  try {
    const pending = await listPendingSpools(ctx.env.configDir);
    if (!pending.some((p) => !p.live)) return { ...empty, skipped: pending.map((p) => p.id) };
    const api = createHttpSessionApi(ctx.client(server));
    const result = await uploadPendingSpools(ctx.env.configDir, api, {
      timeoutMs: options.timeoutMs ?? 3000,
      signal: ctx.signal,
      onError: (id, err) => debug('pending recording %s: %s', id, (err as Error)?.message),
    });
    if (result.uploaded.length > 0) debug('uploaded %d pending recording(s)', result.uploaded.length);
    return result;
  } catch (err) {
    debug('pending recordings not uploaded: %s', (err as Error)?.message);
    return empty;
  }
}
