import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ImapSexp } from '../../mime/types.js';
import {
  atom,
  binary,
  fetchItemName,
  flagList,
  formatCapability,
  formatContinuation,
  formatDateTime,
  formatEnabled,
  formatEsearch,
  formatExists,
  formatExpunge,
  formatFetch,
  formatFlags,
  formatId,
  formatList,
  formatNamespace,
  formatQuota,
  formatQuotaRoot,
  formatRecent,
  formatResponseCode,
  formatSaslChallenge,
  formatSearch,
  formatSection,
  formatSort,
  formatStatusData,
  formatStatusResponse,
  formatThread,
  formatUntagged,
  formatVanished,
  parseErrorResponse,
  ResponseWriter,
  type FormatOptions,
  type ImapValue,
} from './formatter.js';
import { decodeMutf7 } from './mutf7.js';
import type { ImapParseError } from './parse-error.js';
import { parseCommand, parseDateTime, type Command, type FetchItem } from './parser.js';

const text = (chunks: Buffer | Buffer[]): string => (Buffer.isBuffer(chunks) ? chunks : Buffer.concat(chunks)).toString('utf8');
const one = (v: ImapValue, options?: FormatOptions): string => text(new ResponseWriter(options).value(v).finish());

describe('status responses (RFC 9051 §7.1)', () => {
  it('writes tagged and untagged responses with codes', () => {
    assert.equal(text(formatStatusResponse({ tag: 'a1', status: 'OK', text: 'LOGIN completed' })), 'a1 OK LOGIN completed\r\n');
    assert.equal(
      text(formatStatusResponse({ status: 'OK', code: { name: 'UIDVALIDITY', value: 3857529045 }, text: 'UIDs valid' })),
      '* OK [UIDVALIDITY 3857529045] UIDs valid\r\n',
    );
    assert.equal(
      text(formatStatusResponse({ tag: 'a2', status: 'NO', code: { name: 'TOOBIG' }, text: 'Message too big' })),
      'a2 NO [TOOBIG] Message too big\r\n',
    );
    assert.equal(text(formatStatusResponse({ status: 'BYE', text: 'Autologout' })), '* BYE Autologout\r\n');
    assert.equal(text(formatStatusResponse({ tag: null, status: 'BAD', text: '' })), '* BAD completed\r\n');
    assert.equal(text(formatStatusResponse({ tag: 'a', status: 'OK', code: { name: 'CLOSED' } })), 'a OK [CLOSED] ok\r\n');
  });

  it('formats every kind of response code', () => {
    const cases: Array<[Parameters<typeof formatResponseCode>[0], string]> = [
      [{ name: 'ALREADYEXISTS' }, 'ALREADYEXISTS'],
      [{ name: 'NONEXISTENT' }, 'NONEXISTENT'],
      [{ name: 'TRYCREATE' }, 'TRYCREATE'],
      [{ name: 'OVERQUOTA' }, 'OVERQUOTA'],
      [{ name: 'LIMIT' }, 'LIMIT'],
      [{ name: 'UIDNEXT', value: 4392 }, 'UIDNEXT 4392'],
      [{ name: 'HIGHESTMODSEQ', value: 715194045007n }, 'HIGHESTMODSEQ 715194045007'],
      [{ name: 'CAPABILITY', capabilities: ['IMAP4rev2', 'AUTH=PLAIN', 'LITERAL-'] }, 'CAPABILITY IMAP4rev2 AUTH=PLAIN LITERAL-'],
      [{ name: 'PERMANENTFLAGS', flags: ['\\Deleted', '\\Seen', '\\*'] }, 'PERMANENTFLAGS (\\Deleted \\Seen \\*)'],
      [{ name: 'BADCHARSET', charsets: ['UTF-8', 'US-ASCII'] }, 'BADCHARSET (UTF-8 US-ASCII)'],
      [{ name: 'BADCHARSET' }, 'BADCHARSET'],
      [{ name: 'APPENDUID', uidValidity: 38505, uids: [3955] }, 'APPENDUID 38505 3955'],
      [{ name: 'APPENDUID', uidValidity: 38505, uids: [3955, 3956, 3957, 4000] }, 'APPENDUID 38505 3955:3957,4000'],
      [
        { name: 'COPYUID', uidValidity: 38505, sourceUids: [304, 319, 320], destinationUids: [3956, 3957, 3958] },
        'COPYUID 38505 304,319:320 3956:3958',
      ],
      [{ name: 'COPYUID', uidValidity: 1, sourceUids: [7, 5], destinationUids: [10, 11] }, 'COPYUID 1 7,5 10:11'],
      [{ name: 'MODIFIED', set: [9, 7, 8, 12] }, 'MODIFIED 7:9,12'],
      [{ name: 'REFERRAL', url: 'imap://x/]\r\n' }, 'REFERRAL imap://x/???'],
      [{ name: 'RAW', text: 'X-FOO bar' }, 'X-FOO bar'],
    ];
    for (const [code, expected] of cases) assert.equal(formatResponseCode(code), expected);
    assert.throws(() => formatResponseCode({ name: 'COPYUID', uidValidity: 1, sourceUids: [1], destinationUids: [] }), RangeError);
    assert.throws(() => formatResponseCode({ name: 'APPENDUID', uidValidity: 1, uids: [0] }), RangeError);
    assert.throws(() => formatResponseCode({ name: 'UIDNEXT', value: -1 }), RangeError);
    assert.throws(() => formatResponseCode({ name: 'CAPABILITY', capabilities: ['a b'] }), TypeError);
  });

  it('keeps texts on one line and ASCII for IMAP4rev1', () => {
    assert.equal(text(formatStatusResponse({ tag: 'a', status: 'NO', text: 'bad\r\n* OK injected' })), 'a NO bad  * OK injected\r\n');
    assert.equal(text(formatStatusResponse({ tag: 'a', status: 'NO', text: 'Pošta' })), 'a NO Po?ta\r\n');
    assert.equal(text(formatStatusResponse({ tag: 'a', status: 'NO', text: 'Pošta' }, { utf8: true })), 'a NO Pošta\r\n');
    assert.equal(text(formatStatusResponse({ tag: 'a', status: 'OK', text: '[not a code]' })), 'a OK  [not a code]\r\n');
    assert.throws(() => formatStatusResponse({ tag: 'a\r\n', status: 'OK' }), TypeError);
  });

  it('answers parse errors', () => {
    const answer = (input: string) => {
      try {
        parseCommand(input);
      } catch (err) {
        return text(formatStatusResponse(parseErrorResponse(err as ImapParseError)));
      }
      assert.fail('parsed');
    };
    assert.equal(answer('a1 FOO'), 'a1 BAD unknown command FOO\r\n');
    assert.equal(answer('+ NOOP'), '* BAD invalid tag\r\n');
    assert.equal(answer('a2 SEARCH CHARSET KOI8-R ALL'), 'a2 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset KOI8-R\r\n');
    assert.match(answer(`a3 SEARCH ${'NOT '.repeat(50)}ALL`), /^a3 BAD \[LIMIT\] /);
  });

  it('writes continuation requests (RFC 9051 §7.5)', () => {
    assert.equal(text(formatContinuation()), '+ Ready\r\n');
    assert.equal(text(formatContinuation('go\r\n')), '+ go  \r\n');
    assert.equal(text(formatSaslChallenge(Buffer.alloc(0))), '+ \r\n');
    assert.equal(text(formatSaslChallenge(Buffer.from('hi'))), '+ aGk=\r\n');
  });
});

