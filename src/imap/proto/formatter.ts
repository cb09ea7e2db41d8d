/**
 * Writes IMAP server responses (RFC 9051 §7) as Buffer chunks, so that a large body section
 * is handed to the socket as it is instead of being copied into a string:
 *
 *   formatStatusResponse({ tag: 'a1', status: 'OK', code: { name: 'UIDVALIDITY', value: 7 }, text: 'done' })
 *     → <Buffer "a1 OK [UIDVALIDITY 7] done\r\n">
 *   formatFetch(12, [{ name: 'UID', value: 40 }, { name: 'FLAGS', value: flagList(['\\Seen']) },
 *                    { name: 'BODY[HEADER]', value: headerBuffer }])
 *     → [<"* 12 FETCH (UID 40 FLAGS (\Seen) BODY[HEADER] {342}\r\n">, headerBuffer, <")\r\n">]
 *
 * Values (`ImapValue`): null is NIL; a string is quoted or a literal, whichever is safe
 * (below); a number is a non-negative integer; a Buffer is a literal; `atom('\\Seen')` is
 * written bare (flags, keywords, capabilities); `binary(buf)` is a BINARY[] section, sent as
 * literal8 `~{n}` when it holds NUL (RFC 3516); an array is a parenthesized list. The
 * MIME layer's ImapSexp (ENVELOPE, BODYSTRUCTURE) is an ImapValue as it is.
 *
 * Quoting: a string is quoted only if it is at most `maxQuoted` octets (default 1024) and
 * has no CR, LF, other controls, `"` or `\`, and no 8-bit characters — unless `utf8` is set
 * (IMAP4rev2 or UTF8=ACCEPT, RFC 9051 §4.3 / RFC 6855), when UTF-8 may be quoted. Everything
 * else is a literal, which can carry any octet but NUL; a NUL in a string becomes U+FFFD.
 * Buffers are sent unchanged (a stored message containing NUL stays as it is).
 *
 * Mailbox names go through `mailbox()`: UTF-8 as they are with `utf8`, otherwise encoded
 * as modified UTF-7 (RFC 3501 §5.1.3). Status texts lose CR/LF (and 8-bit unless `utf8`).
 *
 * Formatting bugs (a negative number, an invalid atom) throw TypeError/RangeError: they are
 * server errors (NO [SERVERBUG]), never client input.
 *
 * Pure: no I/O.
 */
import type { ImapSexp } from '../../mime/types.js';
import { encodeMutf7 } from './mutf7.js';
import type { ImapParseError } from './parse-error.js';
import type { BodySection, FetchItem, StatusItem } from './parser.js';
import { compressSequenceSet, compressUidList } from './sequence-set.js';

export interface FormatOptions {
  /** IMAP4rev2 or UTF8=ACCEPT is in effect: UTF-8 in quoted strings and mailbox names. */
  utf8?: boolean;
  /** Longest string (in octets) sent quoted; longer ones are literals. Default 1024. */
  maxQuoted?: number;
}

/** Written bare: a flag (`\Seen`, `$Junk`), a keyword, a capability. */
export interface Atom {
  readonly atom: string;
}

/** A BINARY[] section (RFC 3516): literal8 when it contains NUL, else a literal. */
export interface BinaryValue {
  readonly binary: Buffer;
}

export type ImapValue = null | string | number | bigint | Buffer | Atom | BinaryValue | readonly ImapValue[];

// Compile-time check: an ImapSexp from the MIME layer is an ImapValue.
type AssertImapValue<T extends ImapValue> = T;
export type ImapSexpValue = AssertImapValue<ImapSexp>;

export function atom(value: string): Atom {
  return { atom: value };
}

export function binary(value: Buffer): BinaryValue {
  return { binary: value };
}

/** A flag list value: `(\Seen $Junk)`. */
export function flagList(flags: readonly string[]): ImapValue {
  return flags.map(atom);
}

const DEFAULT_MAX_QUOTED = 1024;
const CRLF = '\r\n';

