import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeEncodedWords, decodeQuotedPrintable, encodeHeaderWords, encodeQuotedPrintable } from './mime-encoding.js';

describe('encodeQuotedPrintable', () => {
  it('keeps plain ASCII readable and encodes "=", non-ASCII and trailing white space', () => {
    assert.equal(encodeQuotedPrintable('Hello, world'), 'Hello, world');
    assert.equal(encodeQuotedPrintable('a=b'), 'a=3Db');
    assert.equal(encodeQuotedPrintable('pošta'), 'po=C5=A1ta');
    assert.equal(encodeQuotedPrintable('end \r\nnext\t'), 'end=20\r\nnext=09');
  });

  it('turns every kind of line break into CRLF and encodes other controls', () => {
    assert.equal(encodeQuotedPrintable('a\nb\rc\r\nd\x00'), 'a\r\nb\r\nc\r\nd=00');
  });

  it('breaks long lines softly at 76 characters, never inside an escape', () => {
    const text = 'ž'.repeat(100) + ' ' + 'x'.repeat(200);
    const enc = encodeQuotedPrintable(text);
    for (const line of enc.split('\r\n')) {
      assert.ok(line.length <= 76, `line of ${line.length}`);
      assert.ok(!/=[0-9A-F]?$/.test(line) || line.endsWith('='), 'escape split across lines');
    }
    assert.equal(decodeQuotedPrintable(enc).toString('utf8'), text);
  });

  it('round-trips any text, 7-bit and within 76 characters per line', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), (text) => {
        const enc = encodeQuotedPrintable(text);
        assert.match(enc, /^[\x20-\x7e\r\n]*$/);
        assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(enc));
        for (const line of enc.split('\r\n')) assert.ok(line.length <= 76);
        assert.equal(decodeQuotedPrintable(enc).toString('utf8'), text.replace(/\r\n|\r|\n/g, '\r\n'));
      }),
    );
  });
});

describe('decodeQuotedPrintable', () => {
  it('removes soft breaks (with transport padding) and keeps malformed "=" as is', () => {
    assert.equal(decodeQuotedPrintable('ab=  \r\ncd=\nef').toString('latin1'), 'abcdef');
    assert.equal(decodeQuotedPrintable('100=% =zz =4').toString('latin1'), '100=% =zz =4');
    assert.equal(decodeQuotedPrintable('=c5=a1').toString('utf8'), 'š');
  });
});

describe('encodeHeaderWords', () => {
  it('returns printable ASCII unchanged', () => {
    assert.equal(encodeHeaderWords('Undelivered Mail Returned to Sender'), 'Undelivered Mail Returned to Sender');
  });

  it('encodes non-ASCII as RFC 2047 Q words in UTF-8', () => {
    assert.equal(encodeHeaderWords('Nedostavljeno sporočilo'), '=?UTF-8?Q?Nedostavljeno_sporo=C4=8Dilo?=');
  });

  it('encodes ASCII text that looks like an encoded-word, so it is not decoded as one', () => {
    const enc = encodeHeaderWords('=?UTF-8?Q?x?=');
    assert.notEqual(enc, '=?UTF-8?Q?x?=');
    assert.equal(decodeEncodedWords(enc), '=?UTF-8?Q?x?=');
  });

  it('keeps words within the limit, whole characters in each, and round-trips', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }), fc.integer({ min: 24, max: 75 }), (text, max) => {
        const clean = text.replace(/[\x00-\x1f\x7f]/g, '');
        const enc = encodeHeaderWords(clean, max);
        assert.match(enc, /^[\x20-\x7e]*$/);
        if (enc !== clean) {
          for (const word of enc.split(' ')) {
            assert.ok(word.length <= max, `${word.length} > ${max}`);
            const payload = /^=\?UTF-8\?Q\?(.*)\?=$/.exec(word)?.[1] ?? '';
            // Each word decodes on its own to valid UTF-8 (RFC 2047 §5: no split characters).
            const bytes = decodeQuotedPrintable(payload.replace(/_/g, ' '));
            assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes));
          }
        }
        assert.equal(decodeEncodedWords(enc), clean);
      }),
    );
  });
});

describe('decodeEncodedWords', () => {
  it('decodes B and Q words in any charset TextDecoder knows', () => {
    assert.equal(decodeEncodedWords('=?utf-8?B?xI1lYmVsYQ==?='), 'čebela');
    assert.equal(decodeEncodedWords('=?iso-8859-2?Q?=E8ebela?='), 'čebela');
    assert.equal(decodeEncodedWords('Re: =?UTF-8?q?Pozdrav_iz_=C4=8Cate=C5=BEa?= !'), 'Re: Pozdrav iz Čateža !');
  });

  it('drops white space between adjacent encoded words only (RFC 2047 §6.2)', () => {
    assert.equal(decodeEncodedWords('=?UTF-8?Q?a?= \t =?UTF-8?Q?b?='), 'ab');
    assert.equal(decodeEncodedWords('=?UTF-8?Q?a?= x =?UTF-8?Q?b?='), 'a x b');
  });

  it('leaves unknown charsets and malformed words alone', () => {
    assert.equal(decodeEncodedWords('=?x-unknown?Q?a?='), '=?x-unknown?Q?a?=');
    assert.equal(decodeEncodedWords('=?UTF-8?B?***?='), '=?UTF-8?B?***?=');
    assert.equal(decodeEncodedWords('plain text'), 'plain text');
  });

  it('never throws', () => {
    fc.assert(fc.property(fc.string(), (s) => void decodeEncodedWords(s)));
  });
});