describe('values', () => {
  it('chooses atom, quoted string or literal', () => {
    const w = (s: string, o?: FormatOptions) => text(new ResponseWriter(o).astring(s).finish());
    assert.equal(w('INBOX'), 'INBOX');
    assert.equal(w('a]b'), 'a]b');
    assert.equal(w('NIL'), '"NIL"');
    assert.equal(w(''), '""');
    assert.equal(w('a b'), '"a b"');
    assert.equal(w('a"b'), '{3}\r\na"b');
    assert.equal(w('a\\b'), '{3}\r\na\\b');
    assert.equal(w('a\r\nb'), '{4}\r\na\r\nb');
    assert.equal(w('a\tb'), '{3}\r\na\tb');
    assert.equal(w('ž'), '{2}\r\nž');
    assert.equal(w('ž', { utf8: true }), '"ž"');
    assert.equal(w('\uD800', { utf8: true }), '{3}\r\n\uFFFD'); // a lone surrogate is not quoted
    assert.equal(w('x '.repeat(512)), `"${'x '.repeat(512)}"`);
    assert.equal(w('x '.repeat(513)), `{1026}\r\n${'x '.repeat(513)}`);
    assert.equal(w('x '.repeat(5), { maxQuoted: 4 }), `{10}\r\n${'x '.repeat(5)}`);
    assert.equal(w('ž'.repeat(600), { utf8: true }).slice(0, 8), '{1200}\r\n');
    assert.equal(w('a\0b'), '{5}\r\na\uFFFDb'); // NUL can't be sent in a string at all
  });

  it('writes NIL, numbers, atoms, lists, literals and literal8', () => {
    assert.equal(one(null), 'NIL');
    assert.equal(one(0), '0');
    assert.equal(one(9007199254740991), '9007199254740991');
    assert.equal(one(18446744073709551615n), '18446744073709551615');
    assert.equal(one(flagList(['\\Seen', '$Junk'])), '(\\Seen $Junk)');
    assert.equal(one([]), '()');
    assert.equal(one(['a', [1, null, []], atom('X')]), '("a" (1 NIL ()) X)');
    assert.equal(one(Buffer.from('ab')), '{2}\r\nab');
    assert.equal(one(binary(Buffer.from('ab'))), '{2}\r\nab');
    assert.equal(one(binary(Buffer.from([0, 1]))), '~{2}\r\n\0\x01');
    for (const badNumber of [-1, 1.5, NaN, Infinity, 2 ** 53, -1n]) assert.throws(() => one(badNumber), RangeError);
    for (const badAtom of ['', 'a b', '(', 'a]', '\\', '"x"', 'ž']) assert.throws(() => one(atom(badAtom)), TypeError);
  });

  it('writes mailbox names as modified UTF-7 unless UTF-8 is enabled', () => {
    const w = (name: string, o?: FormatOptions) => text(new ResponseWriter(o).mailbox(name).finish());
    assert.equal(w('Entwürfe'), 'Entw&APw-rfe');
    assert.equal(w('Entwürfe', { utf8: true }), '"Entwürfe"');
    assert.equal(w('A&B'), 'A&-B');
    assert.equal(w('Sent Items'), '"Sent Items"');
  });

  it('hands literal Buffers over without copying', () => {
    const body = Buffer.alloc(100_000, 0x61);
    const chunks = new ResponseWriter().raw('* 1 FETCH (BODY[] ').value(body).raw(')').crlf().finish();
    assert.equal(chunks.length, 3);
    assert.equal(chunks[1], body);
    assert.equal(text(chunks[0]), '* 1 FETCH (BODY[] {100000}\r\n');
    assert.equal(text(chunks[2]), ')\r\n');
  });
});

