import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseAddressList } from './address-list.js';
import { bodyFromBodyStructure, imap4rev1BodyStructure } from './bodystructure.js';
import { buildEnvelope } from './envelope.js';
import { writeImapSexp } from './imap-text.test-helper.js';
import { emptyEnvelopeFields, type EnvelopeFields } from './structure-types.js';

const addr = (v: string) => writeImapSexp(parseAddressList(v));
const fields = (f: Partial<EnvelopeFields>): EnvelopeFields => ({ ...emptyEnvelopeFields(), ...f });

describe('parseAddressList (RFC 5322 §3.4 → RFC 9051 address)', () => {
  it('name-addr and addr-spec', () => {
    assert.equal(addr('Alice Example <alice@example.com>'), '(("Alice Example" NIL "alice" "example.com"))');
    assert.equal(addr('bob@example.org'), '((NIL NIL "bob" "example.org"))');
    assert.equal(addr('"Dave, Jr." <dave@x>, carol@y'), '(("Dave, Jr." NIL "dave" "x") (NIL NIL "carol" "y"))');
  });

  it('takes the name from a trailing comment of a bare address', () => {
    assert.equal(addr('old@example.com (Old  Timer)'), '(("Old Timer" NIL "old" "example.com"))');
    assert.equal(addr('Name <a@b> (ignored)'), '(("Name" NIL "a" "b"))');
  });

  it('keeps encoded words and unquotes names and local parts', () => {
    assert.equal(addr('=?utf-8?q?Ana?= <ana@x>'), '(("=?utf-8?q?Ana?=" NIL "ana" "x"))');
    assert.equal(addr('"Quoted \\"Q\\"" <"joe smith"@x>'), '(("Quoted \\"Q\\"" NIL "joe smith" "x"))');
    assert.equal(addr('John Q. Public <jqp@x>'), '(("John Q. Public" NIL "jqp" "x"))');
  });

  it('groups get start and end markers (RFC 9051 §7.5.2)', () => {
    assert.equal(addr('undisclosed-recipients:;'), '((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL))');
    assert.equal(
      addr('Team: a@x, "B" <b@x>;, c@y'),
      '((NIL NIL "Team" NIL) (NIL NIL "a" "x") ("B" NIL "b" "x") (NIL NIL NIL NIL) (NIL NIL "c" "y"))',
    );
    assert.equal(addr('G: a@x'), '((NIL NIL "G" NIL) (NIL NIL "a" "x") (NIL NIL NIL NIL))');
  });

  it('obsolete routes, domain literals, broken addresses', () => {
    assert.equal(addr('<@r1.x,@r2.x:u@h>'), '((NIL "@r1.x,@r2.x" "u" "h"))');
    assert.equal(addr('u@[192.0.2.1]'), '((NIL NIL "u" "[192.0.2.1]"))');
    assert.equal(addr('nodomain, @nolocal, <>'), '((NIL NIL "nodomain" "") (NIL NIL "" "nolocal") (NIL NIL "" ""))');
    assert.equal(parseAddressList(''), null);
    assert.equal(parseAddressList(' , ; (comment)'), null);
    assert.equal(parseAddressList(null), null);
  });

  it('never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (s) => {
        parseAddressList(s);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('buildEnvelope', () => {
  it('defaults Sender and Reply-To to From', () => {
    const env = buildEnvelope(fields({ from: 'a@x', replyTo: '', subject: '', date: 'd' }));
    assert.equal(
      writeImapSexp(env),
      '("d" "" ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) ((NIL NIL "a" "x")) NIL NIL NIL NIL NIL)',
    );
    assert.equal(writeImapSexp(buildEnvelope(fields({}))), '(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)');
  });
});

describe('BODY and the IMAP4rev1 form', () => {
  const bs = [
    ['text', 'plain', ['charset', 'us-ascii'], null, null, '7bit', 5, 1, null, null, null, null],
    [
      'message',
      'global',
      null,
      null,
      null,
      '8bit',
      10,
      [null, 's', null, null, null, null, null, null, null, null],
      ['text', 'plain', ['charset', 'utf-8'], null, null, '8bit', 2, 1, null, null, null, null],
      3,
      null,
      ['inline', null],
      null,
      null,
    ],
    'mixed',
    ['boundary', 'b'],
    null,
    null,
    null,
  ];

  it('drops the extension data', () => {
    assert.equal(
      writeImapSexp(bodyFromBodyStructure(bs)),
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 1) ("message" "global" NIL NIL NIL "8bit" 10 (NIL "s" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 2 1) 3) "mixed")',
    );
  });

  it('shows message/global as a basic part to IMAP4rev1 clients', () => {
    assert.equal(
      writeImapSexp(imap4rev1BodyStructure(bs)),
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 1 NIL NIL NIL NIL) ("message" "global" NIL NIL NIL "8bit" 10 NIL ("inline" NIL) NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL)',
    );
    assert.equal(
      writeImapSexp(bodyFromBodyStructure(imap4rev1BodyStructure(bs))),
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 1) ("message" "global" NIL NIL NIL "8bit" 10) "mixed")',
    );
  });
});
