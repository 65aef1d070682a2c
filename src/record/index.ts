/** Session recording: run a tool, record it as asciicast v2, spool it, stream it to the server. */
export { type CastEvent, type CastHeader, type CastWriter, castOutput, createCastWriter, readCast } from './asciicast.js';
export { chunkHash, FIRST_SEQ, findBrokenLink, GENESIS_HASH, type RecordingChunk } from './chain.js';
export { playCast, type PlayOptions } from './player.js';
export { resolveExecutable, type RunToolOptions, type RunToolResult, runTool } from './runner.js';
export { type RecordSessionOptions, type RecordSessionResult, recordSession } from './session.js';
export { createSpool, listPendingSpools, openSpool, type PendingSpool, removeSpool, type SpoolState, spoolDir } from './spool.js';
export type { ApiCallOptions, SessionApi, SessionEnd, SessionMeta } from './types.js';
export {
  drainSpool,
  isPermanentUploadError,
  MAX_CHUNK_BYTES,
  type PendingUploadResult,
  startLiveUpload,
  type UploadOutcome,
  uploadPendingSpools,
} from './uploader.js';