describe('untagged data', () => {
  it('FETCH (RFC 9051 §7.5.2)', () => {
    const header = Buffer.from('Subject: hi\r\n\r\n');
    const chunks = formatFetch(12, [
      { name: 'UID', value: 40 },
      { name: 'FLAGS', value: flagList(['\\Seen']) },
      { name: 'BODY[HEADER]', value: header },
      { name: 'MODSEQ', value: [12345] },
      { name: 'INTERNALDATE', value: formatDateTime(new Date('1996-07-17T09:44:25Z'), -420) },
    ]);
    assert.equal(
      text(chunks),
      '* 12 FETCH (UID 40 FLAGS (\\Seen) BODY[HEADER] {15}\r\nSubject: hi\r\n\r\n MODSEQ (12345) INTERNALDATE "17-Jul-1996 02:44:25 -0700")\r\n',
    );
    assert.ok(chunks.includes(header));
    // ENVELOPE/BODYSTRUCTURE as the MIME layer builds them.
    const envelope: ImapSexp = [
      'Wed, 17 Jul 1996 02:23:25 -0700',
      'IMAP4rev2 WG mtg summary',
      [['Terry Gray', null, 'gray', 'cac.washington.edu']],
      null,
    ];
    assert.equal(
      text(formatFetch(1, [{ name: 'ENVELOPE', value: envelope }])),
      '* 1 FETCH (ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700" "IMAP4rev2 WG mtg summary" ' +
        '(("Terry Gray" NIL "gray" "cac.washington.edu")) NIL))\r\n',
    );
  });

  it('names FETCH items as the response must (RFC 9051 §7.5.2)', () => {
    const name = (spec: string) => {
      const c = parseCommand(`a FETCH 1 (${spec})`) as Extract<Command, { name: 'FETCH' }>;
      return c.items.map((i: FetchItem) => fetchItemName(i)).join(' ');
    };
    assert.equal(name('FLAGS UID RFC822.SIZE RFC822.HEADER'), 'FLAGS UID RFC822.SIZE RFC822.HEADER');
    assert.equal(name('BODY.PEEK[]'), 'BODY[]');
    assert.equal(name('BODY[TEXT]<100.200>'), 'BODY[TEXT]<100>');
    assert.equal(name('BODY.PEEK[1.2.HEADER.FIELDS (From "To" {3}\r\nX(y)]'), 'BODY[1.2.HEADER.FIELDS (From To "X(y")]');
    assert.equal(name('BODY[3.MIME] BODY[4]'), 'BODY[3.MIME] BODY[4]');
    assert.equal(name('BINARY.PEEK[1]<0.5> BINARY[] BINARY.SIZE[2.1]'), 'BINARY[1]<0> BINARY[] BINARY.SIZE[2.1]');
    assert.equal(formatSection({ part: [], text: 'HEADER.FIELDS.NOT', fields: ['A\\"'] }), 'HEADER.FIELDS.NOT ("A\\\\\\"")');
  });

  it('LIST and LSUB (RFC 9051 §7.3.1, RFC 5258)', () => {
    assert.equal(text(formatList({ attributes: ['\\HasNoChildren'], delimiter: '/', mailbox: 'INBOX' })), '* LIST (\\HasNoChildren) "/" INBOX\r\n');
    assert.equal(text(formatList({ attributes: [], delimiter: '\\', mailbox: 'a b' })), '* LIST () "\\\\" "a b"\r\n');
    assert.equal(text(formatList({ attributes: ['\\Noselect'], delimiter: null, mailbox: '' }, {}, 'LSUB')), '* LSUB (\\Noselect) NIL ""\r\n');
    assert.equal(text(formatList({ attributes: ['\\Sent'], delimiter: '.', mailbox: 'Poslano ž' })), '* LIST (\\Sent) "." "Poslano &AX4-"\r\n');
    assert.equal(text(formatList({ attributes: [], delimiter: '/', mailbox: 'Poslano ž' }, { utf8: true })), '* LIST () "/" "Poslano ž"\r\n');
    assert.equal(
      text(formatList({ attributes: ['\\NonExistent'], delimiter: '/', mailbox: 'Foo', childInfo: ['SUBSCRIBED'], oldName: 'Bar' })),
      '* LIST (\\NonExistent) "/" Foo ("CHILDINFO" ("SUBSCRIBED") "OLDNAME" (Bar))\r\n',
    );
    assert.equal(text(formatList({ attributes: [], delimiter: '/', mailbox: 'a\r\nb' })), '* LIST () "/" a&AA0ACg-b\r\n');
    assert.equal(text(formatList({ attributes: [], delimiter: '/', mailbox: 'a\r\nb' }, { utf8: true })), '* LIST () "/" {4}\r\na\r\nb\r\n');
    assert.throws(() => formatList({ attributes: [], delimiter: '//', mailbox: 'x' }), TypeError);
  });

  it('STATUS, SEARCH, ESEARCH, SORT, VANISHED', () => {
    assert.equal(
      text(formatStatusData('blurdybloop', [
        ['MESSAGES', 231],
        ['UIDNEXT', 44292],
        ['HIGHESTMODSEQ', 7011231777n],
      ])),
      '* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7011231777)\r\n',
    );
    assert.equal(text(formatSearch([2, 84, 882])), '* SEARCH 2 84 882\r\n');
    assert.equal(text(formatSearch([])), '* SEARCH\r\n');
    assert.equal(text(formatSearch([2, 5], 917162500)), '* SEARCH 2 5 (MODSEQ 917162500)\r\n');
    assert.equal(text(formatSearch([], 917162500)), '* SEARCH\r\n');
    assert.equal(text(formatSort([5, 3, 4], 12)), '* SORT 5 3 4 (MODSEQ 12)\r\n');
    assert.equal(
      text(formatEsearch({ tag: 'A282', uid: true, min: 2, max: 47, all: [2, 3, 4, 5, 10, 47], count: 6, modseq: 917162500 })),
      '* ESEARCH (TAG "A282") UID MIN 2 MAX 47 ALL 2:5,10,47 COUNT 6 MODSEQ 917162500\r\n',
    );
    assert.equal(text(formatEsearch({ tag: 'a', uid: false, all: [], count: 0 })), '* ESEARCH (TAG "a") COUNT 0\r\n');
    assert.equal(text(formatEsearch({ uid: false, all: '1:3' })), '* ESEARCH ALL 1:3\r\n');
    assert.throws(() => formatEsearch({ uid: false, all: '1:3\r\n' }), TypeError);
    assert.equal(text(formatVanished([405, 407, 406, 410])), '* VANISHED 405:407,410\r\n');
    assert.equal(text(formatVanished([1], true)), '* VANISHED (EARLIER) 1\r\n');
    assert.equal(formatVanished([]).length, 0);
  });

  it('THREAD (RFC 5256 §4)', () => {
    const n = (id: number | null, ...children: Parameters<typeof formatThread>[0][number][]) => ({ id, children });
    assert.equal(
      text(formatThread([n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))])),
      '* THREAD (2)(3 6 (4 23)(44 7 96))\r\n',
    );
    assert.equal(text(formatThread([n(null, n(3), n(5)), n(null, n(9)), n(null)])), '* THREAD ((3)(5))(9)\r\n');
    assert.equal(text(formatThread([])), '* THREAD\r\n');
  });

  it('CAPABILITY, ENABLED, FLAGS, EXISTS, RECENT, EXPUNGE', () => {
    assert.equal(text(formatCapability(['IMAP4rev2', 'IMAP4rev1', 'IDLE'])), '* CAPABILITY IMAP4rev2 IMAP4rev1 IDLE\r\n');
    assert.equal(text(formatEnabled(['CONDSTORE'])), '* ENABLED CONDSTORE\r\n');
    assert.equal(text(formatEnabled([])), '* ENABLED\r\n');
    assert.equal(text(formatFlags(['\\Answered', '\\Flagged', '$Forwarded'])), '* FLAGS (\\Answered \\Flagged $Forwarded)\r\n');
    assert.equal(text(formatExists(172)), '* 172 EXISTS\r\n');
    assert.equal(text(formatRecent(1)), '* 1 RECENT\r\n');
    assert.equal(text(formatExpunge(44)), '* 44 EXPUNGE\r\n');
    assert.throws(() => formatExists(-1), RangeError);
    assert.equal(text(formatUntagged([atom('OK'), 'x'])), '* OK "x"\r\n');
  });

  it('NAMESPACE, ID, QUOTA, QUOTAROOT', () => {
    assert.equal(
      text(formatNamespace([{ prefix: '', delimiter: '/' }], null, [{ prefix: 'Shared/', delimiter: '/' }])),
      '* NAMESPACE (("" "/")) NIL (("Shared/" "/"))\r\n',
    );
    assert.equal(text(formatId([['name', 'Pošta'], ['version', null]])), '* ID ("name" {6}\r\nPošta "version" NIL)\r\n');
    assert.equal(text(formatId([['name', 'Pošta']], { utf8: true })), '* ID ("name" "Pošta")\r\n');
    assert.equal(text(formatId(null)), '* ID NIL\r\n');
    const resources = [
      { name: 'STORAGE', usage: 10, limit: 512 },
      { name: 'MESSAGE', usage: 1, limit: 100 },
    ];
    assert.equal(text(formatQuota('', resources)), '* QUOTA "" (STORAGE 10 512 MESSAGE 1 100)\r\n');
    assert.equal(text(formatQuotaRoot('INBOX', [''])), '* QUOTAROOT INBOX ""\r\n');
  });

  it('date-time (RFC 9051 §9)', () => {
    const d = new Date('1996-07-17T09:44:25Z');
    assert.equal(formatDateTime(d, -420), '17-Jul-1996 02:44:25 -0700');
    assert.equal(formatDateTime(new Date('2024-03-05T00:00:00Z')), ' 5-Mar-2024 00:00:00 +0000');
    assert.equal(formatDateTime(new Date('2024-03-05T00:00:00Z'), 90), ' 5-Mar-2024 01:30:00 +0130');
    assert.throws(() => formatDateTime(new Date(NaN)), RangeError);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4102444800 }), fc.integer({ min: -720, max: 840 }), (s, zone) => {
        const date = new Date(s * 1000);
        assert.equal(parseDateTime(formatDateTime(date, zone)).getTime(), date.getTime());
      }),
    );
  });
});

