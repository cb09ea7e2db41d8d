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
