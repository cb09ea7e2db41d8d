/**
 * IMAP sequence sets (RFC 9051 §9 `sequence-set`, RFC 5182 `$`): message sequence numbers and
 * UIDs share one syntax, so everything here works for both.
 *
 *   parseSequenceSet('1:3,7,9:*')        → { kind: 'ranges', ranges: [...] } as the client wrote it
 *   resolveSequenceSet(ranges, max)      → sorted, merged intervals, `*` = max, reversed ranges swapped
 *   sequenceContains / sequenceCount / expandSequenceSet(intervals, limit)
 *   compressSequenceSet([1,2,3,5])       → '1:3,5'   (sorted; for ALL, VANISHED, MODIFIED)
 *   compressUidList([304,319,320])       → '304,319:320' (order kept; COPYUID pairs, RFC 4315 §3)
 *
 * `*` means "the largest number in use" (RFC 9051 §9: the largest UID, or the number of
 * messages). With an empty mailbox max is 0, so `*` resolves to 0 — which matches no message;
 * the caller decides whether that is an error (sequence numbers) or simply empty (UIDs,
 * RFC 9051 §6.4.9). `$` (the saved search result, RFC 5182) is not resolved here: the session
 * holds the saved intervals and substitutes them.
 *
 * Pure: no I/O. Parsing throws only ImapParseError.
 */
import { ImapParseError } from './parse-error.js';

/** RFC 9051 §9: number = 32-bit unsigned; nz-number excludes 0. */
export const MAX_UINT32 = 4294967295;

/** A sequence number as written: a number or `*` (the largest in use). */
export type SeqNumber = number | '*';

/** One element of a sequence set; a single number has `from === to`. Not normalized. */
export interface SeqRange {
  readonly from: SeqNumber;
  readonly to: SeqNumber;
}

/** A sequence set as the client wrote it, or `$` (RFC 5182 seq-last-command). */
export type SequenceSet =
  | { readonly kind: 'ranges'; readonly ranges: readonly SeqRange[] }
  | { readonly kind: 'saved' };

/** An inclusive interval [lo, hi] with lo <= hi. Resolved sets are sorted and disjoint. */
export type SeqInterval = readonly [number, number];

export interface ParseSequenceSetOptions {
  /** Most comma-separated elements accepted (default 16384). */
  maxRanges?: number;
  /** Accept `$` (default true). */
  allowSaved?: boolean;
  /** Accept `*` (default true; RFC 7162 known-uids forbid it). */
  allowStar?: boolean;
}

export const DEFAULT_MAX_SEQUENCE_RANGES = 16384;

function fail(message: string, offset = 0): never {
  throw new ImapParseError(message, { offset });
}

/** nz-number: digit-nz *DIGIT, at most MAX_UINT32. Returns -1 if `s` is not one. */
function parseNzNumber(s: string): number {
  if (s.length === 0 || s.length > 10) return -1;
  const c0 = s.charCodeAt(0);
  if (c0 < 0x31 || c0 > 0x39) return -1;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
  }
  const n = Number(s);
  return n <= MAX_UINT32 ? n : -1;
}

/** Parses a whole sequence-set string (RFC 9051 §9). */
export function parseSequenceSet(text: string, options: ParseSequenceSetOptions = {}): SequenceSet {
  const maxRanges = options.maxRanges ?? DEFAULT_MAX_SEQUENCE_RANGES;
  if (text === '$') {
    if (options.allowSaved === false) fail('"$" is not allowed here');
    return { kind: 'saved' };
  }
  if (text.length === 0) fail('empty sequence set');
  const ranges: SeqRange[] = [];
  let offset = 0;
  for (const element of text.split(',')) {
    if (ranges.length >= maxRanges) fail(`sequence set has more than ${maxRanges} elements`, offset);
    const colon = element.indexOf(':');
    if (colon === -1) {
      const n = seqNumber(element, offset, options);
      ranges.push({ from: n, to: n });
    } else {
      const from = seqNumber(element.slice(0, colon), offset, options);
      const to = seqNumber(element.slice(colon + 1), offset + colon + 1, options);
      ranges.push({ from, to });
    }
    offset += element.length + 1;
  }
  return { kind: 'ranges', ranges };
}

