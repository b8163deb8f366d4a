/**
 * Micro-batching (the DataLoader pattern): lookups asked for in the same turn of the event loop go
 * out together, in one call of `fetchMany` (split past `maxBatch`), and the same key asked twice in a
 * turn is fetched once. Freshness is unchanged: a lookup is always sent after it was asked for,
 * never answered from an earlier call. Under load, one process answers many requests at once, so
 * their lookups share one round trip and its fixed cost.
 */
export interface Batcher<K, V> {
  load(key: K): Promise<V>;
  /** Lookups asked for, and calls of `fetchMany` made (the ratio is the batching achieved). */
  readonly stats: { loads: number; batches: number };
}

/**
 * `fetchMany` answers a result or an Error for each key (a key it leaves out is an error); if it
 * throws, every lookup of that batch fails with its error.
 */
export function createBatcher<K, V>(fetchMany: (keys: readonly K[]) => Promise<ReadonlyMap<K, V | Error>>, options: { readonly maxBatch: number }): Batcher<K, V> {
  const maxBatch = Math.max(1, Math.floor(options.maxBatch));
  let queue = new Map<K, { resolve: (v: V) => void; reject: (e: unknown) => void }[]>();
  let scheduled = false;
  const stats = { loads: 0, batches: 0 };

  const send = async (keys: readonly K[], waiters: ReadonlyMap<K, { resolve: (v: V) => void; reject: (e: unknown) => void }[]>): Promise<void> => {
    stats.batches++;
    try {
      const results = await fetchMany(keys);
      for (const key of keys) {
        const r = results.get(key);
        for (const w of waiters.get(key) ?? []) {
          if (r === undefined) w.reject(new Error(`no answer for ${String(key)}`));
          else if (r instanceof Error) w.reject(r);
          else w.resolve(r);
        }
      }
    } catch (err) {
      for (const key of keys) for (const w of waiters.get(key) ?? []) w.reject(err);
    }
  };

  const flush = (): void => {
    scheduled = false;
    const pending = queue;
    queue = new Map();
    const keys = [...pending.keys()];
    for (let i = 0; i < keys.length; i += maxBatch) void send(keys.slice(i, i + maxBatch), pending);
  };

  return {
    stats,
    load(key) {
      stats.loads++;
      return new Promise<V>((resolve, reject) => {
        const waiters = queue.get(key) ?? [];
        waiters.push({ resolve, reject });
        queue.set(key, waiters);
        if (!scheduled) {
          scheduled = true;
          // After this turn's other callbacks (the other requests' lookups) have queued theirs.
          setImmediate(flush);
        }
      });
    },
  };
}
