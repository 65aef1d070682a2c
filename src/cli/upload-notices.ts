/**
 * What a recorded session tells its user about the recording's upload while
 * the tool runs: nothing while it works; once per outage when it keeps
 * failing (from the second failure in a row: a single blip is retried
 * quietly), naming why and that the recording is kept locally; and once
 * when it works again. A full server disk is said once per session.
 */
export interface UploadNotices {
  onError(err: unknown): void;
  onResumed(): void;
}

/** Failures in a row before the user is told. */
const TELL_AFTER = 2;

export function uploadNotices(sessionId: string, tell: (text: string) => void): UploadNotices {
  let toldStorageFull = false;
  let failures = 0;
  let toldFailing = false;
  return {
    onError(err) {
      if (isStorageFullError(err)) {
        if (!toldStorageFull) tell(`the gate server's disk is full: the recording of session ${sessionId} is kept locally and will be uploaded later.`);
        toldStorageFull = true;
        return;
      }
      if (++failures < TELL_AFTER || toldFailing) return;
      toldFailing = true;
      tell(`the recording of session ${sessionId} cannot be uploaded right now (${reasonOf(err)}); it is kept locally and gate keeps retrying.`);
    },
    onResumed() {
      failures = 0;
      if (!toldFailing) return;
      toldFailing = false;
      tell(`the recording upload of session ${sessionId} resumed.`);
    },
  };
}

/** True for the server's answer to a chunk it had no room for (HTTP 507, `storage_full`). */
export function isStorageFullError(err: unknown): boolean {
  const details = (err as { details?: { status?: unknown; code?: unknown } } | undefined)?.details;
  return details?.status === 507 || details?.code === 'storage_full';
}

/** The error's own sentence, without a trailing period: the server's message or the socket's. */
function reasonOf(err: unknown): string {
  const text = String((err as Error)?.message ?? err).trim();
  return text.replace(/\.$/, '') || 'no answer';
}
