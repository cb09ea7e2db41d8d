/**
 * Parses one complete IMAP command — the bytes CommandReader hands out: lines joined with
 * CRLF, literals in place, final CRLF optional — into a typed `Command`:
 *
 *   parseCommand(Buffer.from('a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)]<0.512>)'))
 *   → { tag: 'a1', name: 'FETCH', uid: true, set, items: [...], changedSince: null, vanished: false, macro: null }
 *
 * Grammar: RFC 9051 §9 (IMAP4rev2) and RFC 3501 §9 (IMAP4rev1: CHECK, LSUB, RECENT/NEW/OLD),
 * with LITERAL+/- (RFC 7888), BINARY (RFC 3516), CONDSTORE/QRESYNC (RFC 7162), ESEARCH
 * (RFC 4731), SEARCHRES (RFC 5182), SORT/THREAD (RFC 5256), ESORT (RFC 5267), WITHIN
 * (RFC 5032), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154),
 * MULTIAPPEND (RFC 3502), UTF8=ACCEPT append (RFC 6855), ENABLE (RFC 5161), ID (RFC 2971),
 * COMPRESS (RFC 4978), QUOTA (RFC 9208), SASL-IR (RFC 4959), MOVE (RFC 6851), UIDPLUS
 * (RFC 4315), UNSELECT (RFC 3691), NAMESPACE (RFC 2342), IDLE (RFC 2177).
 *
 * Contract: parseCommand never throws anything but ImapParseError (DESIGN.md §7). The error
 * has the tag (null when unreadable: answer `* BAD`), status BAD — or NO with code
 * BADCHARSET for an unsupported SEARCH/SORT/THREAD charset — and code LIMIT when a limit
 * below was hit.
 *
 * Values: strings are decoded as UTF-8 (invalid UTF-8 or NUL is BAD); SEARCH strings with
 * the command's CHARSET through `ParserOptions.charsets`. Mailbox names are returned as
 * sent, except that INBOX is case-insensitive and always "INBOX"; for IMAP4rev1 sessions the
 * server decodes them with decodeMutf7() (mutf7.ts). System flags come back in canonical
 * case (`\Seen`); keywords as sent. Numbers are JS numbers: 32-bit ones are range-checked,
 * 63-bit ones (mod-sequences, sizes, partial offsets) are clamped to Number.MAX_SAFE_INTEGER.
 * APPEND message data is a zero-copy slice of the input.
 *
 * Limits (ParserOptions): maxSequenceRanges 16384 elements per sequence set; maxSearchDepth
 * 32 (parentheses, NOT and OR nest); maxSearchNodes 1000 search keys per command.
 *
 * Also here: parseDateTime (RFC 9051 date-time), parseSaslResponse (AUTHENTICATE lines,
 * RFC 9051 §6.2.2), isIdleDone (RFC 2177).
 *
 * Pure: no I/O.
 */
import { ImapParseError, type ParseErrorDetails } from './parse-error.js';
import { MAX_UINT32, parseSequenceSet, type SequenceSet } from './sequence-set.js';

// ---------------------------------------------------------------------------
// AST

/** RFC 9051 §6.4.4 search keys. `SEQUENCE` is a bare sequence set; `AND` is juxtaposition. */
export type SearchKey =
  | { type: SearchFlagKey }
  | { type: 'KEYWORD' | 'UNKEYWORD'; flag: string }
  | { type: SearchStringKey; value: string }
  | { type: 'HEADER'; field: string; value: string }
  | { type: SearchDateKey; date: SearchDate }
  | { type: 'LARGER' | 'SMALLER'; size: number }
  | { type: 'OLDER' | 'YOUNGER'; seconds: number }
  | { type: 'UID' | 'SEQUENCE'; set: SequenceSet }
  | { type: 'MODSEQ'; modseq: number; entry: ModseqEntry | null }
  | { type: 'NOT'; key: SearchKey }
  | { type: 'OR'; left: SearchKey; right: SearchKey }
  | { type: 'AND'; keys: SearchKey[] };

export type SearchFlagKey =
  | 'ALL'
  | 'ANSWERED'
  | 'DELETED'
  | 'DRAFT'
  | 'FLAGGED'
  | 'NEW'
  | 'OLD'
  | 'RECENT'
  | 'SEEN'
  | 'UNANSWERED'
  | 'UNDELETED'
  | 'UNDRAFT'
  | 'UNFLAGGED'
  | 'UNSEEN';
export type SearchStringKey = 'BCC' | 'BODY' | 'CC' | 'FROM' | 'SUBJECT' | 'TEXT' | 'TO';
export type SearchDateKey = 'BEFORE' | 'ON' | 'SINCE' | 'SENTBEFORE' | 'SENTON' | 'SENTSINCE';

/** A calendar date (RFC 9051 `date`): no time or zone; the server compares in its own zone. */
export interface SearchDate {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
}

/** RFC 7162 §3.1.5 MODSEQ search with an entry: `MODSEQ "/flags/\\Seen" priv 1234`. */
export interface ModseqEntry {
  flag: string;
  kind: 'priv' | 'shared' | 'all';
}

/** RFC 4731 ESEARCH RETURN options; `RETURN ()` means ALL (RFC 4731 §3.1). SAVE: RFC 5182. */
export interface SearchReturn {
  min: boolean;
  max: boolean;
  all: boolean;
  count: boolean;
  save: boolean;
}

export interface BodySection {
  /** Part numbers; [] for the whole message (RFC 9051 §6.4.5). */
  part: number[];
  text: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME' | null;
  /** Header field names for HEADER.FIELDS (.NOT), as sent. */
  fields: string[];
}

/** `<offset.length>`: the response names only the offset (`BODY[]<0>`). */
export interface FetchPartial {
  offset: number;
  length: number;
}

export type FetchItem =
  | { type: SimpleFetchItem }
  | { type: 'BODY[]'; peek: boolean; section: BodySection; partial: FetchPartial | null }
  | { type: 'BINARY[]'; peek: boolean; part: number[]; partial: FetchPartial | null }
  | { type: 'BINARY.SIZE'; part: number[] };

/** `BODY` alone is the non-extensible BODYSTRUCTURE. RFC822 is BODY[], RFC822.HEADER is BODY.PEEK[HEADER]. */
export type SimpleFetchItem =
  | 'ENVELOPE'
  | 'FLAGS'
  | 'INTERNALDATE'
  | 'RFC822.SIZE'
  | 'BODYSTRUCTURE'
  | 'BODY'
  | 'UID'
  | 'MODSEQ'
  | 'RFC822'
  | 'RFC822.HEADER'
  | 'RFC822.TEXT';

export type StatusItem =
  | 'MESSAGES'
  | 'UIDNEXT'
  | 'UIDVALIDITY'
  | 'UNSEEN'
  | 'DELETED'
  | 'SIZE'
  | 'RECENT'
  | 'HIGHESTMODSEQ'
  | 'APPENDLIMIT';

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';

export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

