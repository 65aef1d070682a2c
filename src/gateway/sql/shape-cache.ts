/**
 * A second analysis cache for statements that differ only in their integer
 * constants (pgbench's `… WHERE aid = 48213`, an ORM's `LIMIT 20 OFFSET 40`):
 * the exact-text cache misses every one of them, and a parse costs ~100 µs.
 *
 * The key is the text with each integer literal replaced by a marker. It is
 * only built for texts gate can read without a lexer: printable ASCII with no
 * quote, dollar sign, backslash or comment, where a digit run bounded by
 * non-word characters can only be an integer constant. Two texts with the same
 * key then differ only in the values of integer constants at the same places.
 *
 * A shape is reused only for a single plain SELECT that writes nothing, sets
 * nothing, prepares, executes or fetches nothing and calls nothing opaque:
 * there a constant's value cannot change a tag, a table, a write's filter, a
 * column's lineage or the fingerprint. And only once a second text of the shape
 * has been analysed in full and came out the same (a shape that ever differs
 * is never reused), so a parser reading this module does not expect is caught
 * by the parser itself.
 */
import { LruCache } from './cache.js';
import type { StatementAnalysis } from './types.js';

const MARK = '\u0001';
// Printable ASCII plus tab/CR/LF, and none of the characters that start a literal, a quoted name or a comment.
const READABLE = /^[\t\n\r\x20-\x7e]*$/;
const LEXICAL = /['"$\\]|--|\/\*/;
// An integer constant that fits int32 (so it is an ICONST wherever the grammar wants one), not part of a name or a number.
const INTEGER = /(?<![\w.])\d{1,9}(?![\w.])/g;

interface Shape {
  /** Where the statement's text starts and how many characters follow it (`;`, spaces) in the texts of this shape. */
  start: number;
  tail: number;
  analysis: StatementAnalysis;
  /** How the analysis reads without its text: compared when the shape is seen again. */
  facts: string;
  confirmed: boolean;
  /** A second text of this shape analysed differently: never reuse it. */
  poisoned: boolean;
}

export class ShapeCache {
  private readonly shapes: LruCache<string, Shape>;
  constructor(entries: number) {
    this.shapes = new LruCache(entries);
  }

  /** The cache key for `text`, or undefined when its shape cannot be told without a lexer (or has no integer). */
  key(prefix: string, text: string, maxText: number): string | undefined {
    if (text.length > maxText || !READABLE.test(text) || LEXICAL.test(text)) return undefined;
    INTEGER.lastIndex = 0;
    if (!INTEGER.test(text)) return undefined;
    return `${prefix}${text.replace(INTEGER, MARK)}`;
  }

  /** The analysis of `text` from a confirmed shape, or undefined. */
  get(key: string, text: string): StatementAnalysis | undefined {
    const shape = this.shapes.get(key);
    if (!shape?.confirmed || shape.poisoned) return undefined;
    const slice = text.slice(shape.start, text.length - shape.tail).trim();
    return { ...shape.analysis, text: slice, shape: shape.analysis };
  }

  /** Records a full analysis of `text` (its only statement) under `key`. */
  learn(key: string, text: string, statements: StatementAnalysis[]): void {
    const s = statements.length === 1 ? statements[0]! : undefined;
    const shape = this.shapes.get(key);
    if (!s || !reusable(s)) {
      if (shape) shape.poisoned = true;
      return;
    }
    const facts = factsOf(s);
    if (shape) {
      if (shape.facts === facts && s.text === sliceOf(text, shape)) shape.confirmed = true;
      else shape.poisoned = true;
      return;
    }
    const start = text.indexOf(s.text);
    if (start < 0) return;
    const candidate = { start, tail: text.length - start - s.text.length, analysis: s, facts, confirmed: false, poisoned: false };
    // The slice must be recoverable from the offsets alone (it is, for one statement with only `;` and spaces around it).
    if (sliceOf(text, candidate) !== s.text || /[^\s;]/.test(text.slice(0, start) + text.slice(text.length - candidate.tail))) return;
    this.shapes.set(key, candidate);
  }

  clear(): void {
    this.shapes.clear();
  }
}

function sliceOf(text: string, shape: { start: number; tail: number }): string {
  return text.slice(shape.start, text.length - shape.tail).trim();
}

function reusable(s: StatementAnalysis): boolean {
  return (
    s.tag === 'SELECT' &&
    s.tags.length === 1 &&
    s.writes.length === 0 &&
    s.copies.length === 0 &&
    s.sqlTextFunctions.length === 0 &&
    s.opaque === undefined &&
    s.setting === undefined &&
    s.prepare === undefined &&
    s.execute === undefined &&
    s.deallocate === undefined &&
    s.cursor === undefined &&
    s.fetch === undefined &&
    s.fingerprint !== ''
  );
}

function factsOf(s: StatementAnalysis): string {
  const { text: _text, ...facts } = s;
  return JSON.stringify(facts);
}
