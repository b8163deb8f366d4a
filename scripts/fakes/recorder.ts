/**
 * What every protocol fake records: the requests it received, in order, and callers waiting until
 * a number of them has arrived (a test that must act mid-flight, e.g. cancel during a call).
 */
export class RequestRecorder<T> {
  readonly requests: T[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  /** Records `r`; returns its index (the responders' call number). */
  record(r: T): number {
    const index = this.requests.length;
    this.requests.push(r);
    for (const w of this.waiters.filter((w) => this.requests.length >= w.count)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
    return index;
  }

  /** Resolves once `count` requests have been recorded. */
  waitFor(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}
