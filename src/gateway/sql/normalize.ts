/**
 * A statement's text with comments removed and whitespace runs collapsed to
 * one space, for regex guardrails written against the old normalised form
 * (`^\s*vacuum\s+full` still matches `/* x *\/ VACUUM\n FULL`). The scanner
 * finds the comments, so literals and quoted names are kept byte for byte.
 */
import { scan } from './parser.js';

export function normalizedText(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  const parts: string[] = [];
  let last = 0;
  for (const t of scan(text)) {
    if (t.tokenName === 'SQL_COMMENT' || t.tokenName === 'C_COMMENT') continue;
    const gap = bytes.subarray(last, t.start).toString('utf8');
    if (parts.length > 0 && gap.length > 0) parts.push(' ');
    parts.push(bytes.subarray(t.start, t.end).toString('utf8'));
    last = t.end;
  }
  return parts.join('');
}