// ---------------------------------------------------------------------------
// A test-only reader for what the formatter writes, to check that quoting is always safe.

type ReadValue = null | number | { atom: string } | { quoted: Buffer } | { literal: Buffer; literal8: boolean } | ReadValue[];

class ValueReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  expect(s: string): void {
    const got = this.buf.toString('latin1', this.pos, this.pos + s.length);
    if (got !== s) throw new Error(`expected ${JSON.stringify(s)} at ${this.pos}, got ${JSON.stringify(got)}`);
    this.pos += s.length;
  }

  value(): ReadValue {
    const c = this.buf[this.pos];
    if (c === 0x28) {
      this.pos++;
      const list: ReadValue[] = [];
      while (this.buf[this.pos] !== 0x29) {
        if (list.length > 0) this.expect(' ');
        list.push(this.value());
      }
      this.pos++;
      return list;
    }
    if (c === 0x22) {
      this.pos++;
      const out: number[] = [];
      for (;;) {
        const b = this.buf[this.pos++];
        if (b === undefined || b === 0x0d || b === 0x0a || b === 0) throw new Error('bad quoted string');
        if (b === 0x22) return { quoted: Buffer.from(out) };
        if (b === 0x5c) {
          const e = this.buf[this.pos++];
          if (e !== 0x22 && e !== 0x5c) throw new Error('bad escape');
          out.push(e);
        } else out.push(b);
      }
    }
    if (c === 0x7b || (c === 0x7e && this.buf[this.pos + 1] === 0x7b)) {
      const literal8 = c === 0x7e;
      const m = /^~?\{(\d+)\}\r\n/.exec(this.buf.toString('latin1', this.pos, this.pos + 30));
      if (!m) throw new Error('bad literal');
      this.pos += m[0].length;
      const data = this.buf.subarray(this.pos, this.pos + Number(m[1]));
      if (data.length !== Number(m[1])) throw new Error('short literal');
      this.pos += data.length;
      return { literal: Buffer.from(data), literal8 };
    }
    const m = /^[^ ()\r\n]+/.exec(this.buf.toString('latin1', this.pos, this.pos + 100));
    if (!m) throw new Error(`unexpected byte ${c} at ${this.pos}`);
    this.pos += m[0].length;
    if (m[0] === 'NIL') return null;
    if (/^\d+$/.test(m[0])) return Number(m[0]);
    return { atom: m[0] };
  }
}

