import { createHash, randomUUID } from 'node:crypto';
import { debuglog } from 'node:util';
import { GateError } from '../errors.js';
import { type CastHeader, createCastWriter } from './asciicast.js';
import { type RunToolOptions, type RunToolResult, runTool } from './runner.js';
import { createSpool, removeSpool } from './spool.js';
import type { SessionApi, SessionMeta } from './types.js';
import { type LiveUploadOptions, startLiveUpload, type UploadOutcome } from './uploader.js';

const debug = debuglog('gate');

export interface RecordSessionOptions {
  /** gate's config dir; the spool lives in `<configDir>/spool/`. */
  configDir: string;
  api: SessionApi;
  /** Session facts; `id` defaults to a new UUID, width/height to the terminal, startedAt to now. */
  meta: Omit<SessionMeta, 'id' | 'width' | 'height' | 'startedAt'> & Partial<Pick<SessionMeta, 'id'>>;
  /** How to run the tool; the recording hooks are added here. */
  run: Omit<RunToolOptions, 'onOutput' | 'onInput' | 'onResize'>;
  /**
   * The target's `recording: required`: the session is created on the server
   * before the tool starts, and a failure there stops the tool from starting.
   */
  required?: boolean;
  /** How long to wait for the rest of the upload after the tool exits. Default 10 s. */
  finishTimeoutMs?: number;
  upload?: LiveUploadOptions;
  /** The SHELL recorded in the header. */
  shell?: string;
  /**
   * The target's `record_output` (omitted: record everything). `terminal`: when the tool's
   * stdout is not a terminal (`gate exec db -- pg_dump > file`), record what
   * reached the terminal (stderr, prompts) and only the byte count and
   * SHA-256 of stdout; `full`: record stdout too.
   */
  recordOutput?: 'terminal' | 'full';
}

/** What a redirected stdout carried, when its bytes were not recorded. */
export interface RedirectedOutput {
  bytes: number;
  sha256: string;
}

export interface RecordSessionResult extends RunToolResult {
  sessionId: string;
  /** Set when stdout was counted and hashed instead of recorded. */
  redirectedStdout?: RedirectedOutput;
  /** complete: on the server; pending: in the spool, uploaded by the next gate run. */
  upload: UploadOutcome;
}

/**
 * Runs a tool while recording its terminal as asciicast v2 into the spool
 * and streaming the spool to the server. The tool's exit code is returned
 * whatever happens to the upload; a recording the server did not get stays in
 * the spool for `uploadPendingSpools`.
 */
export async function recordSession(opts: RecordSessionOptions): Promise<RecordSessionResult> {
  const { stdout } = opts.run;
  const meta: SessionMeta = {
    ...opts.meta,
    id: opts.meta.id ?? randomUUID(),
    width: (opts.run.tty && stdout.columns) || 80,
    height: (opts.run.tty && stdout.rows) || 24,
    startedAt: new Date().toISOString(),
  };
  if (opts.required) {
    try {
      await opts.api.create(meta, { signal: opts.run.signal });
    } catch (err) {
      throw new GateError('GATE_ERR_RECORDING', `This target requires a recording, and the server did not accept one.`, {
        hint: 'Check the connection to the gate server and try again.',
        cause: err,
      });
    }
  }
  // The uploader hears of bytes once they reach the file it reads from.
  let notify: (data: Buffer, offset: number) => void = () => {};
  const spool = await createSpool(opts.configDir, meta, { onWritten: (data, offset) => notify(data, offset) });
  if (opts.required) await spool.update({ created: true });

  const header: CastHeader = {
    version: 2,
    width: meta.width,
    height: meta.height,
    timestamp: Math.floor(Date.parse(meta.startedAt) / 1000),
    command: meta.command,
    ...(meta.title ? { title: meta.title } : {}),
    env: { TERM: opts.run.tty ? 'xterm-256color' : (opts.run.env.TERM ?? 'dumb'), SHELL: opts.shell ?? opts.run.env.SHELL ?? '/bin/sh' },
    gate: { target: meta.target, user: meta.user, grant: meta.grant, session_id: meta.id },
  };
  const uploader = startLiveUpload(spool, opts.api, opts.upload);
  notify = (data, offset) => uploader.notify(data, offset);
  const writer = createCastWriter(header, { write: (line) => spool.append(line) });
  const t0 = performance.now();
  let result: RunToolResult;
  let lastSize = '';
  // Only pipes can tell stdout from the terminal's other output; a pty merges them.
  const hashStdout = !opts.run.tty && opts.recordOutput === 'terminal' && !(opts.run.stdout as { isTTY?: boolean }).isTTY;
  const stdoutHash = hashStdout ? createHash('sha256') : undefined;
  let stdoutBytes = 0;
  try {
    result = await runTool({
      ...opts.run,
      onOutput: (data) => writer.output(data),
      onStdoutBytes: stdoutHash
        ? (data) => {
            stdoutHash.update(data);
            stdoutBytes += data.length;
          }
        : undefined,
      onInput: meta.recordInput ? (data) => writer.input(data) : undefined,
      onResize: (cols, rows) => {
        const size = `${cols}x${rows}`;
        // The start size is in the header already.
        if (lastSize !== '' && size !== lastSize) writer.resize(cols, rows);
        lastSize = size;
      },
    });
  } catch (err) {
    // The tool never ran (missing executable): nothing worth keeping.
    writer.close();
    uploader.abort();
    await spool.end().catch(() => {});
    await removeSpool(opts.configDir, meta.id).catch(() => {});
    throw err;
  }
  let redirectedStdout: RedirectedOutput | undefined;
  if (stdoutHash) {
    redirectedStdout = { bytes: stdoutBytes, sha256: stdoutHash.digest('hex') };
    writer.marker(`stdout (not a terminal, not recorded): ${redirectedStdout.bytes} bytes, sha256 ${redirectedStdout.sha256}`);
  }
  writer.close();
  const durationMs = Math.round(performance.now() - t0);
  await spool.end();
  await spool.update({ closed: true, exitCode: result.exitCode, durationMs });
  const upload = await uploader.finish({ exitCode: result.exitCode, durationMs }, { timeoutMs: opts.finishTimeoutMs });
  if (upload.status === 'pending') debug('recording %s left in the spool: %s', meta.id, (upload.error as Error)?.message);
  return { ...result, sessionId: meta.id, upload, ...(redirectedStdout ? { redirectedStdout } : {}) };
}
