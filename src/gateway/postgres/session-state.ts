/**
 * What gate knows of one session: prepared statements and portals (as the
 * client named them, and as the server confirmed them), statements prepared
 * in SQL (`PREPARE name AS …`, checked again at `EXECUTE`), and the settings
 * that change how statement text is read (`standard_conforming_strings`,
 * `client_encoding`, from ParameterStatus).
 *
 * Protocol-level and SQL-level prepared statements share one namespace in
 * PostgreSQL: a `DEALLOCATE q; PREPARE q AS …` replaces the statement a client
 * parsed as `q`. Whatever re-prepares a name therefore forgets everything gate
 * knew about it, so no old description is ever applied to new rows.
 */
import type { SqlReadOptions, StatementAnalysis } from '../sql/index.js';
import type { TxStatus } from './backend.js';
import type { FieldInfo } from './masking.js';

export interface Portal {
  statement: string;
  formats: number[];
  fields?: FieldInfo[];
}

export class SessionState {
  txStatus: TxStatus;
  /** How statement text is read: `standard_conforming_strings` and `client_encoding` as the server last reported them. */
  private read: SqlReadOptions = { standardConformingStrings: true, clientEncoding: 'UTF8' };

  /** Client order: statement name → its text (what a Bind of that name will run). */
  readonly statementText = new Map<string, string>();
  /** Client order: portal name → statement name. */
  readonly portalStatement = new Map<string, string>();
  /** Client order: statement name → the analysis of its text. */
  readonly statementAnalysis = new Map<string, StatementAnalysis>();
  /** Client order: SQL `PREPARE` name → the analysis of its body (checked again at EXECUTE). */
  readonly sqlPrepared = new Map<string, StatementAnalysis>();

  /** Server order: statement name → its described result fields. */
  readonly statementFields = new Map<string, FieldInfo[]>();
  /** Server order: bound portals. */
  readonly portals = new Map<string, Portal>();

  constructor(txStatus: TxStatus) {
    this.txStatus = txStatus;
  }

  get standardConformingStrings(): boolean {
    return this.read.standardConformingStrings;
  }

  get clientEncoding(): string {
    return this.read.clientEncoding;
  }

  /** The read options as one object, the same one until the server reports a change (the analysis cache is keyed by them). */
  get readOptions(): SqlReadOptions {
    return this.read;
  }

  /** The body of a statement prepared in SQL (`PREPARE name AS …`) earlier in the session. */
  readonly preparedBody = (name: string): StatementAnalysis | undefined => this.sqlPrepared.get(name);

  /** The text a portal (client order) will run: a SQL `EXECUTE`'s prepared body when it is one. */
  portalText(portal: string): string {
    const name = this.portalStatement.get(portal) ?? '';
    return this.statementText.get(name) ?? this.sqlPrepared.get(name)?.text ?? '';
  }

  /** The analysis of what a portal (client order) will run. */
  portalAnalysis(portal: string): StatementAnalysis | undefined {
    const name = this.portalStatement.get(portal) ?? '';
    return this.statementAnalysis.get(name) ?? this.sqlPrepared.get(name);
  }

  /** Applies what a forwarded statement does to the session's names (PREPARE, DEALLOCATE, DISCARD). */
  applyStatement(s: StatementAnalysis): void {
    if (s.prepare) {
      this.forgetName(s.prepare.name);
      this.sqlPrepared.set(s.prepare.name, s.prepare.body);
    } else if (s.deallocate) {
      if (s.deallocate.name === undefined) this.forgetAll();
      else this.forgetName(s.deallocate.name);
    }
  }

  /** `DEALLOCATE name` / `PREPARE name` in SQL: the name now means something else (or nothing). */
  forgetName(name: string): void {
    this.statementText.delete(name);
    this.statementAnalysis.delete(name);
    this.sqlPrepared.delete(name);
    this.statementFields.delete(name);
    for (const [p, s] of this.portalStatement) if (s === name) this.portalStatement.delete(p);
    for (const [p, portal] of this.portals) if (portal.statement === name) this.portals.delete(p);
  }

  /** `DEALLOCATE ALL` / `DISCARD ALL`: forget every statement and portal. */
  forgetAll(): void {
    this.statementText.clear();
    this.statementAnalysis.clear();
    this.sqlPrepared.clear();
    this.statementFields.clear();
    this.portalStatement.clear();
    this.portals.clear();
  }

  /** Applies a ParameterStatus from the server; returns the setting's name when it is one gate reads text by. */
  parameterStatus(name: string, value: string): 'standard_conforming_strings' | 'client_encoding' | undefined {
    if (name === 'standard_conforming_strings') {
      this.read = { ...this.read, standardConformingStrings: value === 'on' };
      return name;
    }
    if (name === 'client_encoding') {
      this.read = { ...this.read, clientEncoding: value };
      return name;
    }
    return undefined;
  }
}