/** RFC 5258 selection options; null on the command when none were given. */
export interface ListSelection {
  subscribed: boolean;
  remote: boolean;
  recursiveMatch: boolean;
  specialUse: boolean;
}

/** RFC 5258 / 5819 / 6154 return options; null on the command when RETURN was absent. */
export interface ListReturn {
  subscribed: boolean;
  children: boolean;
  specialUse: boolean;
  /** LIST-STATUS items, null when STATUS was not asked for. */
  status: StatusItem[] | null;
}

/** RFC 7162 §3.2.5 `QRESYNC (uidvalidity modseq [known-uids] [(seqs uids)])`. */
export interface QresyncParams {
  uidValidity: number;
  modseq: number;
  knownUids: SequenceSet | null;
  seqMatch: { seqs: SequenceSet; uids: SequenceSet } | null;
}

export interface AppendMessage {
  /** Flags, empty when none were given. */
  flags: string[];
  internalDate: Date | null;
  data: Buffer;
  /** Sent as literal8 `~{n}` (RFC 3516): may contain NUL and any octets. */
  binary: boolean;
  /** Sent as `UTF8 (~{n})` (RFC 6855 §4). */
  utf8: boolean;
}

type NoArgs = Record<never, never>;

interface SelectArgs {
  mailbox: string;
  condstore: boolean;
  qresync: QresyncParams | null;
}

interface SearchArgs {
  uid: boolean;
  charset: string | null;
  returnOptions: SearchReturn | null;
  criteria: SearchKey;
}

interface FetchArgs {
  uid: boolean;
  set: SequenceSet;
  items: FetchItem[];
  /** The macro used, if any; `items` holds its expansion (RFC 9051 §6.4.5). */
  macro: 'ALL' | 'FAST' | 'FULL' | null;
  changedSince: number | null;
  vanished: boolean;
}

interface StoreArgs {
  uid: boolean;
  set: SequenceSet;
  unchangedSince: number | null;
  action: 'set' | 'add' | 'remove';
  silent: boolean;
  flags: string[];
}

interface CopyArgs {
  uid: boolean;
  set: SequenceSet;
  mailbox: string;
}

interface SortArgs {
  uid: boolean;
  criteria: SortCriterion[];
  charset: string;
  returnOptions: SearchReturn | null;
  search: SearchKey;
}

interface ListArgs {
  reference: string;
  patterns: string[];
  selection: ListSelection | null;
  returnOptions: ListReturn | null;
}

/** The arguments of each command, by upper-case name. */
export interface CommandArgs {
  CAPABILITY: NoArgs;
  NOOP: NoArgs;
  LOGOUT: NoArgs;
  STARTTLS: NoArgs;
  CHECK: NoArgs;
  CLOSE: NoArgs;
  UNSELECT: NoArgs;
  IDLE: NoArgs;
  NAMESPACE: NoArgs;
  AUTHENTICATE: { mechanism: string; initialResponse: Buffer | null };
  LOGIN: { username: string; password: string };
  ENABLE: { capabilities: string[] };
  SELECT: SelectArgs;
  EXAMINE: SelectArgs;
  CREATE: { mailbox: string; specialUse: string[] };
  DELETE: { mailbox: string };
  SUBSCRIBE: { mailbox: string };
  UNSUBSCRIBE: { mailbox: string };
  RENAME: { from: string; to: string };
  LIST: ListArgs;
  LSUB: { reference: string; pattern: string };
  STATUS: { mailbox: string; items: StatusItem[] };
  APPEND: { mailbox: string; messages: AppendMessage[] };
  /** EXPUNGE (uid false, set null) and UID EXPUNGE (RFC 4315 §2.1). */
  EXPUNGE: { uid: boolean; set: SequenceSet | null };
  SEARCH: SearchArgs;
  FETCH: FetchArgs;
  STORE: StoreArgs;
  COPY: CopyArgs;
  MOVE: CopyArgs;
  SORT: SortArgs;
  THREAD: { uid: boolean; algorithm: string; charset: string; search: SearchKey };
  /** null for `ID NIL`. */
  ID: { params: Array<[string, string | null]> | null };
  COMPRESS: { mechanism: string };
  GETQUOTA: { root: string };
  GETQUOTAROOT: { mailbox: string };
}

export type CommandName = keyof CommandArgs;

/** One command with its tag: `CommandOf<'FETCH'>`. `uid` is true for the UID form. */
export type CommandOf<N extends CommandName> = { tag: string; name: N } & CommandArgs[N];

/** Any parsed command; switch on `name`. */
export type Command = { [N in CommandName]: CommandOf<N> }[CommandName];

export type SimpleCommandName =
  | 'CAPABILITY'
  | 'NOOP'
  | 'LOGOUT'
  | 'STARTTLS'
  | 'CHECK'
  | 'CLOSE'
  | 'UNSELECT'
  | 'IDLE'
  | 'NAMESPACE';

// ---------------------------------------------------------------------------
// Options

/** Decodes SEARCH/SORT/THREAD strings in the charset the client named (RFC 9051 §6.4.4). */
export interface CharsetDecoder {
  /** True if the charset may be named (else the command gets `NO [BADCHARSET]`). */
  supports(charset: string): boolean;
  /** The text, or null if the octets are not valid in that charset. */
  decode(charset: string, bytes: Buffer): string | null;
}

export interface ParserOptions {
  maxSequenceRanges?: number;
  maxSearchDepth?: number;
  maxSearchNodes?: number;
  /** Charsets for SEARCH/SORT/THREAD; default: UTF-8 and US-ASCII only. */
  charsets?: CharsetDecoder;
}

export const DEFAULT_PARSER_LIMITS = Object.freeze({
  maxSequenceRanges: 16384,
  maxSearchDepth: 32,
  maxSearchNodes: 1000,
});

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decoding; null for invalid octets. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/** UTF-8 and US-ASCII, the two every server must know (RFC 9051 §6.4.4). US-ASCII is read as UTF-8. */
export const defaultCharsets: CharsetDecoder = Object.freeze({
  supports: (charset: string) => /^(UTF-8|US-ASCII)$/i.test(charset),
  decode: (_charset: string, bytes: Buffer) => decodeUtf8(bytes),
});

// ---------------------------------------------------------------------------
// Character classes (RFC 9051 §9)

const ATOM = 1; // ATOM-CHAR
const ASTRING = 2; // ASTRING-CHAR = ATOM-CHAR / resp-specials
const LIST = 4; // list-char = ATOM-CHAR / list-wildcards / resp-specials
const TAG = 8; // tag char: ASTRING-CHAR except "+"
const CLASS = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) {
  // atom-specials: "(" ")" "{" SP CTL list-wildcards quoted-specials resp-specials
  const special = '(){%*"\\]'.includes(String.fromCharCode(c));
  if (!special) CLASS[c] |= ATOM | ASTRING | LIST | TAG;
}
CLASS[0x5d] |= ASTRING | LIST | TAG; // "]"
CLASS[0x25] |= LIST; // "%"
CLASS[0x2a] |= LIST; // "*"
CLASS[0x2b] &= ~TAG; // "+"

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/** RFC 9051 §2.3.2: system flags are case-insensitive; these are their canonical spellings. */
const SYSTEM_FLAGS = new Map(
  ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', '\\Recent'].map((f) => [f.toUpperCase(), f]),
);