// RFC 9051 §9 ATOM-CHAR: CHAR except atom-specials "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]";
// ASTRING-CHAR adds "]".
const ASTRING_CHARS = /^[\x21\x23\x24\x26\x27\x2b-\x5b\x5d-\x7a\x7c-\x7e]+$/;
// A flag: "\" atom, a keyword atom, or "\*" (PERMANENTFLAGS, RFC 9051 §7.1).
const FLAG_OR_ATOM = /^(?:\\?[\x21\x23\x24\x26\x27\x2b-\x5b\x5e-\x7a\x7c-\x7e]+|\\\*)$/;
// Safe in a quoted string: printable ASCII except DQUOTE and "\".
const QUOTABLE_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
// The same, plus any non-ASCII character (UTF-8 allowed, RFC 9051 §9 QUOTED-CHAR).
const QUOTABLE_UTF8 = /^[\x20\x21\x23-\x5b\x5d-\x7e\u00a0-\uffff]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A non-negative integer as text; anything else is a server bug. */
function checkNumber(n: number | bigint): string {
  if (typeof n === 'bigint' ? n < 0n : !Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`not an IMAP number: ${n}`);
  }
  return String(n);
}

/** An atom or flag as text; anything else is a server bug. */
function checkAtom(value: string): string {
  if (!FLAG_OR_ATOM.test(value)) throw new TypeError(`not an IMAP atom: ${JSON.stringify(value)}`);
  return value;
}

// RFC 9051 §9 tag: 1*<any ASTRING-CHAR except "+">.
const TAG_CHARS = /^[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+$/;

/**
 * Accumulates one or more responses as chunks: protocol text is gathered into a string and
 * turned into a Buffer only when a literal (or the end) comes, and literal Buffers are kept
 * as they are.
 */
export class ResponseWriter {
  private readonly chunks: Buffer[] = [];
  private text = '';
  private readonly utf8: boolean;
  private readonly maxQuoted: number;

  constructor(options: FormatOptions = {}) {
    this.utf8 = options.utf8 ?? false;
    this.maxQuoted = options.maxQuoted ?? DEFAULT_MAX_QUOTED;
  }

  /** Protocol text written as it is (the caller guarantees it is valid). */
  raw(text: string): this {
    this.text += text;
    return this;
  }

  sp(): this {
    this.text += ' ';
    return this;
  }

  crlf(): this {
    this.text += CRLF;
    return this;
  }

  number(n: number | bigint): this {
    this.text += checkNumber(n);
    return this;
  }

  atom(value: string): this {
    this.text += checkAtom(value);
    return this;
  }

  /** string = quoted / literal, whichever is safe (see the file comment). */
  string(value: string): this {
    const s = value.includes('\0') ? value.replace(/\0/g, '\uFFFD') : value;
    if (this.quotable(s)) {
      this.text += `"${s}"`;
      return this;
    }
    return this.literal(Buffer.from(s, 'utf8'));
  }

  /** astring: bare when it is a valid atom (and not "NIL", which would read as nil), else a string. */
  astring(value: string): this {
    if (ASTRING_CHARS.test(value) && value.toUpperCase() !== 'NIL') {
      this.text += value;
      return this;
    }
    return this.string(value);
  }

  nstring(value: string | null): this {
    if (value === null) {
      this.text += 'NIL';
      return this;
    }
    return this.string(value);
  }

  /** A mailbox name: UTF-8 with `utf8`, else modified UTF-7 (RFC 3501 §5.1.3). */
  mailbox(name: string): this {
    return this.astring(this.utf8 ? name : encodeMutf7(name));
  }

  /** `{n}\r\n` and the octets (or `~{n}` for literal8). The Buffer is not copied. */
  literal(data: Buffer, literal8 = false): this {
    this.text += `${literal8 ? '~' : ''}{${data.length}}${CRLF}`;
    this.flush();
    if (data.length > 0) this.chunks.push(data);
    return this;
  }

  value(v: ImapValue): this {
    if (v === null) return this.raw('NIL');
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'number':
      case 'bigint':
        return this.number(v);
      default:
        break;
    }
    if (Buffer.isBuffer(v)) return this.literal(v);
    if (Array.isArray(v)) return this.list(v);
    if ('atom' in v) return this.atom(v.atom);
    if ('binary' in v) return this.literal(v.binary, v.binary.includes(0));
    throw new TypeError('not an IMAP value');
  }

  /** "(" values separated by SP ")" */
  list(values: readonly ImapValue[]): this {
    this.text += '(';
    values.forEach((v, i) => {
      if (i > 0) this.text += ' ';
      this.value(v);
    });
    this.text += ')';
    return this;
  }

  /** Everything written so far, as chunks; the writer is empty afterwards. */
  finish(): Buffer[] {
    this.flush();
    return this.chunks.splice(0);
  }

  private flush(): void {
    if (this.text.length > 0) {
      this.chunks.push(Buffer.from(this.text, 'utf8'));
      this.text = '';
    }
  }

  private quotable(s: string): boolean {
    if (s.length > this.maxQuoted) return false;
    if (QUOTABLE_ASCII.test(s)) return true;
    if (!this.utf8 || !QUOTABLE_UTF8.test(s) || LONE_SURROGATE.test(s)) return false;
    return Buffer.byteLength(s, 'utf8') <= this.maxQuoted;
  }
}

