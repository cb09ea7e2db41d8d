/**
 * Sizes in config files: "25MB", "512KB", "1GB", or a bare integer meaning bytes.
 * Units are binary: 1KB = 1024 bytes, 1MB = 1024² bytes, 1GB = 1024³ bytes (as in Postfix and
 * most mail software). Units are case-insensitive; "KiB", "MiB", "GiB" are accepted as aliases.
 */

/** Thrown for text that is not a size. The schema turns it into a ConfigError naming the key. */
export class SizeSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SizeSyntaxError';
  }
}

const UNIT_BYTES: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

const HOW = 'write a number with KB, MB or GB, e.g. "25MB" (binary units: 1KB = 1024 bytes), or a whole number of bytes';

/** Parse "25MB" (or a number of bytes) into bytes, rounded to a whole byte. */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) {
      throw new SizeSyntaxError(`${text} is not a size; ${HOW}`);
    }
    return text;
  }
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNIT_BYTES[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    const why = text.trim().startsWith('-') ? ' (a size cannot be negative)' : '';
    throw new SizeSyntaxError(`"${text}" is not a size${why}; ${HOW}`);
  }
  if (unit === 1 && m[1].includes('.')) {
    throw new SizeSyntaxError(`"${text}" is not a whole number of bytes; ${HOW}`);
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new SizeSyntaxError(`"${text}" is too large; ${HOW}`);
  return bytes;
}

/** Print bytes in the largest unit that is exact, so parseSize reads it back unchanged: 26214400 → "25MB". */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const n = Math.round(bytes);
  for (const [unit, size] of [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (n !== 0 && n % size === 0) return `${n / size}${unit}`;
  }
  return `${n}B`;
}
