/**
 * The ordered queue of what the server will answer. Every client message the
 * server responds to gets an entry when gate forwards it; the server's
 * responses pop them in the same order. That is how a DataRow finds the
 * RowDescription of its query or portal, and a CommandComplete or
 * ErrorResponse the statement it belongs to.
 *
 * gate's own answers (a denied or held statement) are entries too ("inject"):
 * they reach the client in protocol order, after the responses to everything
 * forwarded before them.
 */
import type { StatementAnalysis } from '../sql/index.js';
import type { QueryRecord } from './audit-record.js';

export type Entry =
  | { kind: 'query'; record: QueryRecord }
  | { kind: 'parse'; name: string; record: QueryRecord }
  | { kind: 'bind'; portal: string; statement: string; formats: number[] }
  | { kind: 'describe'; target: 'S' | 'P'; name: string; own?: boolean; analysis?: StatementAnalysis }
  | { kind: 'execute'; portal: string; record: QueryRecord; analysis?: StatementAnalysis }
  | { kind: 'close'; target: 'S' | 'P'; name: string }
  | { kind: 'sync'; records: QueryRecord[] }
  | { kind: 'function'; record: QueryRecord }
  | { kind: 'inject'; bytes: () => Buffer; dropOnError: boolean };

/** Entries after which the server sends ReadyForQuery. */
export function endsCycle(e: Entry): boolean {
  return e.kind === 'sync' || e.kind === 'query' || e.kind === 'function';
}

export class ResponseQueue {
  private items: Entry[] = [];

  get head(): Entry | undefined {
    return this.items[0];
  }

  get length(): number {
    return this.items.length;
  }

  push(e: Entry): void {
    this.items.push(e);
  }

  shift(): Entry | undefined {
    return this.items.shift();
  }

  /** Pops entries up to and including the first that `stop` accepts. */
  popThrough(stop: (e: Entry) => boolean): Entry | undefined {
    while (this.items.length > 0) {
      const e = this.items.shift()!;
      if (stop(e)) return e;
    }
    return undefined;
  }

  /** Pops the head when it is of `kind`. */
  popIf(kind: Entry['kind']): void {
    if (this.items[0]?.kind === kind) this.items.shift();
  }

  /** The bytes of gate's own answers now at the head of the queue. */
  takeInjects(): Buffer[] {
    const out: Buffer[] = [];
    while (this.items.length > 0 && this.items[0]!.kind === 'inject') {
      out.push((this.items.shift() as Extract<Entry, { kind: 'inject' }>).bytes());
    }
    return out;
  }

  /**
   * After an ErrorResponse in an extended-protocol batch the server skips to
   * the next Sync: drop what it will not answer (and gate's own errors for
   * that batch), marking skipped statements with the error.
   */
  skipBatch(error: { sqlstate: string; message: string }): void {
    while (this.items.length > 0) {
      const e = this.items[0]!;
      if (endsCycle(e)) break;
      if (e.kind === 'inject' && !e.dropOnError) break;
      if ((e.kind === 'execute' || e.kind === 'parse') && !e.record.error) e.record.error = error;
      this.items.shift();
    }
  }

  /** Drains every entry (the session is over). */
  clear(): Entry[] {
    const all = this.items;
    this.items = [];
    return all;
  }

  /** True while something forwarded is still unanswered. */
  get busy(): boolean {
    return this.items.some((e) => e.kind !== 'inject');
  }
}