// ---------------------------------------------------------------------------
// Status responses (RFC 9051 §7.1)

export type ResponseStatus = 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';

/** Response codes (RFC 9051 §7.1 and the extensions that define them). */
export type ResponseCode =
  | {
      name:
        | 'ALERT'
        | 'PARSE'
        | 'READ-ONLY'
        | 'READ-WRITE'
        | 'TRYCREATE'
        | 'TOOBIG' // RFC 4469, RFC 7889
        | 'ALREADYEXISTS'
        | 'NONEXISTENT'
        | 'CLOSED' // RFC 7162 §3.2.11
        | 'OVERQUOTA'
        | 'LIMIT'
        | 'UNAVAILABLE'
        | 'AUTHENTICATIONFAILED'
        | 'AUTHORIZATIONFAILED'
        | 'EXPIRED'
        | 'PRIVACYREQUIRED'
        | 'CONTACTADMIN'
        | 'NOPERM'
        | 'INUSE'
        | 'EXPUNGEISSUED'
        | 'CORRUPTION'
        | 'SERVERBUG'
        | 'CLIENTBUG'
        | 'CANNOT'
        | 'HASCHILDREN'
        | 'NOMODSEQ' // RFC 7162
        | 'UIDNOTSTICKY' // RFC 4315
        | 'COMPRESSIONACTIVE' // RFC 4978
        | 'UNKNOWN-CTE' // RFC 3516
        | 'NOTSAVED' // RFC 5182
        | 'USEATTR'; // RFC 6154
    }
  | { name: 'UIDVALIDITY' | 'UIDNEXT' | 'UNSEEN' | 'HIGHESTMODSEQ'; value: number | bigint }
  | { name: 'CAPABILITY'; capabilities: readonly string[] }
  | { name: 'PERMANENTFLAGS'; flags: readonly string[] }
  | { name: 'BADCHARSET'; charsets?: readonly string[] }
  /** RFC 4315 §3; several UIDs for MULTIAPPEND. */
  | { name: 'APPENDUID'; uidValidity: number; uids: readonly number[] }
  /** RFC 4315 §3: the nth source UID became the nth destination UID. */
  | { name: 'COPYUID'; uidValidity: number; sourceUids: readonly number[]; destinationUids: readonly number[] }
  /** RFC 7162 §3.1.3: messages that failed the UNCHANGEDSINCE test. */
  | { name: 'MODIFIED'; set: readonly number[] }
  | { name: 'REFERRAL'; url: string }
  /** Anything else, written inside the brackets as it is. */
  | { name: 'RAW'; text: string };

