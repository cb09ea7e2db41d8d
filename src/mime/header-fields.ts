/**
 * Header sections (RFC 5322 §2.2, §3.6) as byte ranges: the fields of one header section,
 * with their exact bytes (for BODY[HEADER.FIELDS]) and unfolded values (for ENVELOPE).
 *
 *   splitHeaderFields(buf, start, end): HeaderSection   fields, and the empty line that ends them
 *   unfoldValue(buf, valueStart, end): string            a "byte string" (one char per byte)
 *   fieldNameEnd(buf, start, lineEnd)                    where a field name and its colon end
 *
 * CRLF and bare LF line ends are both accepted (APPEND may bring either). A field name may be
 * followed by whitespace before the colon (obs-optional, RFC 5322 §4.5.3). Lines that are not
 * a field and not a continuation are kept as fields with name null, so a subset fetch can
 * still account for every byte.
 */

export interface HeaderField {
  /** The name as written, or null for a line that is not `name ":"`. */
  name: string | null;
  /** Lowercase name ("" when name is null). */
  lname: string;
  /** Offset of the first byte of the field, of the value (after the colon), and after its last line break. */
  start: number;
  valueStart: number;
  end: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

export interface HeaderSection {
  fields: HeaderField[];
  /** The empty line that ends the section ([start, end)), or null when the section has none. */
  blankLine: [number, number] | null;
}

/**
 * The end of the field name at `start` (ftext = %d33-57 / %d59-126, RFC 5322 §3.6.8; 8-bit
 * bytes tolerated), and the offset just after the colon; or null if the line has no colon.
 */
export function fieldNameEnd(buf: Buffer, start: number, lineEnd: number): [number, number] | null {
  let i = start;
  while (i < lineEnd && buf[i] > SP && buf[i] !== COLON && buf[i] !== 0x7f) i++;
  const nameEnd = i;
  if (nameEnd === start) return null;
  while (i < lineEnd && (buf[i] === SP || buf[i] === HT)) i++;
  if (i >= lineEnd || buf[i] !== COLON) return null;
  return [nameEnd, i + 1];
}

/**
 * The fields of the header section buf[start, end). `end` is the header end as the parser
 * found it (after the empty line, or where the section was cut short). The empty line itself
 * is not a field.
 */
export function splitHeaderFields(buf: Buffer, start: number, end: number): HeaderSection {
  const fields: HeaderField[] = [];
  let p = start;
  let last: HeaderField | null = null;
  while (p < end) {
    const e = buf.indexOf(LF, p);
    const lineEnd = e < 0 || e >= end ? end : e + 1;
    const c = buf[p];
    if (c === LF || (c === CR && p + 1 < end && buf[p + 1] === LF)) return { fields, blankLine: [p, lineEnd] };
    if ((c === SP || c === HT) && last !== null) {
      last.end = lineEnd; // continuation (RFC 5322 §2.2.3)
    } else {
      const ne = fieldNameEnd(buf, p, lineEnd);
      if (ne === null) {
        last = { name: null, lname: '', start: p, valueStart: p, end: lineEnd };
      } else {
        const name = buf.toString('latin1', p, ne[0]);
        last = { name, lname: name.toLowerCase(), start: p, valueStart: ne[1], end: lineEnd };
      }
      fields.push(last);
    }
    p = lineEnd;
  }
  return { fields, blankLine: null };
}

const isWsp = (c: number): boolean => c === SP || c === HT || c === CR || c === LF;

/**
 * The value of a field, unfolded (RFC 5322 §2.2.3: a line break followed by WSP is removed)
 * and trimmed, as a byte string.
 */
export function unfoldValue(buf: Buffer, valueStart: number, end: number): string {
  let a = valueStart;
  let b = end;
  while (a < b && isWsp(buf[a])) a++;
  while (b > a && isWsp(buf[b - 1])) b--;
  const s = buf.toString('latin1', a, b);
  return s.includes('\n') ? s.replace(/\r?\n(?=[ \t])/g, '') : s;
}
