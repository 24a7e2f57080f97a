// A Map for entries that live a short time (a call's tens of milliseconds) in a map that lives
// as long as the server.
//
// Why: once a Map's table is in V8's old generation, every table it rehashes into is allocated
// there too, and the table it replaces keeps pointing at the entries it held until the next full
// collection. Entries are only taken out of a table when it is rehashed, so a map with steady
// churn (calls begin and end) rehashes every few dozen inserts, and each dead table keeps the
// values that were in it alive through the young-generation collections: they are promoted, and
// everything they point at (a call's messages, its branch set and request) with them. Measured:
// a Map holding 10 ms values promoted 31-46 MB in 10 s where a plain object promoted 0.8 MB.
// Renewing the Map (a copy, whose table is young) after as many deletions as it holds entries
// (at least RENEW_AFTER) keeps its tables young; the copy costs O(1) per deletion, amortized.
const RENEW_AFTER = 128;

export class ChurnMap<K, V> implements Iterable<[K, V]> {
  private map = new Map<K, V>();
  private deletes = 0;

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Renews the table first when enough entries have gone (not while someone iterates: set). */
  set(key: K, value: V): this {
    if (this.deletes >= RENEW_AFTER && this.deletes >= this.map.size) {
      this.map = new Map(this.map);
      this.deletes = 0;
    }
    this.map.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    const deleted = this.map.delete(key);
    if (deleted) this.deletes++;
    return deleted;
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map[Symbol.iterator]();
  }
}
