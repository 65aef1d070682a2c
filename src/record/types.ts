/**
 * What the server learns about a recorded session when it is created. The
 * same object is written to the spool state and the asciicast header, so it
 * must never hold a credential.
 */
export interface SessionMeta {
  /** A random UUID made by the CLI (crypto.randomUUID()); also sent with the tunnel. */
  id: string;
  target: string;
  user: string;
  /** The grant id the session runs under. */
  grant: string;
  /** The command line as the user typed it, e.g. `psql -c "select 1"`. */
  command: string;
  /** Terminal size when the session started. */
  width: number;
  height: number;
  /** ISO 8601. */
  startedAt: string;
  /** True when keystrokes are recorded ("i" events): the target's `record_input`. */
  recordInput: boolean;
  title?: string;
  /** `mcp`: a `gate mcp` session (its grant is '' until a tool needs one). Default terminal. */
  kind?: 'terminal' | 'mcp';
  /** mcp: the MCP client's name/version. */
  client?: string;
}

/** How a session ended, as sent with `SessionApi.close`. */
export interface SessionEnd {
  /** The tool's exit code; null when unknown (the recording process died). */
  exitCode: number | null;
  durationMs: number;
  /** True when the recording stops early because gate died before the tool finished. */
  incomplete: boolean;
}

/**
 * The server's session-recording API as the CLI sees it. The lead implements
 * it over HTTP; tests use an in-memory one. Every method may throw (network
 * down, server restarting); the uploader retries. All three must be
 * idempotent: `create` for an existing id is a no-op, a `putChunk` the server
 * already stored (same seq and hash) succeeds without change, and `close` of a
 * closed session succeeds. An error a retry cannot fix (the server refused
 * the request itself: a chunk that fails its hash, a chain conflict, no such
 * session) carries `permanent: true`; the uploader then stops retrying that
 * session for the current run and leaves its spool in place.
 */
export interface SessionApi {
  create(meta: SessionMeta, options?: ApiCallOptions): Promise<void>;
  putChunk(
    id: string,
    chunk: { seq: number; data: Buffer; prevHash: string; hash: string },
    options?: ApiCallOptions,
  ): Promise<void>;
  close(id: string, end: SessionEnd, options?: ApiCallOptions): Promise<void>;
}

/** Passed to every SessionApi call: aborted when gate stops waiting (finish timeout, Ctrl-C). */
export interface ApiCallOptions {
  signal?: AbortSignal;
}
