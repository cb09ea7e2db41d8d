/**
 * Decoded text for SEARCH (RFC 9051 §6.4.4): header values with RFC 2047 encoded words
 * decoded, and the text of text/* parts with quoted-printable/base64 and the charset undone,
 * all as JS strings. Matching (substring, case folding) is the caller's.
 *
 *   decodeHeaderValue(raw): string                         unfolded, encoded words decoded
 *   headerFields(message, entity?): DecodedField[]         SEARCH HEADER/SUBJECT/FROM/TO/CC/BCC
 *   bodyText(message, root, opts?): string                 SEARCH BODY
 *   searchText(message, root, opts?): { header, body }     SEARCH TEXT is header + body
 *   htmlToText(html): string                               the HTML reduction described below
 *   baseSubject(subject): string                           RFC 5256 §2.1 (base-subject.ts)
 *   parseDateHeader(value): number | null                  the Date header, epoch ms (date-time.ts)
 *   parseMessageIds(value): string[]                       msg-ids for THREAD (message-ids.ts)
 *
 * Body text: every text/* leaf in order (inline or attachment), and for message/rfc822 parts
 * the encapsulated header fields ("Name: value" lines) followed by its text. Other types are
 * skipped. text/html has comments, script and style removed, tags dropped (block tags become
 * line breaks), common entities decoded and whitespace runs squeezed, so a search for
 * "espresso machine" finds "<b>espresso</b>\n  machine" and "font" does not match every
 * HTML mail. A part with an unknown transfer encoding is searched as it is stored.
 * Charsets: anything iconv-lite knows, ISO-2022-JP, and fallbacks for unknown labels
 * (charset.ts). Output is capped at `maxChars` (default 1,000,000) UTF-16 code units per
 * message; decoding stops early once the cap is reached.
 */
import { decodeCharset, rawHeaderText } from './charset.js';
import { decodeEncodedWords } from './encoded-words.js';
import { splitHeaderFields, unfoldValue } from './header-fields.js';
import { decodeTransferEncoding, UnknownTransferEncodingError } from './transfer-decoding.js';
import type { MimePart } from './types.js';

export { baseSubject } from './base-subject.js';
export { parseDateHeader } from './date-time.js';
export { parseMessageIds } from './message-ids.js';

export const DEFAULT_MAX_SEARCH_CHARS = 1_000_000;

export interface SearchTextOptions {
  /** Cap on the text produced, in UTF-16 code units. */
  maxChars?: number;
}

export interface DecodedField {
  /** The field name as written. */
  name: string;
  /** Lowercase name, for matching. */
  lname: string;
  /** Unfolded value with encoded words decoded. */
  value: string;
}

/** A raw header value (byte string or text): unfold, read 8-bit bytes, decode encoded words. */
export function decodeHeaderValue(raw: string): string {
  const unfolded = raw.replace(/\r?\n(?=[ \t])/g, '').replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
  // a byte string (all chars < 256) may hold raw UTF-8 or Latin-1 bytes
  const text = /^[\x00-\xff]*$/.test(unfolded) ? rawHeaderText(Buffer.from(unfolded, 'latin1')) : unfolded;
  return decodeEncodedWords(text);
}

/** The decoded fields of an entity's header (the top-level message by default). */
export function headerFields(message: Buffer, entity?: MimePart): DecodedField[] {
  const start = entity?.headerStart ?? 0;
  const end = Math.min(entity?.headerEnd ?? message.length, message.length);
  const section =
    entity === undefined ? headerSectionOf(message) : splitHeaderFields(message, Math.min(start, end), end);
  const out: DecodedField[] = [];
  for (const f of section.fields) {
    if (f.name === null) continue;
    out.push({ name: f.name, lname: f.lname, value: decodeHeaderValue(unfoldValue(message, f.valueStart, f.end)) });
  }
  return out;
}

