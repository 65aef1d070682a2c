/**
 * libpg-query (PostgreSQL's own parser compiled to WASM): loaded once, then
 * every call is synchronous.
 */
import { fingerprintSync, loadModule, parseSync, scanSync } from 'libpg-query';
import type { Ast } from './ast.js';

let loaded: Promise<void> | undefined;
let ready = false;

/** Loads the parser; call (and await) once before `analyzeQuery`. */
export function loadSqlParser(): Promise<void> {
  loaded ??= loadModule().then(() => {
    ready = true;
  });
  return loaded;
}

export function parserReady(): boolean {
  return ready;
}

function assertReady(): void {
  if (!ready) throw new Error('gate: the SQL parser is not loaded (await loadSqlParser() first)');
}

export interface ParseFailure {
  message: string;
  /** Character offset (0-based) into the text, when the parser gave one. */
  position?: number;
}

export function parse(text: string): { stmts: Ast[] } | ParseFailure {
  assertReady();
  try {
    return parseSync(text) as { stmts: Ast[] };
  } catch (err) {
    const details = (err as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    return { message: details?.message ?? (err as Error).message, position: details?.cursorPosition };
  }
}

export function fingerprint(text: string): string {
  assertReady();
  try {
    return fingerprintSync(text);
  } catch {
    return '';
  }
}

export function scan(text: string): { start: number; end: number; text: string; tokenName: string }[] {
  assertReady();
  try {
    return scanSync(text).tokens;
  } catch {
    return [];
  }
}