export interface StatusResponse {
  /** The command's tag; null or absent for an untagged (`*`) response. */
  tag?: string | null;
  status: ResponseStatus;
  code?: ResponseCode | null;
  text?: string;
}


/** A response code without the brackets: `UIDVALIDITY 7`, `COPYUID 9 1:2 5:6`. */
export function formatResponseCode(code: ResponseCode): string {
  switch (code.name) {
    case 'UIDVALIDITY':
    case 'UIDNEXT':
    case 'UNSEEN':
    case 'HIGHESTMODSEQ':
      return `${code.name} ${checkNumber(code.value)}`;
    case 'CAPABILITY':
      return ['CAPABILITY', ...code.capabilities.map(checkAtom)].join(' ');
    case 'PERMANENTFLAGS':
      return `PERMANENTFLAGS (${code.flags.map(checkAtom).join(' ')})`;
    case 'BADCHARSET':
      // RFC 9051 §7.1: "BADCHARSET" [SP "(" charset *(SP charset) ")"]
      if (!code.charsets || code.charsets.length === 0) return 'BADCHARSET';
      return `BADCHARSET (${code.charsets.map(checkAtom).join(' ')})`;
    case 'APPENDUID':
      return `APPENDUID ${checkNumber(code.uidValidity)} ${uidSet(code.uids)}`;
    case 'COPYUID':
      if (code.sourceUids.length !== code.destinationUids.length) throw new RangeError('COPYUID sets differ in size');
      return `COPYUID ${checkNumber(code.uidValidity)} ${uidSet(code.sourceUids)} ${uidSet(code.destinationUids)}`;
    case 'MODIFIED':
      return `MODIFIED ${compressSequenceSet(code.set.map(checkUid))}`;
    case 'REFERRAL':
      return `REFERRAL ${sanitizeCodeText(code.url)}`;
    case 'RAW':
      return sanitizeCodeText(code.text);
    default:
      return code.name;
  }
}

function checkUid(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 4294967295) throw new RangeError(`not a UID: ${n}`);
  return n;
}

function uidSet(uids: readonly number[]): string {
  if (uids.length === 0) throw new RangeError('empty UID set');
  return compressUidList(uids.map(checkUid));
}

function sanitizeCodeText(s: string): string {
  return s.replace(/[\x00-\x1f\x7f\]\u0080-\uffff]/g, '?');
}

/** resp-text: no CR/LF/NUL; 8-bit only with `utf8` (RFC 9051 §9 text). */
export function sanitizeText(text: string, utf8 = false): string {
  const s = text.replace(/[\x00\r\n]/g, ' ');
  return utf8 ? s.replace(LONE_SURROGATE_G, '\uFFFD') : s.replace(/[^\x20-\x7e\t]/g, '?');
}
const LONE_SURROGATE_G = new RegExp(LONE_SURROGATE.source, 'g');

/** `<tag|*> <status> [<code>] <text>\r\n` */
export function formatStatusResponse(response: StatusResponse, options: FormatOptions = {}): Buffer {
  const tag = response.tag ?? '*';
  if (tag !== '*' && !TAG_CHARS.test(tag)) throw new TypeError('not an IMAP tag');
  let line = `${tag} ${response.status}`;
  if (response.code) line += ` [${formatResponseCode(response.code)}]`;
  let text = sanitizeText(response.text ?? '', options.utf8);
  // RFC 9051 §9: resp-text needs text; without a code, text must not look like one.
  if (text.length === 0) text = response.code ? response.status.toLowerCase() : 'completed';
  if (!response.code && text.startsWith('[')) text = ` ${text}`;
  return Buffer.from(`${line} ${text}${CRLF}`, 'utf8');
}

/**
 * The answer to a command the parser refused: `<tag> BAD <message>`, `* BAD <message>` when
 * the tag was unreadable, `<tag> NO [BADCHARSET (<charsets>)] ...` for an unknown charset
 * (RFC 9051 §6.4.4), and `[LIMIT]` when a parser limit was hit (RFC 5530).
 */
