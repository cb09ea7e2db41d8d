/**
 * Counts failed logins per key (client IP, account) in a sliding window. Once a key
 * reaches the limit, further attempts are refused until its oldest failure ages out.
 * Attempts still being checked count too (`begin`), so a burst of concurrent guesses
 * can't all pass the check before the first failure is recorded.
 * Memory is bounded: past `maxKeys`, the least recently failed keys are forgotten.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly inFlight = new Map<string, number>();
  private readonly waiters = new Map<string, Array<() => void>>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  isBlocked(key: string): boolean {
    return this.recent(key).length >= this.limit;
  }

  /**
   * Takes a slot for an attempt about to be checked; resolves to null when the key is
   * blocked. While the failures so far plus the attempts in flight fill the budget, the
   * attempt waits for one in flight to finish instead of being refused, so honest
   * concurrent logins (several connections of one mail client, users behind one NAT) are
   * only delayed. Call the returned function once the outcome is known (after
   * recordFailure, for a failure).
   */
  async begin(key: string): Promise<(() => void) | null> {
    for (;;) {
      const failed = this.recent(key).length;
      if (failed >= this.limit) return null;
      const inFlight = this.inFlight.get(key) ?? 0;
      if (failed + inFlight < this.limit) break;
      await new Promise<void>((resolve) => {
        const list = this.waiters.get(key) ?? [];
        list.push(resolve);
        this.waiters.set(key, list);
      });
    }
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.inFlight.get(key) ?? 1) - 1;
      if (n <= 0) this.inFlight.delete(key);
      else this.inFlight.set(key, n);
      // Every waiter checks again: one may proceed, the rest wait again or are now blocked.
      const waiting = this.waiters.get(key) ?? [];
      this.waiters.delete(key);
      for (const wake of waiting) wake();
    };
  }

  recordFailure(key: string): void {
    const list = this.recent(key);
    list.push(this.now());
    // Re-insert so Map order is least-recently-failed first, for eviction.
    this.failures.delete(key);
    this.failures.set(key, list);
    while (this.failures.size > this.maxKeys) {
      const oldest = this.failures.keys().next().value as string;
      this.failures.delete(oldest);
    }
  }

  private recent(key: string): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    const cutoff = this.now() - this.windowMs;
    while (list.length > 0 && list[0] <= cutoff) list.shift();
    if (list.length === 0) this.failures.delete(key);
    return list;
  }
}
