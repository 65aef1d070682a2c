import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isSeq, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { type GateConfig, gateConfig } from './schema.js';

/**
 * Parses and validates gate.yaml text. Every problem is reported with the
 * file, line and dotted key, all at once, so a user fixes the file in one go.
 */
export function parseConfig(text: string, file = 'gate.yaml'): GateConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      return `${file}:${pos.line}: ${e.message.split('\n')[0]}`;
    });
    throw new ConfigError(`Invalid YAML in ${file}:\n  ${lines.join('\n  ')}`);
  }
  const raw = doc.toJS() ?? {};
  const result = gateConfig.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => describeIssue(issue, doc.contents, lineCounter, file));
  throw new ConfigError(`Invalid configuration in ${file}:\n  ${lines.join('\n  ')}`, {
    hint: 'See docs/policy.md for every key gate.yaml accepts.',
  });
}

export async function loadConfigFile(file: string): Promise<GateConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
    });
  }
  return parseConfig(text, file);
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown, lc: LineCounter, file: string): string {
  const path = issue.path.map(String);
  const key = path.length > 0 ? path.join('.') : '(top level)';
  const line = lineOf(root, issue.path, lc);
  let message = issue.message;
  if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    message = `is required (${issue.expected})`;
  } else if (issue.code === 'unrecognized_keys') {
    message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  } else if (issue.code === 'invalid_union' && 'errors' in issue) {
    // Pick the branch that got furthest: its first message is the useful one.
    const branches = issue.errors as z.core.$ZodIssue[][];
    const best = branches.slice().sort((a, b) => a.length - b.length)[0]?.[0];
    if (best) return describeIssue({ ...best, path: [...issue.path, ...best.path] }, root, lc, file);
  }
  return `${file}:${line ?? '?'}: ${key}: ${message}`;
}

/** Walks the YAML AST along a zod path and returns the deepest node's line. */
function lineOf(root: unknown, path: PropertyKey[], lc: LineCounter): number | undefined {
  let node = root as Node | null | undefined;
  let last: Node | null | undefined = node;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value ?? p.key) === String(segment));
      if (!pair) break;
      last = (pair.key as Node) ?? last;
      node = pair.value as Node;
      if (node) last = node;
    } else if (isSeq(node)) {
      node = node.items[Number(segment)] as Node;
      if (node) last = node;
    } else break;
  }
  const offset = last?.range?.[0];
  return offset === undefined ? undefined : lc.linePos(offset).line;
}