export function parseErrorResponse(
  error: ImapParseError,
  supportedCharsets: readonly string[] = ['UTF-8', 'US-ASCII'],
): StatusResponse {
  let code: ResponseCode | null = null;
  if (error.code === 'BADCHARSET') code = { name: 'BADCHARSET', charsets: supportedCharsets };
  else if (error.code === 'LIMIT') code = { name: 'LIMIT' };
  else if (error.code !== null) code = { name: 'RAW', text: error.code };
  return { tag: error.tag, status: error.status, code, text: error.message };
}

/** Continuation request `+ <text>\r\n` (RFC 9051 §7.6): "+ Ready" for a literal. */
export function formatContinuation(text = 'Ready'): Buffer {
  return Buffer.from(`+ ${sanitizeText(text)}${CRLF}`, 'latin1');
}

/** A SASL challenge `+ <base64>\r\n` (RFC 9051 §6.2.2); an empty challenge is `+ `. */
export function formatSaslChallenge(challenge: Buffer): Buffer {
  return Buffer.from(`+ ${challenge.toString('base64')}${CRLF}`, 'latin1');
}

// ---------------------------------------------------------------------------
// Untagged data

/** `* <values separated by SP>\r\n`, for anything without a helper below. */
export function formatUntagged(values: readonly ImapValue[], options: FormatOptions = {}): Buffer[] {
  const w = new ResponseWriter(options).raw('*');
  for (const v of values) w.sp().value(v);
  return w.crlf().finish();
}

function line(text: string): Buffer {
  return Buffer.from(`${text}${CRLF}`, 'latin1');
}

/** `* CAPABILITY IMAP4rev2 ...` */
export function formatCapability(capabilities: readonly string[]): Buffer {
  return line(['* CAPABILITY', ...capabilities.map(checkAtom)].join(' '));
}

/** `* ENABLED CONDSTORE` (RFC 5161 §3.2); no capabilities: `* ENABLED`. */
export function formatEnabled(capabilities: readonly string[]): Buffer {
  return line(['* ENABLED', ...capabilities.map(checkAtom)].join(' '));
}

/** `* FLAGS (\Answered ...)` */
export function formatFlags(flags: readonly string[]): Buffer {
  return line(`* FLAGS (${flags.map(checkAtom).join(' ')})`);
}

export function formatExists(count: number): Buffer {
  return line(`* ${checkNumber(count)} EXISTS`);
}

/** IMAP4rev1 only (RFC 3501 §7.3.2). */
export function formatRecent(count: number): Buffer {
  return line(`* ${checkNumber(count)} RECENT`);
}

export function formatExpunge(seq: number): Buffer {
  return line(`* ${checkNumber(seq)} EXPUNGE`);
}

/**
 * `* VANISHED [(EARLIER) ]<uids>` (RFC 7162 §3.2.10). `uids` are compressed (sorted); a string
 * is taken as an already formatted set. An empty list gives an empty Buffer (send nothing).
 */
export function formatVanished(uids: readonly number[] | string, earlier = false): Buffer {
  const set = typeof uids === 'string' ? uids : compressSequenceSet(uids.map(checkUid));
  if (set.length === 0) return Buffer.alloc(0);
  if (!/^[0-9:,]+$/.test(set)) throw new TypeError('not a UID set');
  return line(`* VANISHED ${earlier ? '(EARLIER) ' : ''}${set}`);
}

/** `* SEARCH 2 5 9` (RFC 3501 §7.2.5, IMAP4rev1), with `(MODSEQ n)` for CONDSTORE (RFC 7162 §3.1.5). */
export function formatSearch(ids: readonly number[], modseq: number | bigint | null = null): Buffer {
  return line(numbersWithModseq('* SEARCH', ids, modseq));
}

