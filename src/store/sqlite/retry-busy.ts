import fs from 'node:fs';
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

/** How a WriteBatcher makes its commits durable. */
export type Durability =
  /** synchronous=FULL: SQLite fsyncs the WAL inside COMMIT, blocking the event loop meanwhile. */
  | { kind: 'full' }
  /**
   * Commit with synchronous=NORMAL (frames written, no fsync), then fdatasync the WAL file
   * on the thread pool before anyone hears "done". Just as durable: the commit is in the
   * WAL file, and the WAL file is on disk. But the event loop serves other sessions while
   * the disk works, and writes arriving meanwhile share the next fsync.
   */
  | { kind: 'wal-fsync'; walPath: string }
  /** No fsync: for writes whose loss in a crash only causes a retry. */
  | { kind: 'relaxed' };

/**
 * Group commit for small writes: writes requested while the previous commit is running (or
 * in the same turn of the event loop) run in one IMMEDIATE transaction, so N concurrent
 * sessions and deliveries cost one fsync, not N. Each write runs in its own savepoint, so
 * one failing write does not undo the others.
 */
export class WriteBatcher {
  private pending: Array<{ run: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;

  private walFd: number | null = null;

  constructor(
    private readonly db: import('better-sqlite3').Database,
    private readonly timeoutMs: number,
    private readonly durability: Durability = { kind: 'full' },
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

  /** fdatasync of the WAL file, on the thread pool. Our open connection keeps the file in place. */
  private async syncWal(walPath: string): Promise<void> {
    this.walFd ??= fs.openSync(walPath, 'r+');
    const fd = this.walFd;
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }

  /** Waits for every write handed in so far, then releases the WAL file. */
  async close(): Promise<void> {
    while (this.scheduled || this.pending.length > 0) await new Promise((r) => setTimeout(r, 1));
    if (this.walFd !== null) fs.closeSync(this.walFd);
    this.walFd = null;
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
      const full = this.durability.kind === 'full';
      await retryBusy(() => (full ? tx.immediate() : withoutSync(this.db, () => tx.immediate())), this.timeoutMs);
      if (this.durability.kind === 'wal-fsync') await this.syncWal(this.durability.walPath);
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

/**
 * Runs a write transaction with synchronous=NORMAL: in WAL mode it is atomic and ordered
 * but not fsync'd, so a crash may lose it (never corrupt anything), and the next FULL
 * commit makes it durable along with everything before it. Only for writes whose loss
 * means a retry, never a lost message.
 */
export function withoutSync<T>(db: import('better-sqlite3').Database, write: () => T): T {
  db.pragma('synchronous = NORMAL');
  try {
    return write();
  } finally {
    db.pragma('synchronous = FULL');
  }
}
