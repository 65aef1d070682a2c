import type { Identity } from '../api/wire.js';
import type { RecordingStore } from '../server/recordings.js';

/**
 * The one persistence interface the server uses. Every method is async, even
 * where SQLite is not, so a PostgreSQL store fits the same shape.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Remembers who logged in last (for approver lists and `gate audit`). */
  recordLogin(who: Identity, at: Date): Promise<void>;
  /** Just-in-time grants (src/store/sqlite/grants.ts). */
  readonly grants: GrantRepository;
  /** Command approvals held by `require_approval` guardrails. */
  readonly approvals: ApprovalRepository;
  /** The append-only, hash-chained audit log. */
  readonly audit: AuditRepository;
  /** Recorded terminal sessions' metadata (src/store/sqlite/sessions.ts); the recordings are files. */
  readonly sessions: SessionRepository;
  /** Service tokens (`gate token create`), kept hashed. */
  readonly serviceTokens: ServiceTokenRepository;
  /** The notification outbox (src/server/notify): rows delivered at least once, by one replica each. */
  readonly notifyOutbox: NotifyOutboxRepository;
  /**
   * Recordings shared by every replica (PostgreSQL: chunk rows). Absent on
   * SQLite, whose single server keeps them as files in its data dir.
   */
  readonly recordings?: RecordingStore;
  /**
   * Changes other server replicas made to grants and command approvals, as
   * they commit (PostgreSQL: LISTEN/NOTIFY). Absent on a single-process store
   * (SQLite), where the grant service's own events are the whole truth.
   * Changes made through this very Store are never reported back.
   */
  watch?(listener: StoreWatcher): () => void;
  /**
   * Carries a PostgreSQL CancelRequest to the replica that holds the query
   * (PostgreSQL: NOTIFY). Absent on a single-process store, where the one
   * server's own registry knows every key.
   */
  readonly cancels?: CancelBus;
  close(): Promise<void>;
}

/** A client's cancel key as gate issued it (never the upstream's), and the grant it was issued under. */
export interface CancelKey {
  pid: number;
  key: number;
  grantId: string;
}

/** What became of a cancel passed to the other replicas. */
export type CancelOutcome = 'sent' | 'failed' | 'unknown';

export interface CancelBus {
  /**
   * Asks the other replicas to cancel the query behind `key`. `sent` or
   * `failed` is the holder's answer; `unknown` means no replica answered in
   * time (the key is stale, forged, or its replica is gone).
   */
  ask(key: CancelKey): Promise<CancelOutcome>;
  /**
   * Serves the other replicas' asks: `handle` resolves undefined when this
   * replica does not hold the key (it stays silent), else whether it sent the
   * cancel upstream.
   */
  serve(handle: (key: CancelKey) => Promise<boolean | undefined>): () => void;
}

/** Something another replica changed: re-read it from the store. */
export interface StoreChange {
  kind: 'grant' | 'approval';
  id: string;
}

export interface StoreWatcher {
  change(change: StoreChange): void;
  /** The change feed was interrupted and is back: changes may have been missed meanwhile. */
  resync(): void;
}