const STATUS_ITEMS: ReadonlySet<string> = new Set<StatusItem>([
  'MESSAGES',
  'UIDNEXT',
  'UIDVALIDITY',
  'UNSEEN',
  'DELETED',
  'SIZE',
  'RECENT',
  'HIGHESTMODSEQ',
  'APPENDLIMIT',
]);

const SORT_KEYS: ReadonlySet<string> = new Set<SortKey>([
  'ARRIVAL',
  'CC',
  'DATE',
  'FROM',
  'SIZE',
  'SUBJECT',
  'TO',
  'DISPLAYFROM',
  'DISPLAYTO',
]);

const SEARCH_FLAG_KEYS: ReadonlySet<string> = new Set<SearchFlagKey>([
  'ALL',
  'ANSWERED',
  'DELETED',
  'DRAFT',
  'FLAGGED',
  'NEW',
  'OLD',
  'RECENT',
  'SEEN',
  'UNANSWERED',
  'UNDELETED',
  'UNDRAFT',
  'UNFLAGGED',
  'UNSEEN',
]);
const SEARCH_STRING_KEYS: ReadonlySet<string> = new Set<SearchStringKey>([
  'BCC',
  'BODY',
  'CC',
  'FROM',
  'SUBJECT',
  'TEXT',
  'TO',
]);
const SEARCH_DATE_KEYS: ReadonlySet<string> = new Set<SearchDateKey>([
  'BEFORE',
  'ON',
  'SINCE',
  'SENTBEFORE',
  'SENTON',
  'SENTSINCE',
]);

const SEARCH_ARG_KEYS: ReadonlySet<string> = new Set([
  ...SEARCH_STRING_KEYS,
  ...SEARCH_DATE_KEYS,
  ...['KEYWORD', 'UNKEYWORD', 'HEADER', 'LARGER', 'SMALLER', 'OLDER', 'YOUNGER', 'UID', 'NOT', 'OR', 'MODSEQ'],
]);

const SIMPLE_FETCH_ITEMS: ReadonlySet<string> = new Set<SimpleFetchItem>([
  'ENVELOPE',
  'FLAGS',
  'INTERNALDATE',
  'RFC822.SIZE',
  'BODYSTRUCTURE',
  'BODY',
  'UID',
  'MODSEQ',
  'RFC822',
  'RFC822.HEADER',
  'RFC822.TEXT',
]);

