import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseOrcpt } from '../mail/address.js';
import { capEncoded, displayAddress, encodeUtf8AddrXtext, isSmtpReply, joinReply, safeHost, safeText, truncate } from './sanitize.js';

describe('joinReply', () => {
  it('joins a multi-line SMTP reply, keeping the codes once', () => {
    assert.equal(joinReply('550-5.1.1 a\r\n550 5.1.1 b'), '550 5.1.1 a b');
    assert.equal(joinReply('550-a\n550 b'), '550 a b');
    assert.equal(
      joinReply('550-5.1.1 The email account that you tried to reach does not exist.\r\n550-5.1.1 Please try\r\n550 5.1.1 again'),
      '550 5.1.1 The email account that you tried to reach does not exist. Please try again',
    );
  });

  it('keeps a different enhanced code on a continuation line', () => {
    assert.equal(joinReply('451-4.7.1 greylisted\r\n451 4.7.0 try later'), '451 4.7.1 greylisted 4.7.0 try later');
  });

  it('keeps lines that are not reply lines as they are', () => {
    assert.equal(joinReply('connect to mx.example.org[192.0.2.1]:25: Connection refused'), 'connect to mx.example.org[192.0.2.1]:25: Connection refused');
    assert.equal(joinReply('550 no\r\nBcc: victim@example.com'), '550 no Bcc: victim@example.com');
    assert.equal(joinReply('250'), '250');
  });

  it('removes controls and empty lines, and collapses white space', () => {
    assert.equal(joinReply('550\t5.1.1\x00 user\x1b[31m  unknown\r\n\r\n\r\n'), '550 5.1.1 user [31m unknown');
    assert.equal(joinReply('\r\n\r\n'), '');
    assert.equal(joinReply(null), '');
  });

  it('caps the length and can make the text 7-bit', () => {
    const long = joinReply('550 ' + 'x'.repeat(5000));
    assert.equal(long.length, 900);
    assert.ok(long.endsWith('...'));
    assert.equal(joinReply('550 uporabnik čebela ne obstaja', { ascii: true }), '550 uporabnik ?ebela ne obstaja');
    assert.equal(joinReply('550 😀', { ascii: true }), '550 ?');
  });

  it('always gives one line of bounded length', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 3000 }), (s) => {
        const out = joinReply(s, { ascii: true });
        assert.ok(out.length <= 900);
        assert.match(out, /^[\x20-\x7e]*$/);
        assert.ok(!out.startsWith(' ') && !out.endsWith(' '));
      }),
    );
  });
});

describe('isSmtpReply', () => {
  it('recognises a reply code at the start', () => {
    assert.equal(isSmtpReply('550 5.1.1 no'), true);
    assert.equal(isSmtpReply('421'), true);
    assert.equal(isSmtpReply('connection refused'), false);
    assert.equal(isSmtpReply('5501 x'), false);
  });
});

describe('safeText, safeHost, displayAddress', () => {
  it('strips bidi overrides and zero-width characters', () => {
    assert.equal(safeText('abc\u202Eevil\u200B\u2066x'), 'abcevilx');
  });

  it('makes host names single tokens', () => {
    assert.equal(safeHost('mx.example.org\r\nBcc: x'), 'mx.example.orgBcc:x');
    assert.equal(safeHost('a;b (c) "d"'), 'abcd');
    assert.equal(safeHost(null), '');
  });

  it('keeps UTF-8 in display addresses but no controls or brackets', () => {
    assert.equal(displayAddress('čebela@primer.si'), 'čebela@primer.si');
    assert.equal(displayAddress('a\r\n>b@c'), 'a b@c');
  });

  it('truncates without splitting a surrogate pair', () => {
    assert.equal(truncate('abcdef', 10), 'abcdef');
    assert.equal(truncate('abcdefghij', 6), 'abc...');
    const t = truncate('a😀😀😀', 6);
    assert.doesNotMatch(t, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});

describe('encodeUtf8AddrXtext', () => {
  it('escapes non-ASCII and the xtext specials as \\x{HEX} (RFC 6533 §3)', () => {
    assert.equal(encodeUtf8AddrXtext('čebela@primer.si'), '\\x{10D}ebela@primer.si');
    assert.equal(encodeUtf8AddrXtext('a+b=c\\d@x'), 'a\\x{2B}b\\x{3D}c\\x{5C}d@x');
    assert.equal(encodeUtf8AddrXtext('用户@例子.广告'), '\\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.\\x{5E7F}\\x{544A}');
  });

  it('round-trips through the ORCPT decoder', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((s) => !/[\x00-\x20\x7f-\x9f]/.test(s)),
        (local) => {
          const address = `${local}@example.org`;
          const enc = encodeUtf8AddrXtext(address);
          assert.match(enc, /^[\x21-\x7e]+$/);
          if (enc.length <= 490) assert.equal(parseOrcpt(`utf-8;${enc}`).address, address);
        },
      ),
    );
  });
});

describe('capEncoded', () => {
  it('never leaves half an escape', () => {
    assert.equal(capEncoded('abc', 10), 'abc');
    assert.equal(capEncoded('ab+2B', 4), 'ab');
    assert.equal(capEncoded('ab+2B', 3), 'ab');
    assert.equal(capEncoded('a\\x{10D}', 5), 'a');
    assert.equal(capEncoded('a\\x{10D}', 8), 'a\\x{10D}');
  });
});
