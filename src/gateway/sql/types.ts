/**
 * The contract of gate's one SQL analysis. Guardrails, masking, approvals and
 * audit all read a statement through these types, produced by
 * `analyzeQuery` (src/gateway/sql/analyze.ts) from PostgreSQL's own grammar
 * (libpg-query). Nothing else in gate interprets SQL text.
 */

/** How the session reads text: the two settings that change where a literal ends. */
export interface SqlReadOptions {
  /** `standard_conforming_strings` (on by default since PostgreSQL 9.1). */
  standardConformingStrings: boolean;
  /** `client_encoding` as the server reported it, e.g. `UTF8`, `SJIS`. */
  clientEncoding: string;
}

/** A table as the statement names it: schema only when written; names folded as PostgreSQL folds them. */
export interface TableRef {
  schema?: string;
  name: string;
}

/** Where one output column of a statement's result comes from. */
export interface OutputColumn {
  /** The result column's name as the server will report it. */
  name: string;
  /** Columns this value is computed from (directly, or through any expression, aggregate, subquery or CTE). */
  sources: { table?: TableRef; column: string }[];
  /** Tables whose whole row flows into this value (`select c from t c`, `row_to_json(c)`, `t.*` inside a function). */
  wholeRows: TableRef[];
  /** True when gate cannot tell what this value is computed from. */
  unknown: boolean;
  /**
   * Set when this entry is a `*` or `t.*` that expands to several result
   * columns (how many only the RowDescription tells). `table` is the base
   * table when the star covers exactly one; `sources`/`wholeRows` then hold
   * everything any of the expanded columns can come from.
   */
  star?: { table?: TableRef };
}

/** Data that a statement writes somewhere other than the client (INSERT … SELECT, CREATE TABLE AS, UPDATE … SET). */
export interface DataCopy {
  tag: string;
  /** Where the data goes; undefined for a server-side file or program (COPY … TO 'file'). */
  table?: TableRef;
  sources: { table?: TableRef; column: string }[];
  wholeRows: TableRef[];
  unknown: boolean;
}

export interface StatementAnalysis {
  /** The statement's own text, exactly as sent (a slice of the query string). */
  text: string;
  /** PostgreSQL's command tag for the statement itself: `SELECT`, `DELETE`, `DROP TABLE`, `ALTER SYSTEM`, … */
  tag: string;
  /**
   * Every command tag the statement can execute, itself first: EXPLAIN ANALYZE of
   * a DELETE, a writable CTE, `COPY (DELETE … RETURNING) TO`, MERGE actions, the
   * actions of CREATE RULE, the body of PREPARE.
   */
  tags: string[];
  /** Every table the statement (and anything nested in it) reads or writes. */
  tables: TableRef[];
  /** Each data-changing action with its table and whether it is filtered (a WHERE that is not constant true). */
  writes: { tag: string; table: TableRef; filtered: boolean }[];
  /** False when any UPDATE/DELETE/MERGE in the statement is unfiltered. */
  filtered: boolean;
  /** Every function the statement calls, lower-cased, schema-qualified when written so. */
  functions: string[];
  /** Set when gate cannot see the statement's effect from its text (DO, CREATE FUNCTION with a body, …). */
  opaque?: string;
  /** libpg-query's fingerprint: same shape, other constants → same value. */
  fingerprint: string;
  /** For statements that return rows (also RETURNING, COPY (query) TO): where each output column comes from. */
  output?: OutputColumn[];
  /** Values the statement writes into tables (or server files) and where they come from. */
  copies: DataCopy[];
  /** Functions called that run SQL text gate cannot read (query_to_xml, dblink, …): also the reason of `opaque`. */
  sqlTextFunctions: string[];
  /** Prepared statements in SQL: PREPARE name AS body / EXECUTE name / DEALLOCATE [name|ALL]. */
  prepare?: { name: string; body: StatementAnalysis };
  execute?: { name: string };
  deallocate?: { name?: string };
  /** DECLARE name CURSOR FOR query: the rows a later FETCH returns come from `output`. */
  cursor?: { name: string; output?: OutputColumn[] };
  /** FETCH / MOVE from a cursor (its rows are described by the cursor's DECLARE). */
  fetch?: { name: string };
  /** CREATE [OR REPLACE] VIEW name [(columns)] AS query: where each of the view's columns comes from. */
  view?: { table: TableRef; columns: OutputColumn[] };
  /** SET / RESET / set_config of a setting the analysis depends on. */
  setting?: { name: string; value?: string };
  /**
   * Set on a shape cache's copy (see shape-cache.ts): the analysis it was
   * copied from, which differs from it only in its text (integer constants).
   * What is decided from everything but the text is remembered on that one.
   */
  shape?: StatementAnalysis;
}

export type QueryAnalysis =
  | { ok: true; statements: StatementAnalysis[] }
  /** The parser refused the text (the server will too); `message` is PostgreSQL's. */
  | { ok: false; error: string; position?: number };

/** A statement's effect as rules see it: one per write, plus one per other command tag. */
export interface StatementAction {
  tag: string;
  tables: TableRef[];
  filtered: boolean;
}
