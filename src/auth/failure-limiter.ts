/**
 * Counts failed logins per key (client IP, account) in a sliding window. Once a key
 * reaches the limit, further attempts are refused until its oldest failure ages out.
 * Memory is bounded: past `maxKeys`, the least recently failed keys are forgotten.
 */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  isBlocked(key: string): boolean {
    return this.recent(key).length >= this.limit;
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
