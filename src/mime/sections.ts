/**
 * FETCH BODY[section] (RFC 9051 §6.4.5) and BINARY[section] / BINARY.SIZE (RFC 3516) over
 * the stored message bytes and part tree. <partial> is the caller's: these return the whole
 * section.
 *
 *   parseSectionSpec(text): SectionSpec                 "1.2.HEADER.FIELDS (From To)"; throws SectionSyntaxError
 *   findPart(root, path): MimePart | null                the entity a part number names
 *   fetchSection(message, root, spec): Buffer            BODY[spec]; a nonexistent part gives an empty Buffer
 *   fetchBinary(message, root, path): Buffer | null      decoded; null: no such part; throws UnknownTransferEncodingError
 *   binarySize(message, root, path): number | null
 *
 * Part numbers (RFC 9051 §6.4.5), resolved the way Dovecot resolves them:
 * - In a multipart, N is the Nth body part. A non-multipart entity has only part 1, itself;
 *   more numbers after it are allowed only for message/rfc822 (and message/global), whose
 *   encapsulated message they continue into. So part "1" of a single-part message is its
 *   body, and "2.1" of a message/rfc822 part 2 holding a single-part message is that
 *   message's body.
 * - "" (no part) is the whole message; HEADER, HEADER.FIELDS[.NOT] and TEXT then refer to
 *   the top-level message. After a part number they refer to the encapsulated message of a
 *   message/rfc822 part, and are empty for any other part (as in Dovecot).
 * - MIME is the part's own header section (for "1" of a single-part message: the message
 *   header).
 * - Header fetches include the empty line that ends the header, "except in the case of a
 *   message which has no body and no blank line" (RFC 3501 §6.4.5): then there is none.
 *   Dovecot adds CRLF to HEADER.FIELDS even then.
 * - HEADER.FIELDS keeps every matching field, in message order, with its original folding;
 *   names match case-insensitively (RFC 9051 §6.4.5).
 */
import { splitHeaderFields } from './header-fields.js';
import { decodeTransferEncoding } from './transfer-decoding.js';
import type { MimePart } from './types.js';

export { UnknownTransferEncodingError } from './transfer-decoding.js';

export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface SectionSpec {
  /** Part numbers, e.g. [1, 2] for "1.2"; [] for the whole message. */
  part: number[];
  text: SectionText | null;
  /** Field names for HEADER.FIELDS and HEADER.FIELDS.NOT. */
  fields?: string[];
}

/** A section spec that does not follow RFC 9051 `section-spec`. */
export class SectionSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SectionSyntaxError';
  }
}

