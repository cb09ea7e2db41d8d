/**
 * Runs a write, trying again while another connection holds SQLite's write lock. The first
 * retries come at once (a commit holds the lock for well under a millisecond), later ones
 * back off to a few milliseconds; past the deadline the SQLITE_BUSY error stands.
 * This replaces SQLite's busy_timeout, which sleeps inside the call and so would freeze
 * every session of the process.
 */
export async function retryBusy<T>(write: () => T, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return write();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') || Date.now() > deadline) throw err;
    }
    if (attempt < 20) await new Promise((r) => setImmediate(r));
    else await new Promise((r) => setTimeout(r, Math.min(attempt - 19, 5)));
  }
}

/**
 * Group commit for small writes: writes requested in the same turn of the event loop run
 * in one IMMEDIATE transaction, so N concurrent deliveries cost one fsync, not N. Each
 * write runs in its own savepoint, so one failing write does not undo the others.
 */
export class WriteBatcher {
  private pending: Array<{ run: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;

  constructor(
    private readonly db: import('better-sqlite3').Database,
    private readonly timeoutMs: number,
  ) {}

  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run: write, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    const results: Array<{ ok: boolean; value: unknown }> = [];
    const tx = this.db.transaction(() => {
      results.length = 0;
      for (const item of batch) {
        try {
          results.push({ ok: true, value: this.db.transaction(item.run)() });
        } catch (err) {
          results.push({ ok: false, value: err });
        }
      }
    });
    try {
      await retryBusy(() => tx.immediate(), this.timeoutMs);
      batch.forEach((item, i) => (results[i].ok ? item.resolve(results[i].value) : item.reject(results[i].value)));
    } catch (err) {
      for (const item of batch) item.reject(err);
    }
    this.scheduled = false;
    if (this.pending.length > 0) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }
}