/** `* SORT 2 3 6` (RFC 5256 §4), with `(MODSEQ n)` for CONDSTORE. */
export function formatSort(ids: readonly number[], modseq: number | bigint | null = null): Buffer {
  return line(numbersWithModseq('* SORT', ids, modseq));
}

function numbersWithModseq(prefix: string, ids: readonly number[], modseq: number | bigint | null): string {
  let s = prefix;
  for (const id of ids) s += ` ${checkNumber(id)}`;
  if (modseq !== null && ids.length > 0) s += ` (MODSEQ ${checkNumber(modseq)})`;
  return s;
}

/** The data of an ESEARCH response (RFC 4731 §3.1); absent fields are left out. */
export interface EsearchResult {
  /** The tag of the command, for the `(TAG "a1")` correlator; null/absent leaves it out. */
  tag?: string | null;
  uid: boolean;
  min?: number;
  max?: number;
  /** Matching numbers (compressed here), or an already formatted sequence set. */
  all?: readonly number[] | string;
  count?: number;
  /** RFC 7162 §3.1.5 */
  modseq?: number | bigint;
}

/** `* ESEARCH (TAG "a1") UID MIN 1 MAX 9 ALL 1:3,9 COUNT 4` */
export function formatEsearch(result: EsearchResult): Buffer {
  let s = '* ESEARCH';
  if (result.tag != null) {
    if (!TAG_CHARS.test(result.tag)) throw new TypeError('not an IMAP tag');
    s += ` (TAG "${result.tag}")`;
  }
  if (result.uid) s += ' UID';
  if (result.min !== undefined) s += ` MIN ${checkNumber(result.min)}`;
  if (result.max !== undefined) s += ` MAX ${checkNumber(result.max)}`;
  if (result.all !== undefined) {
    const set = typeof result.all === 'string' ? result.all : compressSequenceSet(result.all.map(checkUid));
    if (!/^[0-9:,]*$/.test(set)) throw new TypeError('not a sequence set');
    if (set.length > 0) s += ` ALL ${set}`; // RFC 4731 §3.1: no ALL when nothing matched
  }
  if (result.count !== undefined) s += ` COUNT ${checkNumber(result.count)}`;
  if (result.modseq !== undefined) s += ` MODSEQ ${checkNumber(result.modseq)}`;
  return line(s);
}

/** A THREAD tree node (RFC 5256 §4); `id: null` is a dummy parent, which is not shown. */
export interface ThreadNode {
  id: number | null;
  children: readonly ThreadNode[];
}

function threadChain(node: ThreadNode): string {
  const own = node.id === null ? '' : checkNumber(node.id);
  const kids = node.children.filter((k) => k.id !== null || k.children.length > 0);
  let rest = '';
  if (kids.length === 1) rest = threadChain(kids[0]);
  else if (kids.length > 1) rest = kids.map((k) => `(${threadChain(k)})`).join('');
  if (own === '') return rest;
  return rest === '' ? own : `${own} ${rest}`;
}

/** `* THREAD (2)(3 6 (4 23)(44 7 96))` */
export function formatThread(threads: readonly ThreadNode[]): Buffer {
  let s = '* THREAD';
  const lists = threads.map(threadChain).filter((t) => t.length > 0);
  if (lists.length > 0) s += ` ${lists.map((t) => `(${t})`).join('')}`;
  return line(s);
}

/** One LIST or LSUB reply (RFC 9051 §7.3.1, RFC 5258 extended items). */
export interface ListEntry {
  /** Name attributes such as \HasNoChildren, \Subscribed, \Sent. */
  attributes: readonly string[];
  /** The hierarchy delimiter, one character, or null (flat). */
  delimiter: string | null;
  mailbox: string;
  /** RFC 5258 CHILDINFO, e.g. ['SUBSCRIBED']. */
  childInfo?: readonly string[];
  /** RFC 9051 §7.3.1 OLDNAME after a RENAME. */
  oldName?: string;
}