// RFC 9051 §6.4.5 macros.
const FETCH_MACROS: Record<string, SimpleFetchItem[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

const SIMPLE_COMMANDS: ReadonlySet<string> = new Set<SimpleCommandName>([
  'CAPABILITY',
  'NOOP',
  'LOGOUT',
  'STARTTLS',
  'CHECK',
  'CLOSE',
  'UNSELECT',
  'IDLE',
  'NAMESPACE',
]);

/** Commands that take the UID prefix (RFC 9051 §6.4.9, RFC 5256, RFC 6851, RFC 4315). */
const UID_COMMANDS: ReadonlySet<string> = new Set<CommandName>([
  'COPY',
  'MOVE',
  'FETCH',
  'SEARCH',
  'STORE',
  'EXPUNGE',
  'SORT',
  'THREAD',
]);

// ---------------------------------------------------------------------------
// The parser

interface Limits {
  maxSequenceRanges: number;
  maxSearchDepth: number;
  maxSearchNodes: number;
  charsets: CharsetDecoder;
}

class Cursor {
  pos = 0;
  /** End of the command: before an optional final CRLF, unless a literal runs into it. */
  end: number;
  searchNodes = 0;

  constructor(
    readonly buf: Buffer,
    readonly limits: Limits,
  ) {
    // An optional final CRLF is not part of the command.
    let end = buf.length;
    if (end >= 2 && buf[end - 2] === CR && buf[end - 1] === LF) end -= 2;
    this.end = end;
  }

  fail(message: string, details: ParseErrorDetails = {}): never {
    throw new ImapParseError(message, { offset: this.pos, ...details });
  }

  limit(message: string): never {
    this.fail(message, { code: 'LIMIT' });
  }

  peek(): number {
    return this.pos < this.end ? this.buf[this.pos] : -1;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  expectEnd(): void {
    if (this.pos < this.end) this.fail('unexpected characters at the end of the command');
  }

  char(c: number, what: string): void {
    if (this.peek() !== c) this.fail(`expected ${what}`);
    this.pos++;
  }

  sp(): void {
    const c = this.peek();
    if (c !== SP) this.fail(c === -1 ? 'missing argument' : `expected a space, not ${describe(c)}`);
    this.pos++;
  }

  /** Inside "(...)": a space before the next element, or a clear message at the end. */
  listSp(): void {
    if (this.atEnd()) this.fail('expected ")"');
    this.sp();
  }

  /** Consumes a SP if one follows. */
  maybeSp(): boolean {
    if (this.peek() !== SP) return false;
    this.pos++;
    return true;
  }

  run(cls: number): string {
    const start = this.pos;
    while (this.pos < this.end && (CLASS[this.buf[this.pos]] & cls) !== 0) this.pos++;
    return this.buf.toString('latin1', start, this.pos);
  }

  atom(what = 'an atom'): string {
    const s = this.run(ATOM);
    if (s.length === 0) this.fail(`expected ${what}`);
    return s;
  }

  /** An atom, upper-cased (keywords of the grammar). */
  keyword(what = 'a keyword'): string {
    return this.atom(what).toUpperCase();
  }

  /** True (and consumed) if the next atom is `word` followed by SP or `follow`. */
  lookingAt(word: string): boolean {
    const end = this.pos + word.length;
    if (end > this.end) return false;
    if (this.buf.toString('latin1', this.pos, end).toUpperCase() !== word) return false;
    if (end < this.end && (CLASS[this.buf[end]] & ATOM) !== 0) return false;
    this.pos = end;
    return true;
  }

  digits(): string {
    const start = this.pos;
    while (this.pos < this.end && this.buf[this.pos] >= 0x30 && this.buf[this.pos] <= 0x39) this.pos++;
    return this.buf.toString('latin1', start, this.pos);
  }

  /** RFC 9051 number (32-bit unsigned). */
  number(what = 'a number'): number {
    const d = this.digits();
    if (d.length === 0) this.fail(`expected ${what}`);
    const n = d.length > 12 ? Infinity : Number(d);
    if (n > MAX_UINT32) this.fail(`${what} out of range`);
    return n;
  }

  /** RFC 9051 nz-number. */
  nzNumber(what = 'a number'): number {
    const start = this.pos;
    const n = this.number(what);
    if (n === 0 || this.buf[start] === 0x30) this.fail(`${what} must be a non-zero number`, { offset: start });
    return n;
  }

  /**
   * RFC 9051 number64 / RFC 7162 mod-sequence-value: up to 2^63-1. Values above
   * Number.MAX_SAFE_INTEGER are clamped to it; no store gets there, so comparisons such as
   * CHANGEDSINCE keep their meaning.
   */
  number64(what = 'a number'): number {
    const d = this.digits().replace(/^0+(?=\d)/, '');
    if (d.length === 0) this.fail(`expected ${what}`);
    if (d.length > 19 || (d.length === 19 && d > '9223372036854775807')) this.fail(`${what} out of range`);
    return Math.min(Number(d), Number.MAX_SAFE_INTEGER);
  }

  /** quoted = DQUOTE *QUOTED-CHAR DQUOTE; 8-bit octets are kept (UTF-8 is checked on decoding). */
  quoted(): Buffer {
    this.char(DQUOTE, 'a quoted string');
    const start = this.pos;
    // Fast path: no escapes.
    let i = this.pos;
    while (i < this.end) {
      const c = this.buf[i];
      if (c === DQUOTE || c === BACKSLASH || c === CR || c === LF || c === 0) break;
      i++;
    }
    if (i < this.end && this.buf[i] === DQUOTE) {
      this.pos = i + 1;
      return this.buf.subarray(start, i);
    }
    const out: number[] = [];
    for (let j = start; j < i; j++) out.push(this.buf[j]);
    this.pos = i;
    for (;;) {
      if (this.pos >= this.end) this.fail('unterminated quoted string');
      const c = this.buf[this.pos];
      if (c === DQUOTE) {
        this.pos++;
        return Buffer.from(out);
      }
      if (c === CR || c === LF || c === 0) this.fail('CR, LF or NUL in a quoted string');
      if (c === BACKSLASH) {
        const next = this.pos + 1 < this.end ? this.buf[this.pos + 1] : -1;
        if (next !== DQUOTE && next !== BACKSLASH) this.fail('invalid escape in a quoted string');
        out.push(next);
        this.pos += 2;
      } else {
        out.push(c);
        this.pos++;
      }
    }
  }

  /** literal / literal8 (RFC 9051 §4.3, RFC 7888, RFC 3516). Returns the octets in place. */
  literal(allowBinary: boolean): { data: Buffer; binary: boolean } {
    let binary = false;
    if (this.peek() === 0x7e) {
      if (!allowBinary) this.fail('literal8 is not allowed here');
      binary = true;
      this.pos++;
    }
    this.char(0x7b, 'a literal');
    const d = this.digits();
    if (d.length === 0) this.fail('expected the literal length');
    const size = d.length > 15 ? Infinity : Number(d);
    if (this.peek() === 0x2b) this.pos++;
    this.char(0x7d, '"}"');
    // The literal octets follow CRLF and may run past `end` (into a final "\r\n").
    if (this.buf[this.pos] !== CR || this.buf[this.pos + 1] !== LF) this.fail('expected CRLF after the literal length');
    this.pos += 2;
    if (size > this.buf.length - this.pos) this.fail('literal is shorter than announced');
    const data = this.buf.subarray(this.pos, this.pos + size);
    this.pos += size;
    if (this.pos > this.end) {
      // The literal swallowed what looked like a final CRLF: the command ends with it.
      this.end = this.buf.length;
    }
    return { data, binary };
  }

  /** string = quoted / literal */
  string(): Buffer {
    const c = this.peek();
    if (c === DQUOTE) return this.quoted();
    if (c === 0x7b) return this.literal(false).data;
    this.fail('expected a string');
  }

  /** astring = 1*ASTRING-CHAR / string */
  astringBytes(): Buffer {
    const c = this.peek();
    if (c === DQUOTE || c === 0x7b) return this.string();
    const start = this.pos;
    this.run(ASTRING);
    if (this.pos === start) this.fail('expected a string');
    return this.buf.subarray(start, this.pos);
  }

  text(bytes: Buffer, what = 'string'): string {
    if (bytes.includes(0)) this.fail(`NUL in ${what}`);
    const s = decodeUtf8(bytes);
    if (s === null) this.fail(`${what} is not valid UTF-8`);
    return s;
  }

  astring(what = 'string'): string {
    return this.text(this.astringBytes(), what);
  }

  /** nstring = string / NIL */
  nstring(what = 'string'): string | null {
    if (this.lookingAt('NIL')) return null;
    return this.text(this.string(), what);
  }

  /** mailbox = "INBOX" / astring; INBOX in any case is INBOX (RFC 9051 §5.1). */
  mailbox(): string {
    const name = this.astring('mailbox name');
    return name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
  }

  /** list-mailbox = 1*list-char / string */
  listMailbox(): string {
    const c = this.peek();
    if (c === DQUOTE || c === 0x7b) return this.text(this.string(), 'mailbox pattern');
    const s = this.run(LIST);
    if (s.length === 0) this.fail('expected a mailbox pattern');
    return s;
  }

  /** sequence-set, parsed by sequence-set.ts. */
  sequenceSet(options: { allowSaved?: boolean; allowStar?: boolean } = {}): SequenceSet {
    const start = this.pos;
    while (this.pos < this.end) {
      const c = this.buf[this.pos];
      if ((c >= 0x30 && c <= 0x39) || c === 0x3a || c === 0x2c || c === 0x2a || c === 0x24) this.pos++;
      else break;
    }
    if (this.pos === start) this.fail('expected a sequence set');
    try {
      return parseSequenceSet(this.buf.toString('latin1', start, this.pos), {
        ...options,
        maxRanges: this.limits.maxSequenceRanges,
      });
    } catch (err) {
      if (err instanceof ImapParseError) {
        const limit = err.message.includes('more than');
        throw new ImapParseError(err.message, { offset: start + err.offset, code: limit ? 'LIMIT' : null });
      }
      throw err;
    }
  }

  /** flag = "\" atom / atom (flag-keyword); system flags canonicalised. */
  flag(): string {
    if (this.peek() === BACKSLASH) {
      this.pos++;
      const name = `\\${this.atom('a flag name')}`;
      return SYSTEM_FLAGS.get(name.toUpperCase()) ?? name;
    }
    return this.atom('a flag');
  }

  /** flag-list = "(" [flag *(SP flag)] ")" */
  flagList(): string[] {
    this.char(0x28, '"("');
    const flags: string[] = [];
    if (this.peek() === 0x29) {
      this.pos++;
      return flags;
    }
    for (;;) {
      flags.push(this.flag());
      if (this.peek() === 0x29) {
        this.pos++;
        return flags;
      }
      this.listSp();
    }
  }

  /** "(" x *(SP x) ")" with at least one element (or zero if allowEmpty). */
  parenList<T>(item: () => T, allowEmpty = false): T[] {
    this.char(0x28, '"("');
    const out: T[] = [];
    if (this.peek() === 0x29) {
      if (!allowEmpty) this.fail('empty list');
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(item());
      if (this.peek() === 0x29) {
        this.pos++;
        return out;
      }
      this.listSp();
    }
  }
}

function describe(c: number): string {
  return c > 0x20 && c < 0x7f ? `"${String.fromCharCode(c)}"` : `character 0x${c.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------
// Dates

function monthIndex(s: string): number {
  return MONTHS.indexOf(s.toUpperCase()) + 1;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

const DATE_TEXT = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/;
// RFC 9051 date-time: date-day-fixed "-" date-month "-" date-year SP time SP zone.
// A one-digit day without its leading space is accepted too.
const DATE_TIME = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

function checkDate(year: number, month: number, day: number): boolean {
  return month >= 1 && year >= 1 && day >= 1 && day <= daysInMonth(year, month);
}

/** RFC 9051 date-time, without the quotes: `17-Jul-1996 02:44:25 -0700`. Throws ImapParseError. */
export function parseDateTime(text: string): Date {
  const m = DATE_TIME.exec(text);
  if (!m) throw new ImapParseError('invalid date-time');
  const day = Number(m[1]);
  const month = monthIndex(m[2]);
  const year = Number(m[3]);
  const [hh, mm, ss] = [Number(m[4]), Number(m[5]), Number(m[6])];
  const zone = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  if (!checkDate(year, month, day) || hh > 23 || mm > 59 || ss > 60 || Number(m[9]) > 59) {
    throw new ImapParseError('invalid date-time');
  }
  return new Date(Date.UTC(year, month - 1, day, hh, mm, Math.min(ss, 59)) - zone * 60_000);
}

// ---------------------------------------------------------------------------
// SASL and IDLE

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A client's AUTHENTICATE response line (RFC 9051 §6.2.2): base64, decoded; null for "*"
 * (the client cancels: answer BAD). Throws ImapParseError for invalid base64.
 */
export function parseSaslResponse(line: Buffer): Buffer | null {
  const s = line.toString('latin1');
  if (s === '*') return null;
  if (!BASE64.test(s)) throw new ImapParseError('invalid base64 in the authentication response');
  return Buffer.from(s, 'base64');
}

/** True if a line received during IDLE is "DONE" (RFC 2177 §3). */
export function isIdleDone(line: Buffer): boolean {
  return line.length === 4 && line.toString('latin1').toUpperCase() === 'DONE';
}

// ---------------------------------------------------------------------------
// Commands

/**
 * Parses one command. Never throws anything but ImapParseError; unexpected internal errors
 * are wrapped in one (message "internal parser error") so a session never crashes on input.
 */
export function parseCommand(input: Buffer | string, options: ParserOptions = {}): Command {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const limits: Limits = {
    maxSequenceRanges: options.maxSequenceRanges ?? DEFAULT_PARSER_LIMITS.maxSequenceRanges,
    maxSearchDepth: options.maxSearchDepth ?? DEFAULT_PARSER_LIMITS.maxSearchDepth,
    maxSearchNodes: options.maxSearchNodes ?? DEFAULT_PARSER_LIMITS.maxSearchNodes,
    charsets: options.charsets ?? defaultCharsets,
  };
  const p = new Cursor(buf, limits);
  let tag: string | null = null;
  let name: string | null = null;
  try {
    const t = p.run(TAG);
    if (t.length === 0 || p.peek() !== SP) {
      p.fail(p.atEnd() && t.length === 0 ? 'empty command line' : 'invalid tag');
    }
    tag = t;
    p.sp();
    let word = p.keyword('a command name');
    let uid = false;
    if (word === 'UID') {
      uid = true;
      p.sp();
      word = p.keyword('a command name');
      name = `UID ${word}`;
      if (!UID_COMMANDS.has(word)) p.fail(`UID ${word} is not a command`);
    } else {
      name = word;
    }
    const command = parseArguments(p, tag, word, uid);
    p.expectEnd();
    return command;
  } catch (err) {
    if (err instanceof ImapParseError) throw err.withContext(tag, name);
    throw new ImapParseError('internal parser error', { tag, command: name, cause: err });
  }
}

function parseArguments(p: Cursor, tag: string, name: string, uid: boolean): Command {
  if (SIMPLE_COMMANDS.has(name)) return { tag, name: name as SimpleCommandName };
  switch (name) {
    case 'AUTHENTICATE': {
      p.sp();
      const mechanism = p.keyword('a SASL mechanism');
      let initialResponse: Buffer | null = null;
      if (p.maybeSp()) {
        // RFC 4959 §3: initial-response = base64 / "=" (an empty response).
        const start = p.pos;
        while (p.pos < p.end && p.buf[p.pos] !== SP) p.pos++;
        const s = p.buf.toString('latin1', start, p.pos);
        if (s === '=') initialResponse = Buffer.alloc(0);
        else if (s.length > 0 && BASE64.test(s)) initialResponse = Buffer.from(s, 'base64');
        else p.fail('invalid base64 in the initial response', { offset: start });
      }
      return { tag, name, mechanism, initialResponse };
    }
    case 'LOGIN': {
      p.sp();
      const username = p.astring('user name');
      p.sp();
      const password = p.astring('password');
      return { tag, name, username, password };
    }
    case 'ENABLE': {
      const capabilities: string[] = [];
      do {
        p.sp();
        capabilities.push(p.keyword('a capability'));
      } while (!p.atEnd());
      return { tag, name, capabilities };
    }
    case 'SELECT':
    case 'EXAMINE':
      return parseSelect(p, tag, name);
    case 'CREATE': {
      p.sp();
      const mailbox = p.mailbox();
      const specialUse: string[] = [];
      if (p.maybeSp()) {
        // RFC 4466 create-params; RFC 6154 §3: USE (\Drafts ...).
        p.parenList(() => {
          const param = p.keyword('a CREATE parameter');
          if (param !== 'USE') p.fail(`unknown CREATE parameter ${param}`);
          p.sp();
          specialUse.push(
            ...p.parenList(() => {
              p.char(BACKSLASH, 'a special-use attribute');
              return `\\${p.atom('a special-use attribute')}`;
            }),
          );
        });
      }
      return { tag, name, mailbox, specialUse };
    }
    case 'DELETE':
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      p.sp();
      return { tag, name, mailbox: p.mailbox() };
    }
    case 'RENAME': {
      p.sp();
      const from = p.mailbox();
      p.sp();
      return { tag, name, from, to: p.mailbox() };
    }
    case 'LIST':
      return parseList(p, tag);
    case 'LSUB': {
      p.sp();
      const reference = p.astring('reference name');
      p.sp();
      return { tag, name, reference, pattern: p.listMailbox() };
    }
    case 'STATUS': {
      p.sp();
      const mailbox = p.mailbox();
      p.sp();
      return { tag, name, mailbox, items: statusItems(p) };
    }
    case 'APPEND':
      return parseAppend(p, tag);
    case 'EXPUNGE': {
      if (!uid) return { tag, name, uid, set: null };
      p.sp();
      return { tag, name, uid, set: p.sequenceSet() };
    }
    case 'SEARCH':
      return parseSearch(p, tag, uid);
    case 'FETCH':
      return parseFetch(p, tag, uid);
    case 'STORE':
      return parseStore(p, tag, uid);
    case 'COPY':
    case 'MOVE': {
      p.sp();
      const set = p.sequenceSet();
      p.sp();
      return { tag, name, uid, set, mailbox: p.mailbox() };
    }
    case 'SORT':
      return parseSort(p, tag, uid);
    case 'THREAD': {
      p.sp();
      const algorithm = p.keyword('a thread algorithm');
      p.sp();
      const charset = parseCharset(p);
      p.sp();
      return { tag, name, uid, algorithm, charset, search: searchProgram(p, charset) };
    }
    case 'ID':
      return parseId(p, tag);
    case 'COMPRESS': {
      p.sp();
      return { tag, name, mechanism: p.keyword('a compression mechanism') };
    }
    case 'GETQUOTA': {
      p.sp();
      return { tag, name, root: p.astring('quota root') };
    }
    case 'GETQUOTAROOT': {
      p.sp();
      return { tag, name, mailbox: p.mailbox() };
    }
    default:
      p.fail(`unknown command ${name}`);
  }
}

function parseSelect(p: Cursor, tag: string, name: 'SELECT' | 'EXAMINE'): Command {
  p.sp();
  const mailbox = p.mailbox();
  let condstore = false;
  let qresync: QresyncParams | null = null;
  if (p.maybeSp()) {
    // RFC 4466 select-params; RFC 7162 §3.1.8 CONDSTORE, §3.2.5 QRESYNC.
    p.parenList(() => {
      const param = p.keyword('a SELECT parameter');
      if (param === 'CONDSTORE' && !condstore) {
        condstore = true;
      } else if (param === 'QRESYNC' && qresync === null) {
        p.sp();
        qresync = qresyncParams(p);
      } else {
        p.fail(`unknown or repeated SELECT parameter ${param}`);
      }
    }, true);
  }
  return { tag, name, mailbox, condstore, qresync };
}

function qresyncParams(p: Cursor): QresyncParams {
  p.char(0x28, '"("');
  const uidValidity = p.nzNumber('UIDVALIDITY');
  p.sp();
  const modseq = p.number64('mod-sequence');
  let knownUids: SequenceSet | null = null;
  let seqMatch: QresyncParams['seqMatch'] = null;
  if (p.maybeSp()) {
    if (p.peek() !== 0x28) {
      // RFC 7162 §7: known-uids = sequence-set, "*" not allowed.
      knownUids = p.sequenceSet({ allowStar: false, allowSaved: false });
      if (p.maybeSp() && p.peek() !== 0x28) p.fail('expected "("');
    }
    if (p.peek() === 0x28) {
      p.pos++;
      const seqs = p.sequenceSet({ allowStar: false, allowSaved: false });
      p.sp();
      const uids = p.sequenceSet({ allowStar: false, allowSaved: false });
      p.char(0x29, '")"');
      seqMatch = { seqs, uids };
    }
  }
  p.char(0x29, '")"');
  return { uidValidity, modseq, knownUids, seqMatch };
}

function statusItems(p: Cursor): StatusItem[] {
  return p.parenList(() => {
    const item = p.keyword('a status item');
    if (!STATUS_ITEMS.has(item)) p.fail(`unknown status item ${item}`);
    return item as StatusItem;
  });
}

function parseList(p: Cursor, tag: string): Command {
  p.sp();
  let selection: ListSelection | null = null;
  if (p.peek() === 0x28) {
    // RFC 5258 §3 list-select-opts.
    const sel: ListSelection = { subscribed: false, remote: false, recursiveMatch: false, specialUse: false };
    p.parenList(() => {
      const opt = p.keyword('a selection option');
      if (opt === 'SUBSCRIBED') sel.subscribed = true;
      else if (opt === 'REMOTE') sel.remote = true;
      else if (opt === 'RECURSIVEMATCH') sel.recursiveMatch = true;
      else if (opt === 'SPECIAL-USE') sel.specialUse = true;
      else p.fail(`unknown LIST selection option ${opt}`);
    }, true);
    // RFC 5258 §3: RECURSIVEMATCH needs another selection option that it modifies.
    if (sel.recursiveMatch && !sel.subscribed && !sel.specialUse) {
      p.fail('RECURSIVEMATCH without a base selection option');
    }
    selection = sel;
    p.sp();
  }
  const reference = p.astring('reference name');
  p.sp();
  const patterns = p.peek() === 0x28 ? p.parenList(() => p.listMailbox()) : [p.listMailbox()];
  let returnOptions: ListReturn | null = null;
  if (p.maybeSp()) {
    if (!p.lookingAt('RETURN')) p.fail('expected RETURN');
    p.sp();
    const ret: ListReturn = { subscribed: false, children: false, specialUse: false, status: null };
    p.parenList(() => {
      const opt = p.keyword('a return option');
      if (opt === 'SUBSCRIBED') ret.subscribed = true;
      else if (opt === 'CHILDREN') ret.children = true;
      else if (opt === 'SPECIAL-USE') ret.specialUse = true;
      else if (opt === 'STATUS' && ret.status === null) {
        p.sp();
        ret.status = statusItems(p); // RFC 5819 §2
      } else p.fail(`unknown or repeated LIST return option ${opt}`);
    }, true);
    returnOptions = ret;
  }
  return { tag, name: 'LIST', reference, patterns, selection, returnOptions };
}

function parseAppend(p: Cursor, tag: string): Command {
  p.sp();
  const mailbox = p.mailbox();
  const messages: AppendMessage[] = [];
  // RFC 3502 §6: append = "APPEND" SP mailbox 1*append-message;
  // append-message = append-opts SP append-data; append-opts = [SP flag-list] [SP date-time].
  do {
    p.sp();
    let flags: string[] = [];
    let internalDate: Date | null = null;
    if (p.peek() === 0x28) {
      flags = p.flagList();
      p.sp();
    }
    if (p.peek() === DQUOTE) {
      const start = p.pos;
      const text = p.quoted().toString('latin1');
      try {
        internalDate = parseDateTime(text);
      } catch {
        p.fail('invalid date-time', { offset: start });
      }
      p.sp();
    }
    let utf8 = false;
    if (p.lookingAt('UTF8')) {
      // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")"
      utf8 = true;
      p.sp();
      p.char(0x28, '"("');
      if (p.peek() !== 0x7e) p.fail('expected literal8');
    }
    if (p.peek() !== 0x7b && p.peek() !== 0x7e) p.fail('expected the message as a literal');
    const { data, binary } = p.literal(true);
    if (utf8) p.char(0x29, '")"');
    messages.push({ flags, internalDate, data, binary, utf8 });
  } while (!p.atEnd());
  return { tag, name: 'APPEND', mailbox, messages };
}

function parseCharset(p: Cursor): string {
  // charset = atom / quoted
  const charset = p.peek() === DQUOTE ? p.text(p.quoted(), 'charset') : p.atom('a charset');
  if (!p.limits.charsets.supports(charset)) {
    p.fail(`unsupported charset ${charset}`, { status: 'NO', code: 'BADCHARSET' });
  }
  return charset;
}

/** RFC 4731 §3.1 search-return-opts, after "RETURN". */
function searchReturn(p: Cursor): SearchReturn {
  p.sp();
  const ret: SearchReturn = { min: false, max: false, all: false, count: false, save: false };
  const opts = p.parenList(() => {
    const opt = p.keyword('a RETURN option');
    if (opt === 'MIN') ret.min = true;
    else if (opt === 'MAX') ret.max = true;
    else if (opt === 'ALL') ret.all = true;
    else if (opt === 'COUNT') ret.count = true;
    else if (opt === 'SAVE') ret.save = true;
    else p.fail(`unknown RETURN option ${opt}`);
    return opt;
  }, true);
  if (opts.length === 0) ret.all = true; // RFC 4731 §3.1: "RETURN ()" is RETURN (ALL)
  return ret;
}

function parseSearch(p: Cursor, tag: string, uid: boolean): Command {
  p.sp();
  let returnOptions: SearchReturn | null = null;
  if (p.lookingAt('RETURN')) {
    returnOptions = searchReturn(p);
    p.sp();
  }
  let charset: string | null = null;
  if (p.lookingAt('CHARSET')) {
    p.sp();
    charset = parseCharset(p);
    p.sp();
  }
  return { tag, name: 'SEARCH', uid, charset, returnOptions, criteria: searchProgram(p, charset) };
}

function parseSort(p: Cursor, tag: string, uid: boolean): Command {
  p.sp();
  let returnOptions: SearchReturn | null = null;
  if (p.lookingAt('RETURN')) {
    returnOptions = searchReturn(p); // RFC 5267 §3 ESORT
    p.sp();
  }
  // RFC 5256 §5: sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
  const criteria = p.parenList(() => {
    let key = p.keyword('a sort key');
    let reverse = false;
    if (key === 'REVERSE') {
      reverse = true;
      p.sp();
      key = p.keyword('a sort key');
    }
    if (!SORT_KEYS.has(key)) p.fail(`unknown sort key ${key}`);
    return { key: key as SortKey, reverse };
  });
  p.sp();
  const charset = parseCharset(p);
  p.sp();
  return { tag, name: 'SORT', uid, criteria, charset, returnOptions, search: searchProgram(p, charset) };
}

/** search-key *(SP search-key) to the end of the command; several keys are an AND. */
function searchProgram(p: Cursor, charset: string | null): SearchKey {
  const keys = [searchKey(p, charset, 0)];
  while (!p.atEnd()) {
    p.sp();
    keys.push(searchKey(p, charset, 0));
  }
  return keys.length === 1 ? keys[0] : { type: 'AND', keys };
}

function searchString(p: Cursor, charset: string | null): string {
  const bytes = p.astringBytes();
  if (bytes.includes(0)) p.fail('NUL in a search string');
  let s: string | null;
  try {
    s = charset === null ? decodeUtf8(bytes) : p.limits.charsets.decode(charset, bytes);
  } catch {
    s = null;
  }
  if (s === null) p.fail(`search string is not valid ${charset ?? 'UTF-8'}`);
  return s;
}

/** date = date-text / DQUOTE date-text DQUOTE (RFC 9051 §9). */
function searchDate(p: Cursor): SearchDate {
  const start = p.pos;
  const text = p.peek() === DQUOTE ? p.quoted().toString('latin1') : p.run(ATOM);
  const m = DATE_TEXT.exec(text);
  const day = m ? Number(m[1]) : 0;
  const month = m ? monthIndex(m[2]) : 0;
  const year = m ? Number(m[3]) : 0;
  if (!m || !checkDate(year, month, day)) p.fail('invalid date', { offset: start });
  return { year, month, day };
}

function searchKey(p: Cursor, charset: string | null, depth: number): SearchKey {
  if (depth > p.limits.maxSearchDepth) p.limit('search criteria nested too deeply');
  if (++p.searchNodes > p.limits.maxSearchNodes) p.limit('too many search criteria');
  const c = p.peek();
  if (c === 0x28) {
    p.pos++;
    const keys = [searchKey(p, charset, depth + 1)];
    while (p.peek() !== 0x29) {
      p.listSp();
      keys.push(searchKey(p, charset, depth + 1));
    }
    p.pos++;
    return keys.length === 1 ? keys[0] : { type: 'AND', keys };
  }
  if ((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24) return { type: 'SEQUENCE', set: p.sequenceSet() };
  const start = p.pos;
  const word = p.keyword('a search key');
  if (SEARCH_FLAG_KEYS.has(word)) return { type: word as SearchFlagKey };
  if (!SEARCH_ARG_KEYS.has(word)) p.fail(`unknown search key ${word}`, { offset: start });
  p.sp();
  if (SEARCH_STRING_KEYS.has(word)) return { type: word as SearchStringKey, value: searchString(p, charset) };
  if (SEARCH_DATE_KEYS.has(word)) return { type: word as SearchDateKey, date: searchDate(p) };
  switch (word) {
    case 'KEYWORD':
    case 'UNKEYWORD':
      return { type: word, flag: p.atom('a keyword') };
    case 'HEADER': {
      const field = p.astring('header field name');
      p.sp();
      return { type: word, field, value: searchString(p, charset) };
    }
    case 'LARGER':
    case 'SMALLER':
      return { type: word, size: p.number64('a size') };
    case 'OLDER':
    case 'YOUNGER':
      return { type: word, seconds: p.nzNumber('an interval') }; // RFC 5032 §3
    case 'UID':
      return { type: word, set: p.sequenceSet() };
    case 'NOT':
      return { type: word, key: searchKey(p, charset, depth + 1) };
    case 'OR': {
      const left = searchKey(p, charset, depth + 1);
      p.sp();
      return { type: word, left, right: searchKey(p, charset, depth + 1) };
    }
    case 'MODSEQ': {
      // RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
      let entry: ModseqEntry | null = null;
      if (p.peek() === DQUOTE) {
        const name = p.text(p.quoted(), 'entry name');
        if (!/^\/flags\/\\?[^\s()]+$/i.test(name)) p.fail('invalid MODSEQ entry name');
        const flag = name.slice('/flags/'.length);
        p.sp();
        const kind = p.atom('an entry type').toLowerCase();
        if (kind !== 'priv' && kind !== 'shared' && kind !== 'all') p.fail('invalid MODSEQ entry type');
        entry = { flag: SYSTEM_FLAGS.get(flag.toUpperCase()) ?? flag, kind };
        p.sp();
      }
      return { type: word, modseq: p.number64('a mod-sequence'), entry };
    }
    default:
      p.fail(`unknown search key ${word}`, { offset: start });
  }
}

function sectionPart(p: Cursor): number[] {
  // section-part = nz-number *("." nz-number)
  const part = [p.nzNumber('a part number')];
  while (p.peek() === 0x2e && p.pos + 1 < p.end && p.buf[p.pos + 1] >= 0x30 && p.buf[p.pos + 1] <= 0x39) {
    p.pos++;
    part.push(p.nzNumber('a part number'));
  }
  return part;
}

/** section = "[" [section-spec] "]" (RFC 9051 §9), after the "[". */
function bodySection(p: Cursor): BodySection {
  const section: BodySection = { part: [], text: null, fields: [] };
  const c = p.peek();
  if (c >= 0x30 && c <= 0x39) {
    section.part = sectionPart(p);
    if (p.peek() !== 0x2e) {
      p.char(0x5d, '"]"');
      return section;
    }
    p.pos++;
  } else if (c === 0x5d) {
    p.pos++;
    return section;
  }
  const start = p.pos;
  const word = p.run(ATOM).toUpperCase();
  if (word === 'HEADER' || word === 'TEXT' || (word === 'MIME' && section.part.length > 0)) {
    section.text = word;
  } else if (word === 'HEADER.FIELDS' || word === 'HEADER.FIELDS.NOT') {
    section.text = word;
    p.sp();
    section.fields = p.parenList(() => headerFieldName(p));
  } else {
    p.fail('invalid section', { offset: start });
  }
  p.char(0x5d, '"]"');
  return section;
}

/**
 * header-fld-name = astring, restricted to an RFC 5322 §3.6.8 field-name (printable ASCII but
 * ":"): the name is echoed in the FETCH response, so nothing else may get through.
 */
function headerFieldName(p: Cursor): string {
  const start = p.pos;
  const name = p.astring('header field name');
  if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) p.fail('invalid header field name', { offset: start });
  return name;
}

/** partial = "<" number64 "." nz-number64 ">" */
function partial(p: Cursor): FetchPartial | null {
  if (p.peek() !== 0x3c) return null;
  p.pos++;
  const offset = p.number64('a partial offset');
  p.char(0x2e, '"."');
  const start = p.pos;
  const length = p.number64('a partial length');
  if (length === 0) p.fail('partial length must not be zero', { offset: start });
  p.char(0x3e, '">"');
  return { offset, length };
}

function fetchItem(p: Cursor): FetchItem {
  const start = p.pos;
  // Item names are letters, digits and dots; "[" starts a section.
  while (p.pos < p.end) {
    const c = p.buf[p.pos];
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e;
    if (!ok) break;
    p.pos++;
  }
  const word = p.buf.toString('latin1', start, p.pos).toUpperCase();
  if (word.length === 0) p.fail('expected a fetch item');
  const bracket = p.peek() === 0x5b;
  if (bracket) {
    p.pos++;
    if (word === 'BODY' || word === 'BODY.PEEK') {
      const section = bodySection(p);
      return { type: 'BODY[]', peek: word === 'BODY.PEEK', section, partial: partial(p) };
    }
    // RFC 3516: section-binary = "[" [section-part] "]"
    if (word === 'BINARY' || word === 'BINARY.PEEK' || word === 'BINARY.SIZE') {
      const part = p.peek() === 0x5d ? [] : sectionPart(p);
      p.char(0x5d, '"]"');
      if (word === 'BINARY.SIZE') return { type: 'BINARY.SIZE', part };
      return { type: 'BINARY[]', peek: word === 'BINARY.PEEK', part, partial: partial(p) };
    }
  } else if (SIMPLE_FETCH_ITEMS.has(word)) {
    return { type: word as SimpleFetchItem };
  }
  p.fail(`unknown fetch item ${word}`, { offset: start });
}

function parseFetch(p: Cursor, tag: string, uid: boolean): Command {
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  let items: FetchItem[];
  let macro: 'ALL' | 'FAST' | 'FULL' | null = null;
  if (p.peek() === 0x28) {
    items = p.parenList(() => fetchItem(p));
  } else {
    const start = p.pos;
    const word = p.run(ATOM).toUpperCase();
    if (word === 'ALL' || word === 'FAST' || word === 'FULL') {
      macro = word;
      items = FETCH_MACROS[word].map((type) => ({ type }));
    } else {
      p.pos = start;
      items = [fetchItem(p)];
    }
  }
  let changedSince: number | null = null;
  let vanished = false;
  if (p.maybeSp()) {
    // RFC 4466 fetch-modifiers; RFC 7162 §3.1.4 CHANGEDSINCE, §3.2.6 VANISHED.
    p.parenList(() => {
      const start = p.pos;
      const mod = p.keyword('a FETCH modifier');
      if (mod === 'CHANGEDSINCE' && changedSince === null) {
        p.sp();
        changedSince = p.number64('a mod-sequence');
      } else if (mod === 'VANISHED' && !vanished) {
        vanished = true;
      } else {
        p.fail(`unknown or repeated FETCH modifier ${mod}`, { offset: start });
      }
    });
    // RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE.
    if (vanished && (!uid || changedSince === null)) p.fail('VANISHED needs UID FETCH and CHANGEDSINCE');
  }
  return { tag, name: 'FETCH', uid, set, items, macro, changedSince, vanished };
}

function parseStore(p: Cursor, tag: string, uid: boolean): Command {
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  let unchangedSince: number | null = null;
  if (p.peek() === 0x28) {
    // RFC 7162 §3.1.3: store-modifier = "UNCHANGEDSINCE" SP mod-sequence-valzer
    p.parenList(() => {
      const mod = p.keyword('a STORE modifier');
      if (mod !== 'UNCHANGEDSINCE' || unchangedSince !== null) p.fail(`unknown or repeated STORE modifier ${mod}`);
      p.sp();
      unchangedSince = p.number64('a mod-sequence');
    });
    p.sp();
  }
  const start = p.pos;
  let word = '';
  while (p.pos < p.end && p.buf[p.pos] !== SP) p.pos++;
  word = p.buf.toString('latin1', start, p.pos).toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(word);
  if (!m) p.fail('expected FLAGS, +FLAGS or -FLAGS', { offset: start });
  const action = m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set';
  p.sp();
  let flags: string[];
  if (p.peek() === 0x28) {
    flags = p.flagList();
  } else {
    flags = [p.flag()];
    while (p.maybeSp()) flags.push(p.flag());
  }
  return { tag, name: 'STORE', uid, set, unchangedSince, action, silent: m[2] !== undefined, flags };
}

function parseId(p: Cursor, tag: string): Command {
  p.sp();
  if (p.lookingAt('NIL')) return { tag, name: 'ID', params: null };
  // RFC 2971 §4: id_params_list ::= "(" #(string SPACE nstring) ")" / nil
  const params: Array<[string, string | null]> = [];
  p.parenList(() => {
    const key = p.text(p.string(), 'ID field');
    p.sp();
    params.push([key, p.nstring('ID value')]);
  }, true);
  return { tag, name: 'ID', params };
}
