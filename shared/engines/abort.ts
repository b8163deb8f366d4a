/**
 * Cancelling engine work: one copy for every engine, each passing the error its own aborts are
 * reported with. No client library here: local engines import it too (see grpc-abort.ts for RPCs).
 */
/**
 * `promise`, or `abortError(signal)` as soon as `signal` aborts, whichever is first (the interceptor
 * ends an RPC itself; this covers work with no RPC in flight).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, abortError: (signal: AbortSignal) => Error): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
