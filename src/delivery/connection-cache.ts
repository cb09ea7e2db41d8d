/**
 * Idle SMTP connections kept for the next message to the same address (Postfix's scache):
 * a connection is in here only between transactions, so two deliveries never share one.
 */
import type { SmtpClientConnection } from './smtp-client.js';

export class ConnectionCache {
  private readonly idle = new Map<string, SmtpClientConnection[]>();
  private readonly timers = new Map<SmtpClientConnection, NodeJS.Timeout>();
  private readonly closing = new Set<Promise<void>>();
  private closed = false;

  /** @param idleMs how long an idle connection is kept; 0 keeps none. */
  constructor(private readonly idleMs: number) {}

  /** An idle connection for `key` that can take a transaction now, or null. */
  take(key: string): SmtpClientConnection | null {
    const list = this.idle.get(key);
    if (!list) return null;
    let found: SmtpClientConnection | null = null;
    // Most recently used first: the others may idle out.
    while (found === null && list.length > 0) {
      const conn = list.pop() as SmtpClientConnection;
      this.forget(conn);
      if (conn.usable) found = conn;
      else this.retire(conn);
    }
    if (list.length === 0) this.idle.delete(key);
    return found;
  }

  /** Keeps `conn` for reuse, or closes it when it can't be (or the cache is closed). */
  put(key: string, conn: SmtpClientConnection): void {
    if (this.closed || this.idleMs <= 0 || !conn.usable) {
      this.retire(conn);
      return;
    }
    conn.transcript = null;
    let list = this.idle.get(key);
    if (!list) this.idle.set(key, (list = []));
    list.push(conn);
    const timer = setTimeout(() => {
      this.remove(key, conn);
      this.retire(conn);
    }, this.idleMs);
    timer.unref();
    this.timers.set(conn, timer);
    // The peer may close an idle connection (its own timeout); then it leaves the cache.
    conn.onClose = () => this.remove(key, conn);
  }

  /** QUIT and close, in the background; close() waits for it. */
  retire(conn: SmtpClientConnection): void {
    conn.onClose = null;
    conn.transcript = null;
    const done = conn.quit();
    this.closing.add(done);
    void done.then(() => this.closing.delete(done));
  }

  /** Number of idle connections (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  /** Closes every idle connection and refuses new ones; resolves when all are closed. */
  async close(): Promise<void> {
    this.closed = true;
    for (const list of this.idle.values()) {
      for (const conn of list) {
        this.forget(conn);
        this.retire(conn);
      }
    }
    this.idle.clear();
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  private remove(key: string, conn: SmtpClientConnection): void {
    this.forget(conn);
    const list = this.idle.get(key);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(key);
  }

  private forget(conn: SmtpClientConnection): void {
    const timer = this.timers.get(conn);
    if (timer) clearTimeout(timer);
    this.timers.delete(conn);
    conn.onClose = null;
  }
}
