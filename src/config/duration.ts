/**
 * Durations in config files: "200ms", "30s", "5m", "1h", "5d", or compounds like "1h30m".
 * Values are milliseconds everywhere inside the program.
 */

/** Thrown for text that is not a duration. The schema turns it into a ConfigError naming the key. */
export class DurationSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DurationSyntaxError';
  }
}

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;

// "ms" must be tried before "m", or "200ms" would read as 200 minutes followed by garbage.
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

const HOW = 'write a number with a unit ms, s, m, h or d, e.g. "30s", "5m" or "1h30m"';

/** Parse a duration such as "5m" or "1h30m" into milliseconds (rounded to a whole ms). */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '') throw new DurationSyntaxError(`"" is not a duration; ${HOW}`);
  if (/^\d+(?:\.\d+)?$/.test(s)) {
    // A bare number is ambiguous (seconds? ms?), so we refuse it rather than guess.
    throw new DurationSyntaxError(`"${text}" has no unit; ${HOW}`);
  }
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (!m) {
      const why = s.startsWith('-') ? 'a duration cannot be negative' : `unexpected "${s.slice(at)}"`;
      throw new DurationSyntaxError(`"${text}" is not a duration (${why}); ${HOW}`);
    }
    total += Number(m[1]) * UNIT_MS[m[2] as Unit];
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) throw new DurationSyntaxError(`"${text}" is too long; ${HOW}`);
  return ms;
}

/** Print milliseconds in the form parseDuration reads back exactly: 300000 → "5m", 5400000 → "1h30m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  let rest = Math.round(Math.abs(ms));
  if (rest === 0) return '0s';
  let out = '';
  for (const unit of Object.keys(UNIT_MS) as Unit[]) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return ms < 0 ? `-${out}` : out;
}
