/**
 * Detectors (email, credit_card) over JSON values: every string inside is
 * rewritten as the Postgres masking rewrites a value. Used for MCP tool-call
 * arguments before they are audited or recorded, and for results an `mcp`
 * target returns. The text rules live in one place (the Postgres masking
 * module), so a value masks the same way whichever path it took.
 */
import { createMasker, maskText } from '../postgres/masking.js';

export type Detector = 'email' | 'credit_card';

export const ALL_DETECTORS: readonly Detector[] = ['email', 'credit_card'];

/** Applies the detectors to a text; the text itself when nothing matched. */
export function detectText(text: string, detectors: readonly Detector[] = ALL_DETECTORS): string {
  const masker = createMasker({ columns: [], detectors: [...detectors] });
  if (!masker) return text;
  return maskText(masker, text) ?? text;
}

/** A copy of `value` with the detectors applied to every string in it (keys included). */
export function detectJson<T>(value: T, detectors: readonly Detector[] = ALL_DETECTORS): T {
  const masker = createMasker({ columns: [], detectors: [...detectors] });
  if (!masker) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return maskText(masker, v) ?? v;
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, inner] of Object.entries(v)) out[maskText(masker, k) ?? k] = walk(inner);
      return out;
    }
    return v;
  };
  return walk(value) as T;
}