/** `* LIST (\HasNoChildren) "/" INBOX` */
export function formatList(entry: ListEntry, options: FormatOptions = {}, command: 'LIST' | 'LSUB' = 'LIST'): Buffer[] {
  const w = new ResponseWriter(options).raw(`* ${command} (${entry.attributes.map(checkAtom).join(' ')}) `);
  // RFC 9051 §9: (DQUOTE QUOTED-CHAR DQUOTE / nil); a quoted-special is escaped.
  const d = entry.delimiter;
  if (d === null) w.raw('NIL');
  else if (/^[\x20-\x7e]$/.test(d)) w.raw(d === '"' || d === '\\' ? `"\\${d}"` : `"${d}"`);
  else throw new TypeError('a hierarchy delimiter is one printable ASCII character');
  w.sp().mailbox(entry.mailbox);
  const extended: Array<(w: ResponseWriter) => void> = [];
  if (entry.childInfo && entry.childInfo.length > 0) {
    const info = entry.childInfo;
    extended.push((x) => x.raw('"CHILDINFO" ').list(info.map((s) => s)));
  }
  if (entry.oldName !== undefined) {
    const old = entry.oldName;
    extended.push((x) => x.raw('"OLDNAME" (').mailbox(old).raw(')'));
  }
  if (extended.length > 0) {
    w.raw(' (');
    extended.forEach((write, i) => {
      if (i > 0) w.sp();
      write(w);
    });
    w.raw(')');
  }
  return w.crlf().finish();
}

/** `* STATUS INBOX (MESSAGES 3 UIDNEXT 4)` (RFC 9051 §7.3.3) */
export function formatStatusData(
  mailbox: string,
  items: ReadonlyArray<readonly [StatusItem, number | bigint]>,
  options: FormatOptions = {},
): Buffer[] {
  const w = new ResponseWriter(options).raw('* STATUS ').mailbox(mailbox).raw(' (');
  items.forEach(([item, value], i) => {
    if (i > 0) w.sp();
    w.raw(`${item} `).number(value);
  });
  return w.raw(')').crlf().finish();
}

export interface NamespaceEntry {
  prefix: string;
  delimiter: string | null;
}

/** `* NAMESPACE (("" "/")) NIL NIL` (RFC 9051 §7.3.2) */
export function formatNamespace(
  personal: readonly NamespaceEntry[] | null,
  other: readonly NamespaceEntry[] | null,
  shared: readonly NamespaceEntry[] | null,
  options: FormatOptions = {},
): Buffer[] {
  const w = new ResponseWriter(options).raw('* NAMESPACE');
  for (const group of [personal, other, shared]) {
    w.sp();
    if (group === null || group.length === 0) {
      w.raw('NIL');
      continue;
    }
    w.raw('(');
    for (const ns of group) {
      w.raw('(').string(options.utf8 ? ns.prefix : encodeMutf7(ns.prefix)).sp().nstring(ns.delimiter).raw(')');
    }
    w.raw(')');
  }
  return w.crlf().finish();
}

/** `* ID ("name" "Pošta" ...)` or `* ID NIL` (RFC 2971 §3.2) */
export function formatId(
  params: ReadonlyArray<readonly [string, string | null]> | null,
  options: FormatOptions = {},
): Buffer[] {
  const w = new ResponseWriter(options).raw('* ID ');
  if (params === null || params.length === 0) return w.raw('NIL').crlf().finish();
  w.raw('(');
  params.forEach(([key, value], i) => {
    if (i > 0) w.sp();
    w.string(key).sp().nstring(value);
  });
  return w.raw(')').crlf().finish();
}

export interface QuotaResource {
  /** STORAGE (in KiB, RFC 9208 §5.1), MESSAGE, MAILBOX, ... */
  name: string;
  usage: number;
  limit: number;
}

/** `* QUOTA "" (STORAGE 10 512)` (RFC 9208 §5.1) */
export function formatQuota(root: string, resources: readonly QuotaResource[], options: FormatOptions = {}): Buffer[] {
  const w = new ResponseWriter(options).raw('* QUOTA ').string(root).raw(' (');
  resources.forEach((r, i) => {
    if (i > 0) w.sp();
    w.atom(r.name).sp().number(r.usage).sp().number(r.limit);
  });
  return w.raw(')').crlf().finish();
}