/** A service token as stored: never the secret, only its SHA-256. */
export interface StoredServiceToken {
  id: string;
  name: string;
  groups: string[];
  /** Hex SHA-256 of the secret part. */
  secretHash: string;
  creator: string;
  /** The creator's identity key: the person the token acts for (legacy rows: `legacy-user:<sub>`). */
  creatorKey: string;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

export interface ServiceTokenRepository {
  insert(token: StoredServiceToken): Promise<void>;
  get(id: string): Promise<StoredServiceToken | undefined>;
  /** Newest first. */
  list(): Promise<StoredServiceToken[]>;
  /** Marks the token revoked; false when it does not exist or was revoked already. */
  revoke(id: string, by: string, at: string): Promise<boolean>;
  touch(id: string, at: string): Promise<void>;
}

/** A grant as stored: the indexed columns plus the whole record as JSON (see src/server/grants/types.ts). */
export interface StoredGrant {
  id: string;
  /** The requester's identity key (src/server/identity/principal.ts). */
  requester: string;
  target: string;
  state: string;
  createdAt: string;
  /** ISO time, set once the grant is active. */
  expiresAt: string | null;
  data: Record<string, unknown>;
  /** The row's version as read (bumped by every update); on update, the version the change was based on. */
  version?: number;
}

export interface GrantRepository {
  insert(grant: StoredGrant): Promise<void>;
  /**
   * Replaces the grant when its state is still `fromState` and, when `grant.version` is given, its
   * version is still that one (optimistic check across replicas; the version is bumped); false when
   * it moved on.
   */
  update(grant: StoredGrant, fromState: string): Promise<boolean>;
  get(id: string): Promise<StoredGrant | undefined>;
  /** `requesters`: grants whose requester key is one of these (OR `targets`). */
  list(filter: { requesters?: string[]; targets?: string[]; state?: string; limit?: number }): Promise<StoredGrant[]>;
}

export interface StoredApproval {
  id: string;
  grantId: string;
  textHash: string;
  state: string;
  createdAt: string;
  data: Record<string, unknown>;
}

export interface ApprovalRepository {
  insert(approval: StoredApproval): Promise<void>;
  update(approval: StoredApproval, fromState: string): Promise<boolean>;
  get(id: string): Promise<StoredApproval | undefined>;
  /** Newest first. */
  findByText(grantId: string, textHash: string): Promise<StoredApproval[]>;
  list(filter: { state?: string; limit?: number }): Promise<StoredApproval[]>;
}

/** What `gate audit` and the session export filter the audit log by (ISO times). */
export interface AuditFilter {
  since?: string;
  until?: string;
  /** Allowed targets (an approver's); empty matches nothing. */
  targets?: string[];
  /** Exact actions, or prefixes ending in `*` (`grant.*`). */
  actions?: string[];
  actor?: string;
  grantId?: string;
  sessionId?: string;
  /** An event id: only events after it (cursor pagination; implies fromStart). */
  after?: string;
  /** The first `limit` matches rather than the newest. */
  fromStart?: boolean;
  limit?: number;
}

/** One audit row exactly as hashed; absent values are null so the canonical form is stable. */
export interface AuditRow {
  id: string;
  time: string;
  actor: string | null;
  actor_kind: string | null;
  action: string;
  target: string | null;
  role: string | null;
  grant_id: string | null;
  session_id: string | null;
  correlation_id: string | null;
  ip: string | null;
  result: string;
  /** JSON text, as stored. */
  details: string;
  prev_hash: string;
  hash: string;
}

export interface AuditRepository {
  /**
   * Runs `build` with the last row's hash and inserts what it returns, in one
   * exclusive transaction, so two writers never chain onto the same row.
   */
  appendAtomically(build: (prevHash: string | undefined) => AuditRow): Promise<AuditRow>;
  /**
   * The same for a batch: `build` gets the last row's hash and returns rows
   * already chained to it and to each other, all inserted in one transaction.
   * Optional: without it the log appends one row per transaction.
   */
  appendMany?(build: (prevHash: string | undefined) => AuditRow[]): Promise<AuditRow[]>;
  /** `sessionId`: only events that carry this session id (a recorded session's gateway events). */
  /**
   * Events matching every given filter, oldest first: the newest `limit` of
   * them, or with `fromStart` (or `after`) the first `limit`, so callers page
   * forward with the last id they saw as `after`.
   */
  list(filter: AuditFilter): Promise<AuditRow[]>;
  /** Which of these event ids the store holds (a replay skips them). */
  knownIds(ids: readonly string[]): Promise<Set<string>>;
  /** Every row in chain order, in pages (for verify). */
  scan(afterSeq: number, limit: number): Promise<{ seq: number; row: AuditRow }[]>;
  /**
   * How many events there are, and the `seq` and hash of the last one (the
   * chain head), read at one instant. Without `since` it counts every row
   * (once per process: it grows with the log); with the `seq` and `count` of
   * an earlier answer it counts only the rows after that `seq`.
   */
  head(since?: { seq: number; count: number }): Promise<{ count: number; seq: number | undefined; hash: string | undefined }>;
  /** The last event's `seq` and hash, from the index: cheap enough to poll. */
  tip(): Promise<{ seq: number; hash: string } | undefined>;
  /** Keeps a signed checkpoint (idempotent per count). */
  addCheckpoint(checkpoint: AuditCheckpoint): Promise<void>;
  /** Every kept checkpoint, oldest first. */
  listCheckpoints(): Promise<AuditCheckpoint[]>;
}

/** A signed statement "the chain had `count` events and its head was `head` at `time`". */
export interface AuditCheckpoint {
  count: number;
  head: string;
  time: string;
  /** Compact JWS (EdDSA, the server's key) over `{ count, head, time }`. */
  signature: string;
}

/** A recorded session's metadata as stored. */
export interface StoredSession {
  id: string;
  target: string;
  /** The subject of the caller who created it (for display). */
  user: string;
  /** The identity key of the caller who created it: only it may bind tunnels and upload. */
  userKey: string;
  grantId: string;
  command: string;
  title: string | null;
  width: number;
  height: number;
  recordInput: boolean;
  startedAt: string;
  endedAt: string | null;
  exitCode: number | null;
  durationMs: number | null;
  incomplete: boolean;
  closed: boolean;
  /** Chunks and bytes of the recording stored so far. */
  chunks: number;
  bytes: number;
  correlationId: string | null;
  createdAt: string;
  /** `terminal` (a wrapped tool, the default) or `mcp` (a `gate mcp` session: its recording is the tool calls). */
  kind?: SessionKind;
  /** mcp: the MCP client's `name/version` from `initialize`. */
  client?: string | null;
}

export type SessionKind = 'terminal' | 'mcp';

export interface SessionListFilter {
  target?: string;
  user?: string;
  /** ISO time: sessions started at or after it. */
  since?: string;
  /** Only sessions of these identity keys or on these targets (a non-admin's visibility); absent: all. */
  visibleTo?: { userKeys: string[]; targets: string[] };
  limit?: number;
}

export interface SessionRepository {
  /** Inserts a new session; false when the id exists already (nothing changed). */
  insert(session: StoredSession): Promise<boolean>;
  get(id: string): Promise<StoredSession | undefined>;
  /** Records the recording's size after a stored chunk. */
  setProgress(id: string, progress: { chunks: number; bytes: number }): Promise<void>;
  /** Marks the session closed; false when it was closed already (nothing changed). */
  close(id: string, end: { endedAt: string; exitCode: number | null; durationMs: number; incomplete: boolean }): Promise<boolean>;
  /** Newest first. */
  list(filter: SessionListFilter): Promise<StoredSession[]>;
}

/** One notification for one sink, as kept in the outbox until delivered or given up. */
export interface StoredNotification {
  /** The event id (`ntf_…`): the same for every sink and every attempt, so receivers dedupe on it. */
  id: string;
  /** The sink's name (src/config/notifications.ts `sinkName`). */
  sink: string;
  /** e.g. `grant.requested`. */
  event: string;
  /** The event body as JSON text (already redacted: never a secret or a masked value). */
  payload: string;
  state: 'pending' | 'delivered' | 'failed';
  /** Attempts started so far (a claim counts one). */
  attempts: number;
  /** Attempts that failed. */
  failures: number;
  createdAt: string;
  /** When the next attempt is due; while claimed, when the claim lapses. */
  nextAt: string;
  lastError: string | null;
  /** The HTTP status of the last failed attempt (null: no answer). */
  lastStatus: number | null;
  lastErrorAt: string | null;
  deliveredAt: string | null;
}

/** What `gate status` shows admins about one sink. */
export interface NotifySinkStats {
  sink: string;
  pending: number;
  delivered: number;
  failed: number;
  /** Failed attempts, including those a later retry made good. */
  failedAttempts: number;
  lastError: string | null;
  lastStatus: number | null;
  lastErrorAt: string | null;
}

export interface NotifyOutboxRepository {
  /** Adds rows; a row whose (id, sink) exists already is left alone. */
  enqueue(rows: StoredNotification[]): Promise<void>;
  /**
   * Takes up to `limit` pending rows due at `now` and moves their `nextAt` to
   * `leaseUntil` (counting an attempt), with a conditional update (PostgreSQL:
   * FOR UPDATE SKIP LOCKED), so two replicas never take the same row; a claim
   * whose holder died lapses at `leaseUntil` and the row is tried again.
   */
  claim(now: string, leaseUntil: string, limit: number): Promise<StoredNotification[]>;
  delivered(id: string, sink: string, at: string): Promise<void>;
  /** Records a failed attempt; `nextAt` null: given up (`failed`). */
  failedAttempt(id: string, sink: string, failure: { at: string; error: string; status: number | null; nextAt: string | null }): Promise<void>;
  /** Rows delivered before `before` are dropped (failed ones stay for `gate status`). */
  prune(before: string): Promise<number>;
  stats(): Promise<NotifySinkStats[]>;
}
