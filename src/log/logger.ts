/**
 * Logging: pino, JSON lines on stdout (journald and log shippers read them as they are).
 * No protocol knowledge here; sessions add their own ids as child bindings.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type { Logger } from 'pino';

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}