/** `* QUOTAROOT INBOX ""` (RFC 9208 §5.2) */
export function formatQuotaRoot(mailbox: string, roots: readonly string[], options: FormatOptions = {}): Buffer[] {
  const w = new ResponseWriter(options).raw('* QUOTAROOT ').mailbox(mailbox);
  for (const root of roots) w.sp().string(root);
  return w.crlf().finish();
}

// ---------------------------------------------------------------------------
// FETCH (RFC 9051 §7.5.2)

/** One FETCH data item: its response name (see fetchItemName) and value. */
export interface FetchResponseItem {
  name: string;
  value: ImapValue;
}

/** `* <seq> FETCH (<name> <value> ...)\r\n` */
export function formatFetch(seq: number, items: readonly FetchResponseItem[], options: FormatOptions = {}): Buffer[] {
  const w = new ResponseWriter(options).raw(`* ${checkNumber(seq)} FETCH (`);
  items.forEach((item, i) => {
    if (i > 0) w.sp();
    w.raw(`${item.name} `).value(item.value);
  });
  return w.raw(')').crlf().finish();
}

/** A section spec as it appears in the response: `1.2.HEADER.FIELDS (From To)`. */
export function formatSection(section: BodySection): string {
  const parts: string[] = section.part.map((n) => checkNumber(n));
  if (section.text !== null) parts.push(section.text);
  let s = parts.join('.');
  if (section.text === 'HEADER.FIELDS' || section.text === 'HEADER.FIELDS.NOT') {
    s += ` (${section.fields.map(headerFieldName).join(' ')})`;
  }
  return s;
}

function headerFieldName(name: string): string {
  if (ASTRING_CHARS.test(name)) return name;
  // The parser lets only printable ASCII through; escape what a quoted string needs.
  if (!/^[\x20-\x7e]+$/.test(name)) throw new TypeError('invalid header field name');
  return `"${name.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * The name a FETCH response gives a requested item: BODY.PEEK[TEXT]<0.100> is answered as
 * `BODY[TEXT]<0>` (RFC 9051 §7.5.2: only the origin octet), BINARY.PEEK[1] as `BINARY[1]`.
 */
export function fetchItemName(item: FetchItem): string {
  switch (item.type) {
    case 'BODY[]':
      return `BODY[${formatSection(item.section)}]${item.partial ? `<${checkNumber(item.partial.offset)}>` : ''}`;
    case 'BINARY[]':
      return `BINARY[${item.part.join('.')}]${item.partial ? `<${checkNumber(item.partial.offset)}>` : ''}`;
    case 'BINARY.SIZE':
      return `BINARY.SIZE[${item.part.join('.')}]`;
    default:
      return item.type;
  }
}

// ---------------------------------------------------------------------------
// Dates

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * RFC 9051 date-time without the quotes: `17-Jul-1996 02:44:25 -0700`; the day is padded
 * with a space (date-day-fixed). `zoneMinutes` is the offset east of UTC to show it in.
 * Write it with `.string()`: it is a quoted string on the wire.
 */
export function formatDateTime(date: Date, zoneMinutes = 0): string {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new RangeError('invalid date');
  if (!Number.isInteger(zoneMinutes) || Math.abs(zoneMinutes) > 99 * 60 + 59) throw new RangeError('invalid zone');
  const d = new Date(t + zoneMinutes * 60_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const zone = Math.abs(zoneMinutes);
  const day = String(d.getUTCDate()).padStart(2, ' ');
  const year = String(d.getUTCFullYear()).padStart(4, '0');
  return (
    `${day}-${MONTHS[d.getUTCMonth()]}-${year} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ` +
    `${zoneMinutes < 0 ? '-' : '+'}${pad(Math.floor(zone / 60))}${pad(zone % 60)}`
  );
}
