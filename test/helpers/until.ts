/** Polling until a condition holds, for tests that wait on state the platform changes asynchronously. */

/** Calls `fn` every `everyMs` until it returns a value (not null/undefined); throws after `timeoutMs`, naming `what`. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined>, timeoutMs = 60_000, everyMs = 300): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