function seqNumber(s: string, offset: number, options: ParseSequenceSetOptions): SeqNumber {
  if (s === '*') {
    if (options.allowStar === false) fail('"*" is not allowed here', offset);
    return '*';
  }
  const n = parseNzNumber(s);
  if (n === -1) fail(s === '$' ? '"$" must be the whole sequence set' : 'invalid sequence number', offset);
  return n;
}

/** The set written back in IMAP syntax, unchanged (no sorting or merging). */
export function formatSequenceSet(set: SequenceSet): string {
  if (set.kind === 'saved') return '$';
  return set.ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}:${r.to}`)).join(',');
}

/**
 * Resolves `*` against `max`, swaps reversed ranges ("4:2" is 2:4, RFC 9051 §9), sorts,
 * and merges overlapping or adjacent intervals. Linear in the number of ranges after sorting.
 */
export function resolveSequenceSet(ranges: readonly SeqRange[], max: number): SeqInterval[] {
  const raw: Array<[number, number]> = [];
  for (const r of ranges) {
    const a = r.from === '*' ? max : r.from;
    const b = r.to === '*' ? max : r.to;
    raw.push(a <= b ? [a, b] : [b, a]);
  }
  return normalizeIntervals(raw);
}

/** Sorts and merges intervals (each must have lo <= hi). */
export function normalizeIntervals(intervals: ReadonlyArray<SeqInterval>): SeqInterval[] {
  const sorted = [...intervals].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: Array<[number, number]> = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && lo <= last[1] + 1) {
      if (hi > last[1]) last[1] = hi;
    } else {
      out.push([lo, hi]);
    }
  }
  return out;
}

/** True if `n` is in the resolved set (binary search). */
export function sequenceContains(intervals: readonly SeqInterval[], n: number): boolean {
  let lo = 0;
  let hi = intervals.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const [a, b] = intervals[mid];
    if (n < a) hi = mid - 1;
    else if (n > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** How many numbers the resolved set holds. */
export function sequenceCount(intervals: readonly SeqInterval[]): number {
  let count = 0;
  for (const [lo, hi] of intervals) count += hi - lo + 1;
  return count;
}

/** Every number in the resolved set, ascending; null if there would be more than `limit`. */
export function expandSequenceSet(intervals: readonly SeqInterval[], limit: number): number[] | null {
  if (sequenceCount(intervals) > limit) return null;
  const out: number[] = [];
  for (const [lo, hi] of intervals) for (let n = lo; n <= hi; n++) out.push(n);
  return out;
}

/** The largest number written explicitly (ignoring `*`), 0 if none: to check seq numbers <= EXISTS. */
export function highestExplicitNumber(ranges: readonly SeqRange[]): number {
  let max = 0;
  for (const r of ranges) {
    if (r.from !== '*' && r.from > max) max = r.from;
    if (r.to !== '*' && r.to > max) max = r.to;
  }
  return max;
}

/** Resolved intervals in IMAP syntax ("1:3,5"); "" for an empty set. */
export function formatIntervals(intervals: readonly SeqInterval[]): string {
  return intervals.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}:${hi}`)).join(',');
}

/** Numbers as a compact sequence set, sorted and de-duplicated: [1,2,3,5,7,8,9] → "1:3,5,7:9". */
export function compressSequenceSet(numbers: Iterable<number>): string {
  const sorted = [...numbers].sort((a, b) => a - b);
  return formatIntervals(normalizeIntervals(sorted.map((n) => [n, n] as const)));
}

/**
 * Numbers as a sequence set in the order given, joining only ascending runs: the nth UID of
 * a COPYUID source set must match the nth of the destination set (RFC 4315 §3), so the
 * two lists must not be re-sorted independently.
 */
export function compressUidList(numbers: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < numbers.length) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j] + 1) j++;
    parts.push(i === j ? String(numbers[i]) : `${numbers[i]}:${numbers[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
