/**
 * A bounded, nearly least-recently-used map. A Map keeps insertion order, so
 * the first key is the one moved least recently; the oldest is evicted.
 *
 * A hit moves its entry to the back only once the entry has fallen into the
 * older half (more than max/2 insertions and moves ago), not on every hit:
 * the move is a delete and a re-insert, which on the statement path (one
 * analysis lookup per statement, most of them hits of the same few keys)
 * cost more than the lookup itself. An entry used at least once in every
 * max/2 of them is never evicted.
 */
interface Entry<V> {
  value: V;
  /** The clock when the entry was last put at the back. */
  at: number;
}

export class LruCache<K, V> {
  private readonly map = new Map<K, Entry<V>>();
  /** Counts insertions and moves: how far from the back an entry is, is `clock - at`. */
  private clock = 0;
  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (this.clock - e.at > this.max >> 1) {
      this.map.delete(key);
      this.map.set(key, e);
      e.at = ++this.clock;
    }
    return e.value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, { value, at: ++this.clock });
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
