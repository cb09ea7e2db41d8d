import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CommandReader } from './command-reader.js';
import { ImapParseError } from './parse-error.js';
import {
  isIdleDone,
  parseCommand,
  parseDateTime,
  parseSaslResponse,
  type AppendMessage,
  type BodySection,
  type Command,
  type CharsetDecoder,
  type FetchItem,
  type ListReturn,
  type ListSelection,
  type SearchKey,
  type SearchReturn,
  type StatusItem,
} from './parser.js';
import { formatSequenceSet, type SeqRange, type SequenceSet } from './sequence-set.js';

function parse(text: string | Buffer): Command {
  return parseCommand(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
}

/** Parses and narrows to the expected command name. */
function cmd<N extends Command['name']>(text: string | Buffer, name: N): Extract<Command, { name: N }> {
  const c = parse(text);
  assert.equal(c.name, name);
  return c as Extract<Command, { name: N }>;
}

function bad(text: string | Buffer, pattern?: RegExp): ImapParseError {
  let caught: unknown;
  try {
    parse(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ImapParseError, `expected ImapParseError for ${JSON.stringify(String(text))}, got ${String(caught)}`);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

const FLAG_KEYS = [
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
] as const;

const SIMPLE_FETCH = [
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
] as const;

const seq = (...ranges: Array<[number | '*', number | '*']>): SequenceSet => ({
  kind: 'ranges',
  ranges: ranges.map(([from, to]) => ({ from, to })),
});

describe('parseCommand: tags, atoms and strings', () => {
  it('reads the tag and the command name in any case', () => {
    assert.deepEqual(parse('a1 noop'), { tag: 'a1', name: 'NOOP' });
    assert.deepEqual(parse('A.b]}~ Capability\r\n'), { tag: 'A.b]}~', name: 'CAPABILITY' });
  });

  it('answers an unreadable tag with * BAD (tag null)', () => {
    for (const s of ['', ' a1 NOOP', '* NOOP', 'a+1 NOOP', 'a"1 NOOP', 'a(1 NOOP', 'a%1 NOOP', 'a{1 NOOP', 'a\\1 NOOP', 'täg NOOP', 'a1']) {
      assert.equal(bad(s).tag, null, s);
    }
  });

  it('keeps the tag and the command name in errors', () => {
    const e = bad('a1 FETCH 0 FLAGS');
    assert.deepEqual([e.tag, e.command, e.status, e.code], ['a1', 'FETCH', 'BAD', null]);
    assert.equal(bad('a2 UID FETCH x').command, 'UID FETCH');
    assert.equal(bad('a3 FOO').message, 'unknown command FOO');
    assert.equal(bad('a4 UID NOOP').message, 'UID NOOP is not a command');
    bad('a5 NOOP extra', /unexpected characters/);
    bad('a6 NOOP ', /unexpected characters/);
    bad('a7  NOOP');
    bad('a8 LOGIN a', /missing argument/);
    bad('a9 LOGIN a  b', /expected a string/);
    bad('b1 LOGIN a\tb', /not character 0x09/);
  });

  it('reads astrings as atoms, quoted strings and literals', () => {
    assert.deepEqual(cmd('a LOGIN bob] s3cr3t!', 'LOGIN'), { tag: 'a', name: 'LOGIN', username: 'bob]', password: 's3cr3t!' });
    assert.equal(cmd('a LOGIN "" "a \\"q\\" \\\\ b"', 'LOGIN').password, 'a "q" \\ b');
    assert.equal(cmd('a LOGIN "Pošta" "日本"', 'LOGIN').username, 'Pošta'); // UTF-8 quoted (RFC 9051 §9)
    assert.equal(cmd('a LOGIN {5}\r\nal ce {0}\r\n', 'LOGIN').username, 'al ce');
    assert.equal(cmd('a LOGIN {5}\r\nal ce {0}\r\n', 'LOGIN').password, '');
    assert.equal(cmd('a LOGIN {4+}\r\n\r\n"\\ {2}\r\nxy', 'LOGIN').username, '\r\n"\\');
  });

  it('rejects malformed strings', () => {
    bad('a LOGIN "abc def', /unterminated/);
    bad('a LOGIN "a\\b" c', /invalid escape/);
    bad('a LOGIN "a\rb" c', /CR, LF or NUL/);
    bad('a LOGIN "a\0b" c', /CR, LF or NUL/);
    bad(Buffer.from([...Buffer.from('a LOGIN "'), 0xc3, 0x28, ...Buffer.from('" x')]), /not valid UTF-8/);
    bad('a LOGIN {3}\r\na\0b x', /NUL/);
    bad('a LOGIN {10}\r\nshort', /shorter than announced/);
    bad('a LOGIN {3}x', /CRLF/);
    bad('a LOGIN {}\r\n x', /literal length/);
    bad('a LOGIN ~{1}\r\nx y');
    bad('a LOGIN a(b c');
  });

  it('takes several literals in one command', () => {
    const c = cmd('a RENAME {3}\r\nold {3+}\r\nnew', 'RENAME');
    assert.deepEqual([c.from, c.to], ['old', 'new']);
  });

  it('knows INBOX in any case (RFC 9051 §5.1)', () => {
    assert.equal(cmd('a SELECT inbox', 'SELECT').mailbox, 'INBOX');
    assert.equal(cmd('a SELECT "InBoX"', 'SELECT').mailbox, 'INBOX');
    assert.equal(cmd('a SELECT {5}\r\niNbOx', 'SELECT').mailbox, 'INBOX');
    assert.equal(cmd('a SELECT inbox/Sub', 'SELECT').mailbox, 'inbox/Sub');
    assert.equal(cmd('a SELECT &ZeVnLIqe-', 'SELECT').mailbox, '&ZeVnLIqe-'); // decoding is the server's choice
  });
});

describe('parseCommand: simple commands', () => {
  it('parses every command without arguments', () => {
    for (const name of ['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'CHECK', 'CLOSE', 'UNSELECT', 'IDLE', 'NAMESPACE']) {
      assert.deepEqual(parse(`t ${name.toLowerCase()}`), { tag: 't', name });
      bad(`t ${name} x`);
    }
    assert.deepEqual(parse('t EXPUNGE'), { tag: 't', name: 'EXPUNGE', uid: false, set: null });
    assert.deepEqual(parse('t UID EXPUNGE 3:5,7'), { tag: 't', name: 'EXPUNGE', uid: true, set: seq([3, 5], [7, 7]) });
    bad('t UID EXPUNGE');
  });
});

describe('parseCommand: authentication and session', () => {
  it('AUTHENTICATE with and without an initial response (RFC 4959)', () => {
    assert.deepEqual(parse('a AUTHENTICATE plain'), { tag: 'a', name: 'AUTHENTICATE', mechanism: 'PLAIN', initialResponse: null });
    assert.deepEqual(cmd('a AUTHENTICATE PLAIN AGJvYgBwdw==', 'AUTHENTICATE').initialResponse, Buffer.from('\0bob\0pw'));
    assert.deepEqual(cmd('a AUTHENTICATE PLAIN =', 'AUTHENTICATE').initialResponse, Buffer.alloc(0));
    bad('a AUTHENTICATE PLAIN AGJvYgBwdw=', /base64/);
    bad('a AUTHENTICATE PLAIN !!!!', /base64/);
    bad('a AUTHENTICATE PLAIN ', /base64/);
  });

  it('SASL continuation lines and IDLE DONE', () => {
    assert.deepEqual(parseSaslResponse(Buffer.from('AGJvYgBwdw==')), Buffer.from('\0bob\0pw'));
    assert.deepEqual(parseSaslResponse(Buffer.from('')), Buffer.alloc(0));
    assert.equal(parseSaslResponse(Buffer.from('*')), null);
    assert.throws(() => parseSaslResponse(Buffer.from('AGJ')), ImapParseError);
    assert.ok(isIdleDone(Buffer.from('DONE')));
    assert.ok(isIdleDone(Buffer.from('done')));
    assert.ok(!isIdleDone(Buffer.from('DONE ')));
  });

  it('ENABLE, ID, COMPRESS', () => {
    assert.deepEqual(cmd('a ENABLE IMAP4rev2 condstore', 'ENABLE').capabilities, ['IMAP4REV2', 'CONDSTORE']);
    bad('a ENABLE');
    assert.deepEqual(cmd('a ID NIL', 'ID').params, null);
    assert.deepEqual(cmd('a ID ()', 'ID').params, []);
    assert.deepEqual(cmd('a ID ("name" "Mail" "version" NIL "os" {3}\r\nabc)', 'ID').params, [
      ['name', 'Mail'],
      ['version', null],
      ['os', 'abc'],
    ]);
    bad('a ID ("name")');
    bad('a ID (name "x")');
    assert.equal(cmd('a COMPRESS deflate', 'COMPRESS').mechanism, 'DEFLATE');
  });

  it('GETQUOTA and GETQUOTAROOT (RFC 9208)', () => {
    assert.equal(cmd('a GETQUOTA ""', 'GETQUOTA').root, '');
    assert.equal(cmd('a GETQUOTAROOT inbox', 'GETQUOTAROOT').mailbox, 'INBOX');
  });
});

describe('parseCommand: mailboxes', () => {
  it('SELECT and EXAMINE with CONDSTORE and QRESYNC (RFC 7162)', () => {
    assert.deepEqual(parse('a EXAMINE Sent'), { tag: 'a', name: 'EXAMINE', mailbox: 'Sent', condstore: false, qresync: null });
    assert.equal(cmd('a SELECT INBOX (CONDSTORE)', 'SELECT').condstore, true);
    assert.deepEqual(cmd('a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))', 'SELECT').qresync, {
      uidValidity: 67890007,
      modseq: Number.MAX_SAFE_INTEGER, // above 2^53-1: clamped
      knownUids: seq([41, 41], [43, 211], [214, 541]),
      seqMatch: null,
    });
    assert.deepEqual(cmd('a SELECT INBOX (QRESYNC (1 2 1:9 (1:5 10:15)))', 'SELECT').qresync?.seqMatch, {
      seqs: seq([1, 5]),
      uids: seq([10, 15]),
    });
    assert.deepEqual(cmd('a SELECT INBOX (QRESYNC (1 2 (1 10)))', 'SELECT').qresync, {
      uidValidity: 1,
      modseq: 2,
      knownUids: null,
      seqMatch: { seqs: seq([1, 1]), uids: seq([10, 10]) },
    });
    bad('a SELECT INBOX (QRESYNC (1 2 1:*))'); // "*" is not allowed in known-uids
    bad('a SELECT INBOX (QRESYNC (0 2))');
    bad('a SELECT INBOX (QRESYNC (1 99999999999999999999))', /out of range/);
    bad('a SELECT INBOX (CONDSTORE CONDSTORE)', /repeated/);
    bad('a SELECT INBOX (FOO)', /unknown/);
  });

  it('CREATE (with USE, RFC 6154), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE', () => {
    assert.deepEqual(parse('a CREATE "Sent Items"'), { tag: 'a', name: 'CREATE', mailbox: 'Sent Items', specialUse: [] });
    assert.deepEqual(cmd('a CREATE Sent (USE (\\Sent \\Archive))', 'CREATE').specialUse, ['\\Sent', '\\Archive']);
    bad('a CREATE Sent (USE (Sent))');
    bad('a CREATE Sent (FOO)');
    assert.deepEqual(parse('a DELETE x'), { tag: 'a', name: 'DELETE', mailbox: 'x' });
    assert.deepEqual(parse('a RENAME a "b c"'), { tag: 'a', name: 'RENAME', from: 'a', to: 'b c' });
    assert.deepEqual(parse('a SUBSCRIBE x'), { tag: 'a', name: 'SUBSCRIBE', mailbox: 'x' });
    assert.deepEqual(parse('a UNSUBSCRIBE x'), { tag: 'a', name: 'UNSUBSCRIBE', mailbox: 'x' });
  });

  it('LIST, basic and extended (RFC 5258, RFC 5819, RFC 6154)', () => {
    assert.deepEqual(parse('a LIST "" *'), {
      tag: 'a',
      name: 'LIST',
      reference: '',
      patterns: ['*'],
      selection: null,
      returnOptions: null,
    });
    assert.deepEqual(cmd('a LIST ~/Mail/ %]', 'LIST').patterns, ['%]']);
    const c = cmd('a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" Drafts/* {3}\r\na b) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES SIZE))', 'LIST');
    assert.deepEqual(c.selection, { subscribed: true, remote: false, recursiveMatch: true, specialUse: false });
    assert.deepEqual(c.patterns, ['INBOX', 'Drafts/*', 'a b']);
    assert.deepEqual(c.returnOptions, { subscribed: false, children: true, specialUse: true, status: ['MESSAGES', 'SIZE'] });
    assert.deepEqual(cmd('a LIST () "" % RETURN ()', 'LIST').returnOptions, {
      subscribed: false,
      children: false,
      specialUse: false,
      status: null,
    });
    bad('a LIST (RECURSIVEMATCH) "" *', /RECURSIVEMATCH/);
    bad('a LIST (FOO) "" *', /unknown/);
    bad('a LIST "" * RETURN (FOO)', /unknown/);
    bad('a LIST "" * FOO');
    bad('a LIST "" ()');
  });

  it('LSUB and STATUS', () => {
    assert.deepEqual(parse('a LSUB "" *'), { tag: 'a', name: 'LSUB', reference: '', pattern: '*' });
    assert.deepEqual(cmd('a STATUS inbox (messages UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)', 'STATUS').items, [
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
    bad('a STATUS INBOX ()');
    bad('a STATUS INBOX (FOO)');
  });
});

describe('parseCommand: APPEND', () => {
  it('takes flags, a date and a literal', () => {
    const c = cmd('a APPEND saved-messages (\\Seen $Junk) "17-Jul-1996 02:44:25 -0700" {5}\r\nhello', 'APPEND');
    assert.equal(c.mailbox, 'saved-messages');
    assert.deepEqual(c.messages, [
      { flags: ['\\Seen', '$Junk'], internalDate: new Date('1996-07-17T09:44:25Z'), data: Buffer.from('hello'), binary: false, utf8: false },
    ]);
  });

  it('takes LITERAL+ and several messages (RFC 3502 MULTIAPPEND)', () => {
    const c = cmd('a APPEND INBOX {2+}\r\nhi () " 1-Jan-2020 00:00:00 +0000" {0+}\r\n (\\Draft) {3+}\r\nxyz', 'APPEND');
    assert.deepEqual(
      c.messages.map((m) => [m.flags, m.internalDate?.toISOString() ?? null, m.data.toString()]),
      [
        [[], null, 'hi'],
        [[], '2020-01-01T00:00:00.000Z', ''],
        [['\\Draft'], null, 'xyz'],
      ],
    );
  });

  it('takes literal8 with NUL octets (RFC 3516) and UTF8 (RFC 6855)', () => {
    const data = Buffer.from([0, 1, 2, 0x0d, 0x0a, 0]);
    const c = cmd(Buffer.concat([Buffer.from('a APPEND INBOX ~{6}\r\n'), data]), 'APPEND');
    assert.deepEqual(c.messages[0].data, data);
    assert.equal(c.messages[0].binary, true);
    const u = cmd(Buffer.concat([Buffer.from('a APPEND INBOX UTF8 (~{6+}\r\n'), data, Buffer.from(')')]), 'APPEND');
    assert.equal(u.messages[0].utf8, true);
    assert.deepEqual(u.messages[0].data, data);
    bad('a APPEND INBOX UTF8 ({1}\r\nx)', /literal8/);
  });

  it('keeps a literal that ends in CRLF intact at the end of the command', () => {
    const c = cmd('a APPEND INBOX {7}\r\nhello\r\n', 'APPEND');
    assert.equal(c.messages[0].data.toString(), 'hello\r\n');
    assert.equal(cmd('a APPEND INBOX {7}\r\nhello\r\n\r\n', 'APPEND').messages[0].data.toString(), 'hello\r\n');
  });

  it('rejects what is not a message', () => {
    bad('a APPEND INBOX', /missing argument/);
    bad('a APPEND INBOX "hello"', /invalid date-time|literal/);
    bad('a APPEND INBOX (\\Seen)', /missing argument/);
    bad('a APPEND INBOX "31-Feb-2020 00:00:00 +0000" {1}\r\nx', /date-time/);
    bad('a APPEND INBOX {1}\r\nx {1}', /CRLF/);
    bad('a APPEND INBOX {1}\r\nx  {1}\r\ny');
  });
});

describe('dates', () => {
  it('parses date-time (RFC 9051 §9)', () => {
    assert.equal(parseDateTime('17-Jul-1996 02:44:25 -0700').toISOString(), '1996-07-17T09:44:25.000Z');
    assert.equal(parseDateTime(' 7-jul-1996 02:44:25 +0130').toISOString(), '1996-07-07T01:14:25.000Z');
    assert.equal(parseDateTime('7-Jul-1996 02:44:25 +0000').toISOString(), '1996-07-07T02:44:25.000Z');
    assert.equal(parseDateTime('29-Feb-2024 23:59:60 +0000').toISOString(), '2024-02-29T23:59:59.000Z'); // leap second
    const invalid = [
      '29-Feb-2023 00:00:00 +0000',
      '17-Jul-1996 24:00:00 +0000',
      '17-Jul-1996 02:44:25',
      '17-Foo-1996 02:44:25 +0000',
      '17-Jul-96 02:44:25 +0000',
      '17-Jul-1996 02:44:25 +0060',
      '017-Jul-1996 02:44:25 +0000',
    ];
    for (const s of invalid) {
      assert.throws(() => parseDateTime(s), ImapParseError, s);
    }
  });

  it('parses search dates, quoted or not', () => {
    const c = cmd('a SEARCH SINCE 1-Feb-1994 BEFORE "29-feb-2024"', 'SEARCH');
    assert.deepEqual(c.criteria, {
      type: 'AND',
      keys: [
        { type: 'SINCE', date: { year: 1994, month: 2, day: 1 } },
        { type: 'BEFORE', date: { year: 2024, month: 2, day: 29 } },
      ],
    });
    bad('a SEARCH ON 30-Feb-2024', /invalid date/);
    bad('a SEARCH ON 2024-02-01', /invalid date/);
  });
});

describe('parseCommand: SEARCH', () => {
  const key = (criteria: string, options?: { charsets?: CharsetDecoder }): SearchKey => {
    const c = parseCommand(Buffer.from(`a SEARCH ${criteria}`), options);
    assert.equal(c.name, 'SEARCH');
    return (c as Extract<Command, { name: 'SEARCH' }>).criteria;
  };

  it('knows every RFC 9051 §6.4.4 key (and RFC 3501 ones)', () => {
    for (const k of FLAG_KEYS) {
      assert.deepEqual(key(k.toLowerCase()), { type: k });
    }
    for (const k of ['BCC', 'BODY', 'CC', 'FROM', 'SUBJECT', 'TEXT', 'TO']) {
      assert.deepEqual(key(`${k} "a b"`), { type: k, value: 'a b' });
    }
    for (const k of ['BEFORE', 'ON', 'SINCE', 'SENTBEFORE', 'SENTON', 'SENTSINCE']) {
      assert.deepEqual(key(`${k} 3-Mar-2021`), { type: k, date: { year: 2021, month: 3, day: 3 } });
    }
    assert.deepEqual(key('KEYWORD $Junk'), { type: 'KEYWORD', flag: '$Junk' });
    assert.deepEqual(key('UNKEYWORD foo'), { type: 'UNKEYWORD', flag: 'foo' });
    assert.deepEqual(key('HEADER X-Spam {3}\r\nyes'), { type: 'HEADER', field: 'X-Spam', value: 'yes' });
    assert.deepEqual(key('HEADER "Message-ID" ""'), { type: 'HEADER', field: 'Message-ID', value: '' });
    assert.deepEqual(key('LARGER 1000'), { type: 'LARGER', size: 1000 });
    assert.deepEqual(key('SMALLER 0'), { type: 'SMALLER', size: 0 });
    assert.deepEqual(key('OLDER 3600'), { type: 'OLDER', seconds: 3600 });
    assert.deepEqual(key('YOUNGER 60'), { type: 'YOUNGER', seconds: 60 });
    assert.deepEqual(key('UID 1:*'), { type: 'UID', set: seq([1, '*']) });
    assert.deepEqual(key('2,4:7'), { type: 'SEQUENCE', set: seq([2, 2], [4, 7]) });
    assert.deepEqual(key('$'), { type: 'SEQUENCE', set: { kind: 'saved' } });
    assert.deepEqual(key('UID $'), { type: 'UID', set: { kind: 'saved' } });
    assert.deepEqual(key('MODSEQ 620162338'), { type: 'MODSEQ', modseq: 620162338, entry: null });
    assert.deepEqual(key('MODSEQ "/flags/\\\\draft" all 620162338'), {
      type: 'MODSEQ',
      modseq: 620162338,
      entry: { flag: '\\Draft', kind: 'all' },
    });
    bad('a SEARCH MODSEQ "/foo" all 1', /entry name/);
    bad('a SEARCH MODSEQ "/flags/\\\\Seen" none 1', /entry type/);
    bad('a SEARCH FOO', /unknown search key FOO/);
    bad('a SEARCH', /missing argument/);
    bad('a SEARCH ALL ', /missing argument|search key/);
    bad('a SEARCH KEYWORD \\Seen');
    bad('a SEARCH OLDER 0');
  });

  it('combines keys: AND by juxtaposition, OR, NOT, groups', () => {
    assert.deepEqual(key('NOT (SEEN FLAGGED) OR FROM a TO b'), {
      type: 'AND',
      keys: [
        { type: 'NOT', key: { type: 'AND', keys: [{ type: 'SEEN' }, { type: 'FLAGGED' }] } },
        { type: 'OR', left: { type: 'FROM', value: 'a' }, right: { type: 'TO', value: 'b' } },
      ],
    });
    assert.deepEqual(key('((SEEN))'), { type: 'SEEN' });
    assert.deepEqual(key('OR OR SEEN DRAFT (DELETED)'), {
      type: 'OR',
      left: { type: 'OR', left: { type: 'SEEN' }, right: { type: 'DRAFT' } },
      right: { type: 'DELETED' },
    });
    bad('a SEARCH (SEEN', /expected "\)"/);
    bad('a SEARCH SEEN)', /not "\)"/);
    bad('a SEARCH ()');
    bad('a SEARCH OR SEEN');
    bad('a SEARCH NOT');
  });

  it('takes RETURN options (RFC 4731) and CHARSET', () => {
    const c = cmd('a UID SEARCH RETURN (MIN MAX ALL COUNT SAVE) CHARSET utf-8 TEXT "ž"', 'SEARCH');
    assert.equal(c.uid, true);
    assert.equal(c.charset, 'utf-8');
    assert.deepEqual(c.returnOptions, { min: true, max: true, all: true, count: true, save: true });
    assert.deepEqual(c.criteria, { type: 'TEXT', value: 'ž' });
    assert.deepEqual(cmd('a SEARCH RETURN () ALL', 'SEARCH').returnOptions, { min: false, max: false, all: true, count: false, save: false });
    assert.equal(cmd('a SEARCH ALL', 'SEARCH').returnOptions, null);
    bad('a SEARCH RETURN (FOO) ALL', /unknown RETURN/);
  });

  it('answers an unknown charset with NO [BADCHARSET] and decodes known ones', () => {
    const e = bad('a SEARCH CHARSET KOI8-R TEXT x');
    assert.deepEqual([e.status, e.code, e.tag], ['NO', 'BADCHARSET', 'a']);
    const latin2: CharsetDecoder = {
      supports: (c) => /^ISO-8859-2$/i.test(c),
      decode: (_c, bytes) => bytes.toString('latin1').replace('\u00b9', 'š'),
    };
    const text = Buffer.concat([Buffer.from('a SEARCH CHARSET ISO-8859-2 SUBJECT {1}\r\n'), Buffer.from([0xb9])]);
    const c = parseCommand(text, { charsets: latin2 });
    assert.deepEqual((c as Extract<Command, { name: 'SEARCH' }>).criteria, { type: 'SUBJECT', value: 'š' });
    // Invalid octets for the charset, or a decoder that throws, is BAD.
    bad(Buffer.concat([Buffer.from('a SEARCH CHARSET UTF-8 SUBJECT {1}\r\n'), Buffer.from([0xb9])]), /not valid UTF-8/);
    const throwing: CharsetDecoder = {
      supports: () => true,
      decode: () => {
        throw new Error('boom');
      },
    };
    assert.throws(() => parseCommand('a SEARCH CHARSET X TEXT y', { charsets: throwing }), /not valid X/);
  });

  it('caps nesting depth and the number of keys (code LIMIT)', () => {
    const deep = `a SEARCH ${'('.repeat(40)}SEEN${')'.repeat(40)}`;
    assert.equal(bad(deep, /nested too deeply/).code, 'LIMIT');
    assert.doesNotThrow(() => parse(`a SEARCH ${'('.repeat(30)}SEEN${')'.repeat(30)}`));
    assert.equal(bad(`a SEARCH ${'NOT '.repeat(40)}SEEN`).code, 'LIMIT');
    assert.equal(bad(`a SEARCH ${'SEEN '.repeat(1000)}SEEN`, /too many/).code, 'LIMIT');
    assert.doesNotThrow(() => parseCommand(`a SEARCH ${'SEEN '.repeat(9)}SEEN`, { maxSearchNodes: 10 }));
    assert.throws(() => parseCommand(`a SEARCH ${'SEEN '.repeat(10)}SEEN`, { maxSearchNodes: 10 }), /too many/);
    // A huge input fails fast.
    const start = Date.now();
    bad(`a SEARCH ${'('.repeat(100_000)}`);
    bad(`a SEARCH ${'OR '.repeat(100_000)}`);
    assert.ok(Date.now() - start < 500);
  });

  it('caps the elements of a sequence set (code LIMIT)', () => {
    const many = Array.from({ length: 20 }, (_, i) => 2 * i + 1).join(',');
    const isLimit = (e: unknown) => e instanceof ImapParseError && e.code === 'LIMIT';
    assert.throws(() => parseCommand(`a FETCH ${many} FLAGS`, { maxSequenceRanges: 10 }), isLimit);
    assert.doesNotThrow(() => parseCommand(`a FETCH ${many} FLAGS`, { maxSequenceRanges: 20 }));
  });
});

describe('parseCommand: FETCH', () => {
  const items = (spec: string): FetchItem[] => cmd(`a FETCH 1 ${spec}`, 'FETCH').items;

  it('expands the macros (RFC 9051 §6.4.5)', () => {
    const all = cmd('a FETCH 1:* all', 'FETCH');
    assert.equal(all.macro, 'ALL');
    assert.deepEqual(all.items.map((i) => i.type), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE']);
    assert.deepEqual(items('FAST').map((i) => i.type), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE']);
    assert.deepEqual(items('FULL').map((i) => i.type), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY']);
    bad('a FETCH 1 (ALL)', /unknown fetch item/);
  });

  it('parses simple items', () => {
    const all = `(${SIMPLE_FETCH.join(' ').toLowerCase()})`;
    assert.deepEqual(
      items(all).map((i) => i.type),
      SIMPLE_FETCH,
    );
    assert.deepEqual(items('UID'), [{ type: 'UID' }]);
  });

  it('parses sections, part numbers and partials', () => {
    const section = (part: number[], text: BodySection['text'] = null, fields: string[] = []): BodySection => ({ part, text, fields });
    assert.deepEqual(items('BODY[]'), [{ type: 'BODY[]', peek: false, section: section([]), partial: null }]);
    assert.deepEqual(items('body.peek[header]<0.100>'), [
      { type: 'BODY[]', peek: true, section: section([], 'HEADER'), partial: { offset: 0, length: 100 } },
    ]);
    assert.deepEqual(items('BODY[1.2.3]'), [{ type: 'BODY[]', peek: false, section: section([1, 2, 3]), partial: null }]);
    assert.deepEqual(items('BODY[4.2.MIME]'), [{ type: 'BODY[]', peek: false, section: section([4, 2], 'MIME'), partial: null }]);
    assert.deepEqual(items('BODY[2.TEXT]'), [{ type: 'BODY[]', peek: false, section: section([2], 'TEXT'), partial: null }]);
    assert.deepEqual(items('BODY.PEEK[HEADER.FIELDS (From "To" {2}\r\nCc)]'), [
      { type: 'BODY[]', peek: true, section: section([], 'HEADER.FIELDS', ['From', 'To', 'Cc']), partial: null },
    ]);
    assert.deepEqual(items('BODY[1.HEADER.FIELDS.NOT (X-A)]<5.10>'), [
      { type: 'BODY[]', peek: false, section: section([1], 'HEADER.FIELDS.NOT', ['X-A']), partial: { offset: 5, length: 10 } },
    ]);
    const invalid = [
      'BODY[MIME]',
      'BODY[0]',
      'BODY[1.0]',
      'BODY[01]',
      'BODY[HEADER.FIELDS]',
      'BODY[HEADER.FIELDS ()]',
      'BODY[TEXT',
      'BODY[]<0.0>',
      'BODY[]<1>',
      'BODY[FOO]',
      'BODY.PEEK',
      'BODY[HEADER.FIELDS ("a:b")]', // not a field name: it would be echoed back
      'BODY[HEADER.FIELDS ({3}\r\na\r\n)]',
    ];
    for (const s of invalid) {
      bad(`a FETCH 1 ${s}`);
    }
  });

  it('parses BINARY (RFC 3516)', () => {
    assert.deepEqual(items('(BINARY[] BINARY.PEEK[1.2]<0.10> BINARY.SIZE[3])'), [
      { type: 'BINARY[]', peek: false, part: [], partial: null },
      { type: 'BINARY[]', peek: true, part: [1, 2], partial: { offset: 0, length: 10 } },
      { type: 'BINARY.SIZE', part: [3] },
    ]);
    bad('a FETCH 1 BINARY[TEXT]');
    bad('a FETCH 1 BINARY.SIZE[1]<0.1>');
    bad('a FETCH 1 BINARY');
  });

  it('parses CHANGEDSINCE and VANISHED (RFC 7162)', () => {
    const c = cmd('a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)', 'FETCH');
    assert.deepEqual([c.uid, c.changedSince, c.vanished], [true, 12345, true]);
    assert.equal(cmd('a FETCH 1 FLAGS (CHANGEDSINCE 0)', 'FETCH').changedSince, 0);
    bad('a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)', /VANISHED/);
    bad('a UID FETCH 1 FLAGS (VANISHED)', /VANISHED/);
    bad('a FETCH 1 FLAGS (FOO)', /unknown/);
    bad('a FETCH 1 FLAGS ()');
  });

  it('rejects malformed FETCH', () => {
    bad('a FETCH FLAGS', /sequence set/);
    bad('a FETCH 1', /missing argument/);
    bad('a FETCH 1 ()', /empty list/);
    bad('a FETCH 1 (FLAGS', /expected "\)"/);
    bad('a FETCH 1 FOO', /unknown fetch item/);
    bad('a FETCH 1,$ FLAGS');
  });
});

describe('parseCommand: STORE, COPY, MOVE', () => {
  it('parses STORE forms (RFC 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE)', () => {
    assert.deepEqual(parse('a STORE 2:4 +FLAGS (\\Deleted)'), {
      tag: 'a',
      name: 'STORE',
      uid: false,
      set: seq([2, 4]),
      unchangedSince: null,
      action: 'add',
      silent: false,
      flags: ['\\Deleted'],
    });
    const c = cmd('a UID STORE 1 (UNCHANGEDSINCE 320162338) -flags.silent \\SEEN $Forwarded \\Custom', 'STORE');
    assert.deepEqual([c.uid, c.unchangedSince, c.action, c.silent, c.flags], [true, 320162338, 'remove', true, ['\\Seen', '$Forwarded', '\\Custom']]);
    assert.deepEqual(cmd('a STORE 1 FLAGS ()', 'STORE').flags, []);
    bad('a STORE 1 FLAGS', /missing argument/);
    bad('a STORE 1 *FLAGS (\\Seen)', /FLAGS/);
    bad('a STORE 1 FLAGS (\\*)');
    bad('a STORE 1 (FOO 1) FLAGS ()');
  });

  it('parses COPY and MOVE', () => {
    assert.deepEqual(parse('a UID MOVE 1:3 "Trash"'), { tag: 'a', name: 'MOVE', uid: true, set: seq([1, 3]), mailbox: 'Trash' });
    assert.deepEqual(parse('a COPY $ inbox'), { tag: 'a', name: 'COPY', uid: false, set: { kind: 'saved' }, mailbox: 'INBOX' });
  });
});

describe('parseCommand: SORT and THREAD (RFC 5256)', () => {
  it('parses SORT with criteria, charset, ESORT RETURN and search', () => {
    const c = cmd('a UID SORT RETURN (COUNT) (REVERSE ARRIVAL subject DISPLAYFROM) UTF-8 ALL', 'SORT');
    assert.deepEqual(c.criteria, [
      { key: 'ARRIVAL', reverse: true },
      { key: 'SUBJECT', reverse: false },
      { key: 'DISPLAYFROM', reverse: false },
    ]);
    assert.equal(c.charset, 'UTF-8');
    assert.equal(c.returnOptions?.count, true);
    assert.deepEqual(c.search, { type: 'ALL' });
    bad('a SORT (FOO) UTF-8 ALL', /sort key/);
    bad('a SORT () UTF-8 ALL');
    bad('a SORT (DATE) ALL', /search key|charset/);
    assert.equal(bad('a SORT (DATE) EBCDIC ALL').code, 'BADCHARSET');
  });

  it('parses THREAD', () => {
    assert.deepEqual(parse('a THREAD references US-ASCII SINCE 1-Jan-2020 UNDELETED'), {
      tag: 'a',
      name: 'THREAD',
      uid: false,
      algorithm: 'REFERENCES',
      charset: 'US-ASCII',
      search: {
        type: 'AND',
        keys: [{ type: 'SINCE', date: { year: 2020, month: 1, day: 1 } }, { type: 'UNDELETED' }],
      },
    });
    assert.equal(cmd('a UID THREAD ORDEREDSUBJECT UTF-8 ALL', 'THREAD').uid, true);
  });
});

// ---------------------------------------------------------------------------
// Properties

/** A test-only command writer: the inverse of the parser for the commands generated below. */
class CommandWriter {
  constructor(private readonly literals: 'auto' | 'always') {}

  private isAstringAtom(s: string): boolean {
    return /^[\x21\x23\x24\x26\x27\x2b-\x5b\x5d-\x7a\x7c-\x7e]+$/.test(s);
  }

  string(s: string, nonSync = false): string {
    if (this.literals === 'auto' && !/[\r\n\0]/.test(s) && s.length < 50) return `"${s.replace(/["\\]/g, '\\$&')}"`;
    return `{${Buffer.byteLength(s)}${nonSync ? '+' : ''}}\r\n${s}`;
  }

  astring(s: string): string {
    return this.literals === 'auto' && this.isAstringAtom(s) ? s : this.string(s, true);
  }

  listMailbox(s: string): string {
    return this.literals === 'auto' && /^[\x21\x23-\x27\x2a\x2b-\x5b\x5d-\x7a\x7c-\x7e]+$/.test(s) ? s : this.string(s);
  }

  searchKey(k: SearchKey, nested: boolean): string {
    switch (k.type) {
      case 'KEYWORD':
      case 'UNKEYWORD':
        return `${k.type} ${k.flag}`;
      case 'BCC':
      case 'BODY':
      case 'CC':
      case 'FROM':
      case 'SUBJECT':
      case 'TEXT':
      case 'TO':
        return `${k.type} ${this.astring(k.value)}`;
      case 'HEADER':
        return `HEADER ${this.astring(k.field)} ${this.astring(k.value)}`;
      case 'BEFORE':
      case 'ON':
      case 'SINCE':
      case 'SENTBEFORE':
      case 'SENTON':
      case 'SENTSINCE':
        return `${k.type} ${k.date.day}-${MONTHS[k.date.month - 1]}-${String(k.date.year).padStart(4, '0')}`;
      case 'LARGER':
      case 'SMALLER':
        return `${k.type} ${k.size}`;
      case 'OLDER':
      case 'YOUNGER':
        return `${k.type} ${k.seconds}`;
      case 'UID':
        return `UID ${formatSequenceSet(k.set)}`;
      case 'SEQUENCE':
        return formatSequenceSet(k.set);
      case 'MODSEQ':
        return k.entry ? `MODSEQ "/flags/${k.entry.flag.replace(/\\/g, '\\\\')}" ${k.entry.kind} ${k.modseq}` : `MODSEQ ${k.modseq}`;
      case 'NOT':
        return `NOT ${this.searchKey(k.key, true)}`;
      case 'OR':
        return `OR ${this.searchKey(k.left, true)} ${this.searchKey(k.right, true)}`;
      case 'AND': {
        const inner = k.keys.map((x) => this.searchKey(x, true)).join(' ');
        return nested ? `(${inner})` : inner;
      }
      default:
        return k.type;
    }
  }

  searchReturn(r: SearchReturn | null): string {
    if (r === null) return '';
    const opts = (['min', 'max', 'all', 'count', 'save'] as const).filter((o) => r[o]).map((o) => o.toUpperCase());
    return ` RETURN (${opts.join(' ')})`;
  }

  fetchItem(item: FetchItem): string {
    const partial = (p: { offset: number; length: number } | null) => (p ? `<${p.offset}.${p.length}>` : '');
    switch (item.type) {
      case 'BODY[]': {
        const s = item.section;
        const parts: string[] = s.part.map(String);
        if (s.text) parts.push(s.text);
        let spec = parts.join('.');
        if (s.fields.length > 0) spec += ` (${s.fields.map((f) => this.astring(f)).join(' ')})`;
        return `BODY${item.peek ? '.PEEK' : ''}[${spec}]${partial(item.partial)}`;
      }
      case 'BINARY[]':
        return `BINARY${item.peek ? '.PEEK' : ''}[${item.part.join('.')}]${partial(item.partial)}`;
      case 'BINARY.SIZE':
        return `BINARY.SIZE[${item.part.join('.')}]`;
      default:
        return item.type;
    }
  }

  command(c: Command): Buffer {
    const uid = 'uid' in c && c.uid && c.name !== 'EXPUNGE' ? 'UID ' : '';
    switch (c.name) {
      case 'SEARCH':
      {
        const charset = c.charset ? ` CHARSET ${c.charset}` : '';
        const program = this.searchKey(c.criteria, false);
        return Buffer.from(`${c.tag} ${uid}SEARCH${this.searchReturn(c.returnOptions)}${charset} ${program}`);
      }
      case 'FETCH': {
        const list = `(${c.items.map((i) => this.fetchItem(i)).join(' ')})`;
        const items = c.items.length === 1 && this.literals === 'auto' ? this.fetchItem(c.items[0]) : list;
        const mods: string[] = [];
        if (c.changedSince !== null) mods.push(`CHANGEDSINCE ${c.changedSince}`);
        if (c.vanished) mods.push('VANISHED');
        return Buffer.from(`${c.tag} ${uid}FETCH ${formatSequenceSet(c.set)} ${items}${mods.length ? ` (${mods.join(' ')})` : ''}`);
      }
      case 'STORE': {
        const op = { set: '', add: '+', remove: '-' }[c.action];
        const flags = c.flags.length > 0 && this.literals === 'auto' ? c.flags.join(' ') : `(${c.flags.join(' ')})`;
        const mod = c.unchangedSince !== null ? ` (UNCHANGEDSINCE ${c.unchangedSince})` : '';
        return Buffer.from(`${c.tag} ${uid}STORE ${formatSequenceSet(c.set)}${mod} ${op}FLAGS${c.silent ? '.SILENT' : ''} ${flags}`);
      }
      case 'LIST': {
        let s = `${c.tag} LIST`;
        if (c.selection) {
          const sel = c.selection;
          const opts = [
            sel.subscribed && 'SUBSCRIBED',
            sel.remote && 'REMOTE',
            sel.recursiveMatch && 'RECURSIVEMATCH',
            sel.specialUse && 'SPECIAL-USE',
          ];
          s += ` (${opts.filter(Boolean).join(' ')})`;
        }
        s += ` ${this.astring(c.reference)} `;
        s += c.patterns.length === 1 ? this.listMailbox(c.patterns[0]) : `(${c.patterns.map((p) => this.listMailbox(p)).join(' ')})`;
        if (c.returnOptions) {
          const r = c.returnOptions;
          const opts = [
            r.subscribed && 'SUBSCRIBED',
            r.children && 'CHILDREN',
            r.specialUse && 'SPECIAL-USE',
            r.status && `STATUS (${r.status.join(' ')})`,
          ];
          s += ` RETURN (${opts.filter(Boolean).join(' ')})`;
        }
        return Buffer.from(s);
      }
      case 'APPEND': {
        const parts: Buffer[] = [Buffer.from(`${c.tag} APPEND ${this.astring(c.mailbox)}`)];
        c.messages.forEach((m, i) => {
          let s = '';
          if (m.flags.length > 0 || (i % 2 === 1 && this.literals === 'always')) s += ` (${m.flags.join(' ')})`;
          if (m.internalDate) s += ` "${dateTime(m.internalDate, (i * 97) % 1500 - 700)}"`;
          const marker = `${m.binary ? '~' : ''}{${m.data.length}${i % 2 === 0 ? '+' : ''}}\r\n`;
          parts.push(Buffer.from(m.utf8 ? `${s} UTF8 (${marker}` : `${s} ${marker}`), m.data, Buffer.from(m.utf8 ? ')' : ''));
        });
        return Buffer.concat(parts);
      }
      default:
        throw new Error(`no writer for ${c.name}`);
    }
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function dateTime(d: Date, zoneMinutes: number): string {
  const z = new Date(d.getTime() + zoneMinutes * 60_000);
  const p = (n: number) => String(n).padStart(2, '0');
  const abs = Math.abs(zoneMinutes);
  const day = `${String(z.getUTCDate()).padStart(2, ' ')}-${MONTHS[z.getUTCMonth()]}-${z.getUTCFullYear()}`;
  const time = `${p(z.getUTCHours())}:${p(z.getUTCMinutes())}:${p(z.getUTCSeconds())}`;
  return `${day} ${time} ${zoneMinutes < 0 ? '-' : '+'}${p(Math.floor(abs / 60))}${p(abs % 60)}`;
}

// Generators for ASTs the parser must give back.

const ATOM_CHARS = [...'abcXYZ019!#$&\'+,-./:;<=>?@[^_`|}~'];
const tagArb = fc.string({ unit: fc.constantFrom(...'aZ09.!#$&\',-/:;<=>?@[]^_`|}~'.split('')), minLength: 1, maxLength: 8 });
const atomArb = fc.string({ unit: fc.constantFrom(...ATOM_CHARS), minLength: 1, maxLength: 8 });
const textArb = fc
  .string({
    unit: fc.oneof(
      fc.constantFrom(' ', '"', '\\', '\r', '\n', '(', ')', '{', '}', '%', '*', ']', 'é', '日', '😀'),
      fc.constantFrom(...ATOM_CHARS),
    ),
    maxLength: 12,
  })
  .filter((s) => !s.includes('\0'));
const nz = fc.integer({ min: 1, max: 4294967295 });
const seqNumberArb = fc.oneof(nz, fc.constant('*' as const));
const rangesArb = fc.array(fc.record({ from: seqNumberArb, to: seqNumberArb }), { minLength: 1, maxLength: 5 }) as fc.Arbitrary<SeqRange[]>;
const setArb: fc.Arbitrary<SequenceSet> = fc.oneof(
  { weight: 9, arbitrary: rangesArb.map((ranges) => ({ kind: 'ranges' as const, ranges })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'saved' as const }) },
);
const dateArb = fc
  .record({ year: fc.integer({ min: 1900, max: 2100 }), month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 1, max: 31 }) })
  .map((d) => ({ ...d, day: Math.min(d.day, new Date(Date.UTC(d.year, d.month, 0)).getUTCDate()) }));
const systemFlag = fc.constantFrom('\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft');
const flagArb = fc.oneof(systemFlag, atomArb, atomArb.filter((a) => !a.startsWith('$')).map((a) => `\\X${a}`));

const searchKeyArb: fc.Arbitrary<SearchKey> = fc.letrec<{ key: SearchKey }>((tie) => ({
  key: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...FLAG_KEYS).map((type) => ({ type })),
    fc.record({ type: fc.constantFrom('KEYWORD' as const, 'UNKEYWORD' as const), flag: atomArb }),
    fc.record({ type: fc.constantFrom(...(['BCC', 'BODY', 'CC', 'FROM', 'SUBJECT', 'TEXT', 'TO'] as const)), value: textArb }),
    fc.record({ type: fc.constant('HEADER' as const), field: textArb, value: textArb }),
    fc.record({
      type: fc.constantFrom(...(['BEFORE', 'ON', 'SINCE', 'SENTBEFORE', 'SENTON', 'SENTSINCE'] as const)),
      date: dateArb,
    }),
    fc.record({ type: fc.constantFrom('LARGER' as const, 'SMALLER' as const), size: fc.maxSafeNat() }),
    fc.record({ type: fc.constantFrom('OLDER' as const, 'YOUNGER' as const), seconds: nz }),
    fc.record({ type: fc.constantFrom('UID' as const, 'SEQUENCE' as const), set: setArb }),
    fc.record({
      type: fc.constant('MODSEQ' as const),
      modseq: fc.maxSafeNat(),
      entry: fc.option(fc.record({ flag: flagArb, kind: fc.constantFrom('priv' as const, 'shared' as const, 'all' as const) }), { nil: null }),
    }),
    fc.record({ type: fc.constant('NOT' as const), key: tie('key') }),
    fc.record({ type: fc.constant('OR' as const), left: tie('key'), right: tie('key') }),
    fc.record({ type: fc.constant('AND' as const), keys: fc.array(tie('key'), { minLength: 2, maxLength: 3 }) }),
  ),
})).key;

const searchReturnArb: fc.Arbitrary<SearchReturn | null> = fc.option(
  fc.record({ min: fc.boolean(), max: fc.boolean(), all: fc.boolean(), count: fc.boolean(), save: fc.boolean() }).map((r) =>
    Object.values(r).some(Boolean) ? r : { ...r, all: true },
  ),
  { nil: null },
);

const searchCommandArb: fc.Arbitrary<Command> = fc.record({
  tag: tagArb,
  name: fc.constant('SEARCH' as const),
  uid: fc.boolean(),
  charset: fc.constantFrom(null, 'UTF-8', 'us-ascii'),
  returnOptions: searchReturnArb,
  criteria: searchKeyArb,
});

const partialArb = fc.option(fc.record({ offset: fc.maxSafeNat(), length: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }), { nil: null });
const partArb = fc.array(fc.integer({ min: 1, max: 99 }), { maxLength: 3 });
const fieldArb = fc.string({ unit: fc.constantFrom(...'aZ-_!"\\(){%*]~'.split('')), minLength: 1, maxLength: 6 });
const sectionArb: fc.Arbitrary<BodySection> = fc
  .record({
    part: partArb,
    text: fc.constantFrom(null, 'HEADER' as const, 'HEADER.FIELDS' as const, 'HEADER.FIELDS.NOT' as const, 'TEXT' as const, 'MIME' as const),
    fields: fc.array(fieldArb, { minLength: 1, maxLength: 3 }),
  })
  .map((s) => ({
    part: s.part,
    text: s.text === 'MIME' && s.part.length === 0 ? null : s.text,
    fields: s.text === 'HEADER.FIELDS' || s.text === 'HEADER.FIELDS.NOT' ? s.fields : [],
  }));
const fetchItemArb: fc.Arbitrary<FetchItem> = fc.oneof(
  fc.constantFrom(...SIMPLE_FETCH).map((type) => ({ type })),
  fc.record({ type: fc.constant('BODY[]' as const), peek: fc.boolean(), section: sectionArb, partial: partialArb }),
  fc.record({ type: fc.constant('BINARY[]' as const), peek: fc.boolean(), part: partArb, partial: partialArb }),
  fc.record({ type: fc.constant('BINARY.SIZE' as const), part: partArb }),
);
const fetchCommandArb: fc.Arbitrary<Command> = fc
  .record({
    tag: tagArb,
    uid: fc.boolean(),
    set: setArb,
    items: fc.array(fetchItemArb, { minLength: 1, maxLength: 4 }),
    changedSince: fc.option(fc.maxSafeNat(), { nil: null }),
    vanished: fc.boolean(),
  })
  .map((c) => ({
    ...c,
    name: 'FETCH' as const,
    macro: null,
    vanished: c.vanished && c.uid && c.changedSince !== null,
  }));

const storeCommandArb: fc.Arbitrary<Command> = fc.record({
  tag: tagArb,
  name: fc.constant('STORE' as const),
  uid: fc.boolean(),
  set: setArb,
  unchangedSince: fc.option(fc.maxSafeNat(), { nil: null }),
  action: fc.constantFrom('set' as const, 'add' as const, 'remove' as const),
  silent: fc.boolean(),
  flags: fc.array(flagArb, { maxLength: 4 }),
});

const statusItemArb = fc.constantFrom<StatusItem>(
  'MESSAGES',
  'UIDNEXT',
  'UIDVALIDITY',
  'UNSEEN',
  'DELETED',
  'SIZE',
  'RECENT',
  'HIGHESTMODSEQ',
  'APPENDLIMIT',
);
const selectionArb: fc.Arbitrary<ListSelection | null> = fc.option(
  fc.record({ subscribed: fc.boolean(), remote: fc.boolean(), recursiveMatch: fc.boolean(), specialUse: fc.boolean() }).map((s) => ({
    ...s,
    recursiveMatch: s.recursiveMatch && (s.subscribed || s.specialUse),
  })),
  { nil: null },
);
const listReturnArb: fc.Arbitrary<ListReturn | null> = fc.option(
  fc.record({
    subscribed: fc.boolean(),
    children: fc.boolean(),
    specialUse: fc.boolean(),
    status: fc.option(fc.array(statusItemArb, { minLength: 1, maxLength: 3 }), { nil: null }),
  }),
  { nil: null },
);
const listCommandArb: fc.Arbitrary<Command> = fc.record({
  tag: tagArb,
  name: fc.constant('LIST' as const),
  reference: textArb,
  patterns: fc.array(fc.oneof(textArb.filter((s) => s.length > 0), fc.constantFrom('*', '%', 'INBOX', 'a/%')), { minLength: 1, maxLength: 3 }),
  selection: selectionArb,
  returnOptions: listReturnArb,
});

const appendMessageArb: fc.Arbitrary<AppendMessage> = fc
  .record({
    flags: fc.array(flagArb, { maxLength: 3 }),
    internalDate: fc.option(
      fc.integer({ min: 0, max: 4102444800 }).map((s) => new Date(s * 1000)),
      { nil: null },
    ),
    data: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    binary: fc.boolean(),
    utf8: fc.boolean(),
  })
  .map((m) => ({ ...m, binary: m.binary || m.utf8 }));
const appendCommandArb: fc.Arbitrary<Command> = fc
  .record({
    tag: tagArb,
    name: fc.constant('APPEND' as const),
    mailbox: fc.oneof(textArb, fc.constantFrom('inbox', 'INBOX', 'Sent')),
    messages: fc.array(appendMessageArb, { minLength: 1, maxLength: 3 }),
  })
  .map((c) => ({ ...c, mailbox: c.mailbox.toUpperCase() === 'INBOX' ? 'INBOX' : c.mailbox }));

/** A deep copy with ordinary prototypes: fc.record builds null-prototype objects. */
function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map(plain) as T;
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) as T;
}

/** Sends the command through a CommandReader (answering every continuation) and parses it. */
function throughReader(bytes: Buffer): Command {
  const reader = new CommandReader({ nonSyncLiteralLimit: Infinity });
  reader.push(Buffer.concat([bytes, Buffer.from('\r\n')]));
  for (let ev = reader.read(); ev; ev = reader.read()) {
    if (ev.type === 'command') return parseCommand(ev.bytes);
    assert.equal(ev.type, 'continue');
  }
  assert.fail('the reader gave no command');
}

describe('parseCommand: properties', () => {
  for (const [name, arb] of [
    ['FETCH', fetchCommandArb],
    ['SEARCH', searchCommandArb],
    ['STORE', storeCommandArb],
    ['LIST', listCommandArb],
    ['APPEND', appendCommandArb],
  ] as const) {
    it(`round-trips ${name} commands: write, read, parse (property)`, () => {
      fc.assert(
        fc.property(arb, fc.constantFrom('auto' as const, 'always' as const), (generated, literals) => {
          const command = plain(generated);
          const bytes = new CommandWriter(literals).command(command);
          assert.deepEqual(parseCommand(bytes), command, bytes.toString('latin1'));
          assert.deepEqual(throughReader(bytes), command);
        }),
        { numRuns: 150 },
      );
    });
  }

  const soup = fc.array(
    fc.constantFrom(
      'a1 ', 'UID ', 'FETCH ', 'SEARCH ', 'STORE ', 'LIST ', 'APPEND ', 'SELECT ', 'LOGIN ', 'SORT ', 'THREAD ', 'ID ', 'STATUS ',
      'AUTHENTICATE ', 'ENABLE ', 'CREATE ', '(', ')', '[', ']', '<', '>', '.', ' ', '"', '\\',
      '{3}\r\n', '{0+}\r\n', '~{2}\r\n', '{99999999999999999999}\r\n',
      '1', '0', '1:*', '$', ',', '*', '%', 'OR ', 'NOT ', 'ALL', 'BODY.PEEK', 'BINARY', 'HEADER.FIELDS', 'MIME', 'TEXT', 'RETURN ', 'CHARSET ',
      'UTF-8 ', 'MODSEQ ', 'CHANGEDSINCE ', 'VANISHED', 'QRESYNC ', 'CONDSTORE', '\\Seen', 'FLAGS', '+FLAGS.SILENT', 'NIL', 'INBOX',
      '"17-Jul-1996 02:44:25 -0700"', '1-Feb-1994', 'é', '\r\n', '\0', '\xff', 'UTF8 ', '=',
    ),
    { maxLength: 30 },
  );

  const neverThrowsOtherErrors = (input: Buffer) => {
    try {
      parseCommand(input);
    } catch (err) {
      assert.ok(err instanceof ImapParseError, `threw ${String(err)} for ${JSON.stringify(input.toString('latin1'))}`);
      assert.notEqual(err.message, 'internal parser error', String(err.cause));
      assert.ok(err.tag === null || input.toString('latin1').startsWith(`${err.tag} `));
    }
  };

  it('never throws anything but ImapParseError on arbitrary bytes (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (a) => neverThrowsOtherErrors(Buffer.from(a))), { numRuns: 2000 });
  });

  it('never throws anything but ImapParseError on grammar soup (property)', () => {
    fc.assert(fc.property(soup, (tokens) => neverThrowsOtherErrors(Buffer.from(tokens.join(''), 'latin1'))), { numRuns: 3000 });
  });

  it('never throws anything but ImapParseError on mutated valid commands (property)', () => {
    const anyCommand = fc.oneof(fetchCommandArb, searchCommandArb, storeCommandArb, listCommandArb, appendCommandArb);
    fc.assert(
      fc.property(anyCommand, fc.array(fc.tuple(fc.nat(), fc.integer({ min: -1, max: 255 })), { minLength: 1, maxLength: 4 }), (command, edits) => {
        const bytes = [...new CommandWriter('auto').command(command)];
        for (const [at, value] of edits) {
          const i = at % (bytes.length + 1);
          if (value === -1) bytes.splice(i, 1);
          else bytes.splice(i, 0, value);
        }
        neverThrowsOtherErrors(Buffer.from(bytes));
      }),
      { numRuns: 1000 },
    );
  });
});