const CRLF = Buffer.from('\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);

/** Parse the text between "[" and "]" of a FETCH BODY item. Header names are atoms or quoted strings. */
export function parseSectionSpec(text: string): SectionSpec {
  const part: number[] = [];
  let rest = text;
  for (let m = /^([1-9][0-9]{0,9})(\.|$)/.exec(rest); m !== null; m = /^([1-9][0-9]{0,9})(\.|$)/.exec(rest)) {
    part.push(Number(m[1]));
    rest = rest.slice(m[0].length);
    if (m[2] === '') break;
    if (rest === '') throw new SectionSyntaxError(`bad section ${JSON.stringify(text)}`); // "1."
  }
  if (rest === '') {
    if (part.length === 0 && text !== '') throw new SectionSyntaxError(`bad section ${JSON.stringify(text)}`);
    return { part, text: null };
  }
  const head = /^(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)(?= |$)/i.exec(rest);
  if (head === null) throw new SectionSyntaxError(`bad section ${JSON.stringify(text)}`);
  const kind = head[1].toUpperCase() as SectionText;
  if (kind === 'MIME' && part.length === 0) throw new SectionSyntaxError('MIME needs a part number');
  rest = rest.slice(head[0].length);
  if (kind !== 'HEADER.FIELDS' && kind !== 'HEADER.FIELDS.NOT') {
    if (rest !== '') throw new SectionSyntaxError(`bad section ${JSON.stringify(text)}`);
    return { part, text: kind };
  }
  const list = /^ \((.*)\)$/s.exec(rest);
  if (list === null) throw new SectionSyntaxError('HEADER.FIELDS needs a parenthesized list');
  const fields: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^\s()"]+))/gy;
  let consumed = 0;
  for (let m = re.exec(list[1]); m !== null; m = re.exec(list[1])) {
    fields.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
    consumed = re.lastIndex;
  }
  if (list[1].slice(consumed).trim() !== '' || fields.length === 0) throw new SectionSyntaxError('bad header list');
  return { part, text: kind, fields };
}

function isMultipart(p: MimePart): boolean {
  return p.type === 'multipart' && p.children.length > 0;
}

function isMessage(p: MimePart): boolean {
  return p.type === 'message' && p.children.length === 1;
}

/** The entity that part number `path` names, or null if there is none. [] is the root. */
export function findPart(root: MimePart, path: readonly number[]): MimePart | null {
  let cur: MimePart = root;
  for (let k = 0; k < path.length; k++) {
    const n = path[k];
    const more = k + 1 < path.length;
    if (isMultipart(cur)) {
      const child = cur.children[n - 1];
      if (child === undefined) return null;
      cur = child;
    } else if (n !== 1 || (more && !isMessage(cur))) {
      return null;
    }
    if (more && isMessage(cur)) cur = cur.children[0];
  }
  return cur;
}

function slice(message: Buffer, start: number, end: number): Buffer {
  const s = Math.max(0, Math.min(start, message.length));
  const e = Math.max(s, Math.min(end, message.length));
  return message.subarray(s, e);
}

/** The subset of a header section that HEADER.FIELDS / HEADER.FIELDS.NOT select. */
function headerSubset(message: Buffer, entity: MimePart, names: readonly string[], not: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const end = Math.min(entity.headerEnd, message.length);
  const { fields, blankLine } = splitHeaderFields(message, Math.min(entity.headerStart, end), end);
  const out: Buffer[] = [];
  for (const f of fields) {
    const match = f.name !== null && wanted.has(f.lname);
    if (match === not) continue;
    out.push(message.subarray(f.start, f.end));
    if (message[f.end - 1] !== 0x0a) out.push(CRLF); // a field cut off by a boundary: end its line
  }
  if (blankLine !== null) out.push(message.subarray(blankLine[0], blankLine[1]));
  return Buffer.concat(out);
}

/** BODY[section]. A nonexistent part, or HEADER/TEXT of a part that is not a message, is empty. */
export function fetchSection(message: Buffer, root: MimePart, spec: SectionSpec | string): Buffer {
  const s = typeof spec === 'string' ? parseSectionSpec(spec) : spec;
  if (s.part.length === 0 && s.text === null) return message;
  const cur = findPart(root, s.part);
  if (cur === null) return EMPTY;
  if (s.text === null) return slice(message, cur.bodyStart, cur.bodyEnd);
  if (s.text === 'MIME') return s.part.length === 0 ? EMPTY : slice(message, cur.headerStart, cur.headerEnd);
  let entity: MimePart;
  if (s.part.length === 0) entity = root;
  else if (isMessage(cur)) entity = cur.children[0];
  else return EMPTY;
  switch (s.text) {
    case 'HEADER':
      return slice(message, entity.headerStart, entity.headerEnd);
    case 'TEXT':
      return slice(message, entity.bodyStart, entity.bodyEnd);
    case 'HEADER.FIELDS':
      return headerSubset(message, entity, s.fields ?? [], false);
    case 'HEADER.FIELDS.NOT':
      return headerSubset(message, entity, s.fields ?? [], true);
  }
}

/**
 * BINARY[path]: the part's body with its Content-Transfer-Encoding removed (RFC 3516 §4.1).
 * [] is the whole message as stored (Dovecot instead rewrites every encoded part inside it).
 * Damaged base64 / quoted-printable decodes leniently (transfer-decoding.ts). Returns null
 * for a nonexistent part; throws UnknownTransferEncodingError for an encoding we cannot
 * decode, which the server answers with NO [UNKNOWN-CTE].
 */
export function fetchBinary(message: Buffer, root: MimePart, path: readonly number[]): Buffer | null {
  if (path.length === 0) return message;
  const cur = findPart(root, path);
  if (cur === null) return null;
  return decodeTransferEncoding(slice(message, cur.bodyStart, cur.bodyEnd), cur.encoding);
}

/** BINARY.SIZE[path]: the decoded size, or null for a nonexistent part. Same errors as fetchBinary. */
export function binarySize(message: Buffer, root: MimePart, path: readonly number[]): number | null {
  const b = fetchBinary(message, root, path);
  return b === null ? null : b.length;
}
