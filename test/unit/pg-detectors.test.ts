import { describe, expect, it } from 'vitest';
import { detectText } from '../../src/gateway/postgres/detectors.js';

const both = { email: true, card: true };

describe('detectors on long values', () => {
  it('still find an email and a card number among long runs of name characters', () => {
    const run = 'x'.repeat(5000);
    expect(detectText(both, `${run} jane@example.com ${run}`)).toBe(`${run} j***@example.com ${run}`);
    expect(detectText(both, `${run} 4111 1111 1111 1111 ${run}`)).toBe(`${run} **** **** **** 1111 ${run}`);
  });

  it('leave a long value with no @ and fewer than 13 digits as it is', () => {
    expect(detectText(both, 'x'.repeat(100_000))).toBeUndefined();
    expect(detectText(both, `${'ab1.'.repeat(3)}${'y'.repeat(50_000)}`)).toBeUndefined();
  });
});
