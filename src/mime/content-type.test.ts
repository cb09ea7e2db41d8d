import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseContentDisposition, parseContentType, parseLanguageList, parseMimeToken, parseParameters } from './content-type.js';

// values are byte strings: one char per header byte
const bytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

describe('parseContentType', () => {
  it('parses type, subtype and parameters with comments and folding (RFC 2045 §5.1)', () => {
    const ct = parseContentType('(c) text / plain (d) ;\r\n\tcharset = "us-ascii" (e); format=flowed');
    assert.deepEqual(ct?.type, 'text');
    assert.deepEqual(ct?.subtype, 'plain');
    assert.deepEqual(ct?.params.list, [
      ['charset', 'us-ascii'],
      ['format', 'flowed'],
    ]);
    assert.deepEqual({ ...ct?.params.decoded }, { charset: 'us-ascii', format: 'flowed' });
  });

  it('returns null without type "/" subtype (RFC 2045 §5.2 then applies)', () => {
    for (const v of ['', 'text', 'text/', '/plain', ';charset=x', 'garbage']) assert.equal(parseContentType(v), null, v);
  });

  it('unescapes quoted strings and accepts tspecials in unquoted values', () => {
    const ct = parseContentType('multipart/mixed; boundary=----=_Part_1/2?x; name="a \\"b\\" c"');
    assert.deepEqual(ct?.params.list, [
      ['boundary', '----=_Part_1/2?x'],
      ['name', 'a "b" c'],
    ]);
  });

  it('skips garbage and parameters without a value', () => {
    const ct = parseContentType('text/plain; charset; ;; =x; junk here; a=b');
    assert.deepEqual(ct?.params.list, [['a', 'b']]);
  });

  it('keeps an unterminated quoted value', () => {
    assert.deepEqual(parseContentType('application/x; name="abc')?.params.list, [['name', 'abc']]);
  });
});

describe('RFC 2231 parameters', () => {
  it('decodes an extended value with charset and language (RFC 2231 §4)', () => {
    const p = parseParameters("; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A", 0);
    assert.deepEqual(p.list, [['title*', "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A"]]);
    assert.equal(p.decoded.title, 'This is ***fun***');
  });

  it('merges continuations (§3), in any order', () => {
    const p = parseParameters('; url*1="/more"; url*0="ftp://host/dir"', 0);
    assert.deepEqual(p.list, [['url', 'ftp://host/dir/more']]);
    assert.equal(p.decoded.url, 'ftp://host/dir/more');
  });

  it('mixes encoded and plain sections (§4.1); plain "%" is escaped in the merged form', () => {
    const p = parseParameters("; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it! 100%\"", 0);
    assert.deepEqual(p.list, [['title*', "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn't it! 100%25"]]);
    assert.equal(p.decoded.title, "This is even more ***fun*** isn't it! 100%");
  });

  it('prefixes an empty charset when only later sections are extended', () => {
    const p = parseParameters('; n*0="a%"; n*1*=%41', 0);
    assert.deepEqual(p.list, [['n*', "''a%25%41"]]);
    assert.equal(p.decoded.n, 'a%A');
  });

  it('decodes the charset of the first section', () => {
    assert.equal(parseParameters("; f*=iso-8859-1''M%FCller.txt", 0).decoded.f, 'Müller.txt');
    assert.equal(parseParameters("; f*=koi8-r''%F0%D2%C9%D7%C5%D4", 0).decoded.f, 'Привет');
    assert.equal(parseParameters("; f*0*=utf-8''%C5; f*1*=%BE", 0).decoded.f, 'ž');
  });

  it('lists sections with a gap as they came, and decodes up to the gap', () => {
    const p = parseParameters('; filename*0="zero"; filename*2="two"', 0);
    assert.deepEqual(p.list, [
      ['filename*0', 'zero'],
      ['filename*2', 'two'],
    ]);
    assert.equal(p.decoded.filename, 'zero');
  });

  it('puts plain parameters first and prefers the RFC 2231 value in decoded', () => {
    const p = parseParameters("; filename*=utf-8''%E2%82%AC.txt; filename=\"EUR.txt\"; a=1", 0);
    assert.deepEqual(p.list, [
      ['filename', 'EUR.txt'],
      ['a', '1'],
      ['filename*', "utf-8''%E2%82%AC.txt"],
    ]);
    assert.equal(p.decoded.filename, '€.txt');
  });

  it('decodes RFC 2047 words in name and filename only', () => {
    const p = parseParameters('; name="=?UTF-8?B?xb4udHh0?="; boundary="=?x?q?y?="', 0);
    assert.equal(p.decoded.name, 'ž.txt');
    assert.equal(p.decoded.boundary, '=?x?q?y?=');
  });

  it('reads raw UTF-8 and Latin-1 bytes in plain values', () => {
    assert.equal(parseParameters(`; name="${bytes('Čaj.txt')}"`, 0).decoded.name, 'Čaj.txt');
    assert.equal(parseParameters('; name="caf\xe9"', 0).decoded.name, 'café');
  });

  it('never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        parseParameters(s, 0);
        parseContentType(s);
        parseContentDisposition(s);
        parseLanguageList(s);
        parseMimeToken(s);
      }),
      { numRuns: 500 },
    );
  });
});

describe('other MIME fields', () => {
  it('Content-Disposition (RFC 2183)', () => {
    const d = parseContentDisposition('attachment; filename="a.pdf"; size=12');
    assert.equal(d?.type, 'attachment');
    assert.deepEqual(d?.params.list, [
      ['filename', 'a.pdf'],
      ['size', '12'],
    ]);
    assert.equal(parseContentDisposition('; filename=x'), null);
  });

  it('Content-Transfer-Encoding token', () => {
    assert.equal(parseMimeToken(' (c) Base64 (d)'), 'Base64');
    assert.equal(parseMimeToken(''), null);
  });

  it('Content-Language list (RFC 3282)', () => {
    assert.deepEqual(parseLanguageList('en, de-AT (Austria),fr'), ['en', 'de-AT', 'fr']);
    assert.equal(parseLanguageList(' , '), null);
  });
});
