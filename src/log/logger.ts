/**
 * Logging: pino, JSON lines on stdout (journald and log shippers read them as they are).
 * No protocol knowledge here; sessions add their own ids as child bindings.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type { Logger } from 'pino';

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  // Written asynchronously: a log line never holds up a session for a write(2) on the event
  // loop. Lines still pending at exit are flushed by pino's exit handler; a kill -9 may
  // lose the last few, never mail.
  const destination = pino.destination({ dest: 1, sync: false });
  return pino({ level, base: { pid: process.pid, ...bindings } }, destination);
}
