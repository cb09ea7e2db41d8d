/**
 * Group commit for the SQLite store's small writes, and how each batch is made durable.
 */
import fs from 'node:fs';
import type Database from 'better-sqlite3';
import { retryBusy } from './retry-busy.js';

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
  /** Runs one write in a savepoint (a transaction nested in the batch's transaction). */
  private readonly savepoint: (write: () => unknown) => unknown;

  constructor(
    private readonly db: Database.Database,
    private readonly timeoutMs: number,
    private readonly durability: Durability = { kind: 'full' },
  ) {
    this.savepoint = db.transaction((write: () => unknown) => write());
  }

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
          results.push({ ok: true, value: this.savepoint(item.run) });
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
export function withoutSync<T>(db: Database.Database, write: () => T): T {
  db.pragma('synchronous = NORMAL');
  try {
    return write();
  } finally {
    db.pragma('synchronous = FULL');
  }
}
