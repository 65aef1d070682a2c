/**
 * The analysis cache's eviction: what stays when a flood of one-off
 * statements passes through (an app's few hot statements among pgbench-like
 * or ad-hoc texts), and that it never holds more than its bound.
 */
import { describe, expect, test } from 'vitest';
import { LruCache } from '../../src/gateway/sql/cache.js';

describe('LruCache', () => {
  test('keeps a key used at least once in every half of its size, however many other keys pass through', () => {
    const cache = new LruCache<string, number>(100);
    cache.set('hot', 1);
    for (let i = 0; i < 10_000; i++) {
      cache.set(`once ${i}`, i);
      if (i % 49 === 0) expect(cache.get('hot'), `after ${i} other keys`).toBe(1);
    }
    expect(cache.size).toBe(100);
  });

  test('evicts the key used least recently, and a key not used again once as many newer ones came', () => {
    const cache = new LruCache<string, number>(4);
    for (const k of ['a', 'b', 'c', 'd']) cache.set(k, k.charCodeAt(0));
    // 'a' is in the older half: a hit moves it to the back, so 'b' is the oldest now.
    expect(cache.get('a')).toBe(97);
    cache.set('e', 101);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d'), cache.get('e')]).toEqual([97, 99, 100, 101]);
    for (const k of ['f', 'g', 'h', 'i']) cache.set(k, 0);
    expect(['a', 'c', 'd', 'e'].map((k) => cache.get(k))).toEqual([undefined, undefined, undefined, undefined]);
    expect(cache.size).toBe(4);
  });

  test('set replaces a value in place of adding one; clear empties it', () => {
    const cache = new LruCache<string, string>(2);
    cache.set('k', 'one');
    cache.set('k', 'two');
    expect(cache.get('k')).toBe('two');
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.get('k')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