function readBack(value: ImapValue, options: FormatOptions): ReadValue {
  const wire = Buffer.concat(formatUntagged([value], options));
  const r = new ValueReader(wire);
  r.expect('* ');
  const v = r.value();
  r.expect('\r\n');
  assert.equal(r.pos, wire.length);
  return v;
}

/** Checks that what was read is what was written, and that the form chosen was allowed. */
function same(read: ReadValue, written: ImapValue, options: FormatOptions): void {
  if (written === null || typeof written === 'number') return assert.equal(read, written);
  if (typeof written === 'bigint') return assert.equal(read, Number(written));
  if (typeof written === 'string') {
    const bytes = Buffer.from(written.replace(/\0/g, '\uFFFD'), 'utf8');
    assert.ok(read !== null && typeof read === 'object' && !Array.isArray(read));
    if ('quoted' in read) {
      assert.deepEqual(read.quoted, bytes);
      assert.ok(options.utf8 || bytes.every((b) => b < 0x80), 'no 8-bit in quoted strings for IMAP4rev1');
      assert.ok(read.quoted.every((b) => b >= 0x20 && b !== 0x7f || b >= 0x80), 'no controls in quoted strings');
    } else if ('literal' in read) {
      assert.deepEqual(read.literal, bytes);
      assert.equal(read.literal8, false);
    } else assert.fail(`string read back as ${JSON.stringify(read)}`);
    return;
  }
  if (Buffer.isBuffer(written)) return assert.deepEqual(read, { literal: written, literal8: false });
  if (Array.isArray(written)) {
    assert.ok(Array.isArray(read));
    assert.equal(read.length, written.length);
    written.forEach((w: ImapValue, i: number) => same(read[i], w, options));
    return;
  }
  if ('atom' in written) {
    // Bare atoms are read by context in IMAP (a flag list holds atoms); this reader can't know.
    if (typeof read === 'number') return assert.equal(String(read), written.atom);
    if (read === null) return assert.equal(written.atom, 'NIL');
    return assert.deepEqual(read, { atom: written.atom });
  }
  if ('binary' in written) return assert.deepEqual(read, { literal: written.binary, literal8: written.binary.includes(0) });
  assert.fail('unknown value');
}

const stringArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom('a', ' ', '"', '\\', '\r', '\n', '\0', '\t', '\x7f', 'ž', '{', '}', '(', ')', 'NIL'), maxLength: 20 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1000, maxLength: 1100 }),
);
const atomArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'aZ09!#$&\'+,-./:;<=>?@[^_`|}~'.split('')), minLength: 1, maxLength: 8 }),
  fc.constantFrom('\\Seen', '\\*', '$Junk'),
);
const valueArb: fc.Arbitrary<ImapValue> = fc.letrec<{ value: ImapValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.maxSafeNat(),
    fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).filter((n) => n <= BigInt(Number.MAX_SAFE_INTEGER)),
    stringArb,
    fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)),
    atomArb.map(atom),
    fc.uint8Array({ maxLength: 30 }).map((a) => binary(Buffer.from(a))),
    fc.array(tie('value'), { maxLength: 4 }),
  ),
})).value;

describe('formatter: properties', () => {
  for (const utf8 of [false, true]) {
    it(`any value written is read back identically, utf8=${utf8} (property)`, () => {
      fc.assert(
        fc.property(valueArb, (value) => {
          const options = { utf8 };
          same(readBack(value, options), value, options);
        }),
        { numRuns: 500 },
      );
    });
  }

  it('an ImapSexp from the MIME layer is written and read back (property)', () => {
    const sexpArb: fc.Arbitrary<ImapSexp> = fc.letrec<{ s: ImapSexp }>((tie) => ({
      s: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.nat(), stringArb, fc.array(tie('s'), { maxLength: 5 })),
    })).s;
    fc.assert(fc.property(sexpArb, (s) => same(readBack(s, {}), s, {})), { numRuns: 300 });
  });

  it('a mailbox name written for IMAP4rev1 or rev2 parses back to the same name (property)', () => {
    const nameArb = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 15 })
      .filter((s) => !s.includes('\0') && s.toUpperCase() !== 'INBOX');
    fc.assert(
      fc.property(nameArb, fc.boolean(), (name, utf8) => {
        const wire = text(new ResponseWriter({ utf8 }).mailbox(name).finish());
        const c = parseCommand(`a SELECT ${wire}`) as Extract<Command, { name: 'SELECT' }>;
        assert.equal(utf8 ? c.mailbox : decodeMutf7(c.mailbox), name);
      }),
    );
  });
});