function headerSectionOf(message: Buffer) {
  // without a part tree: the header runs to the first empty line
  return splitHeaderFields(message, 0, message.length);
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  copy: '©',
  reg: '®',
  trade: '™',
  euro: '€',
  pound: '£',
  yen: '¥',
  cent: '¢',
  sect: '§',
  deg: '°',
  middot: '·',
  hellip: '…',
  ndash: '–',
  mdash: '—',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  laquo: '«',
  raquo: '»',
  bull: '•',
  shy: '',
  zwnj: '',
  zwj: '',
};

function decodeEntity(all: string, body: string): string {
  if (body[0] === '#') {
    const cp = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    if (!Number.isFinite(cp) || cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return all;
    return String.fromCodePoint(cp);
  }
  return ENTITIES[body] ?? ENTITIES[body.toLowerCase()] ?? all;
}

const BLOCK_TAG = /^\/?(?:p|div|br|hr|tr|td|th|li|ul|ol|table|h[1-6]|blockquote|pre|section|article|header|footer|title|body|html)\b/i;

/** HTML → searchable text (see the file header). */
export function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?(?:-->|$)/g, ' ')
    .replace(/<(script|style|head)\b[\s\S]*?(?:<\/\1\s*>|$)/gi, ' ')
    .replace(/<\/?([a-zA-Z!?/][^>]*)(?:>|$)/g, (_m, inner: string) => (BLOCK_TAG.test(inner) ? '\n' : ''))
    .replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});?/g, decodeEntity)
    .replace(/[ \t\r\f\v\u00a0]+/g, ' ')
    .replace(/ ?\n[\s]*/g, '\n')
    .trim();
}

class TextSink {
  text = '';
  constructor(readonly max: number) {}
  get full(): boolean {
    return this.text.length >= this.max;
  }
  get room(): number {
    return this.max - this.text.length;
  }
  add(s: string): void {
    if (this.full || s === '') return;
    if (this.text !== '') this.text += '\n';
    this.text += s.length > this.room ? s.slice(0, Math.max(0, this.room)) : s;
  }
}

function partText(message: Buffer, part: MimePart, room: number): string {
  const start = Math.min(part.bodyStart, message.length);
  const end = Math.min(part.bodyEnd, message.length);
  // Decode no more than the cap can use: one char needs at most ~4 encoded bytes here
  // (3 for quoted-printable "=XX", 4/3 for base64, up to 4 for UTF-8), plus slack.
  const raw = message.subarray(start, Math.min(end, start + room * 4 + 1024));
  let bytes: Buffer;
  try {
    bytes = decodeTransferEncoding(raw, part.encoding);
  } catch (e) {
    if (!(e instanceof UnknownTransferEncodingError)) throw e;
    bytes = raw;
  }
  const text = decodeCharset(bytes, part.params.charset ?? null);
  return part.subtype === 'html' ? htmlToText(text) : text;
}

function collect(message: Buffer, part: MimePart, sink: TextSink): void {
  if (sink.full) return;
  if (part.type === 'message' && part.children.length === 1) {
    const inner = part.children[0];
    for (const f of headerFields(message, inner)) sink.add(`${f.name}: ${f.value}`);
    collect(message, inner, sink);
    return;
  }
  if (part.children.length > 0) {
    for (const c of part.children) collect(message, c, sink);
    return;
  }
  if (part.type === 'text') sink.add(partText(message, part, sink.room));
}

/** The decoded text of the message body (SEARCH BODY). */
export function bodyText(message: Buffer, root: MimePart, opts: SearchTextOptions = {}): string {
  const sink = new TextSink(opts.maxChars ?? DEFAULT_MAX_SEARCH_CHARS);
  collect(message, root, sink);
  return sink.text;
}

/** Header and body text of the message (SEARCH TEXT searches both). */
export function searchText(message: Buffer, root: MimePart, opts: SearchTextOptions = {}): { header: string; body: string } {
  const max = opts.maxChars ?? DEFAULT_MAX_SEARCH_CHARS;
  const header = headerFields(message, root)
    .map((f) => `${f.name}: ${f.value}`)
    .join('\n')
    .slice(0, max);
  return { header, body: bodyText(message, root, { maxChars: Math.max(0, max - header.length) }) };
}
