import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { decodeCharset, latin1ToText, rawHeaderText } from './charset.js';
import { decodeEncodedWords } from './encoded-words.js';

const b = (charset: string, text: string) => `=?${charset}?B?${iconv.encode(text, charset).toString('base64')}?=`;

describe('decodeEncodedWords (RFC 2047)', () => {
  it('decodes Q and B words', () => {
    assert.equal(decodeEncodedWords('=?iso-8859-2?Q?Po=B9ta_je_prispela?='), 'Pošta je prispela');
    assert.equal(decodeEncodedWords('=?UTF-8?q?Caf=C3=A9?='), 'Café');
    assert.equal(decodeEncodedWords('=?utf-8?B?xb5hYmE=?='), 'žaba');
  });

  it('drops whitespace between adjacent words but keeps other text (§6.2)', () => {
    assert.equal(decodeEncodedWords('=?UTF-8?Q?a?= =?UTF-8?Q?b?='), 'ab');
    assert.equal(decodeEncodedWords('=?UTF-8?Q?a?=\r\n =?ISO-8859-1?Q?b?='), 'ab');
    assert.equal(decodeEncodedWords('x =?UTF-8?Q?a?= y =?UTF-8?Q?b?= z'), 'x a y b z');
    assert.equal(decodeEncodedWords('=?UTF-8?Q?a_?= =?UTF-8?Q?_b?='), 'a  b');
  });

  it('joins adjacent words of one charset before decoding (split multi-byte characters)', () => {
    const bytes = Buffer.from('čšž', 'utf8');
    const words = `=?UTF-8?B?${bytes.subarray(0, 3).toString('base64')}?= =?UTF-8?B?${bytes.subarray(3).toString('base64')}?=`;
    assert.equal(decodeEncodedWords(words), 'čšž');
  });

  it('decodes common non-UTF-8 charsets', () => {
    const cases: Array<[string, string]> = [
      ['iso-8859-1', 'Français'],
      ['iso-8859-15', 'Prix: 5 €'],
      ['windows-1250', 'Čaša'],
      ['windows-1251', 'Мария'],
      ['windows-1252', '“quoted” – dash'],
      ['koi8-r', 'Иван Петров'],
      ['gb2312', '张伟'],
      ['gbk', '中文'],
      ['big5', '陳大文'],
      ['shift_jis', '山田太郎'],
      ['euc-jp', '日本語'],
      ['euc-kr', '김철수'],
    ];
    for (const [cs, text] of cases) assert.equal(decodeEncodedWords(b(cs, text)), text, cs);
  });

  it('decodes ISO-2022-JP (RFC 1468)', () => {
    // テストメール: ESC $ B ... ESC ( B
    assert.equal(decodeEncodedWords('=?ISO-2022-JP?B?GyRCJUYlOSVIJWEhPCVrGyhC?='), 'テストメール');
    assert.equal(decodeCharset(Buffer.from('\x1b$B$3$s$K$A$O\x1b(B, ok', 'latin1'), 'iso-2022-jp'), 'こんにちは, ok');
  });

  it('accepts an RFC 2231 language tag and lowercase/odd labels', () => {
    assert.equal(decodeEncodedWords('=?utf-8*en?Q?With_language?='), 'With language');
    assert.equal(decodeEncodedWords('=?"UTF-8"?Q?x?='), 'x');
  });

  it('leaves malformed words alone and never throws', () => {
    assert.equal(decodeEncodedWords('=?utf-8?X?abc?='), '=?utf-8?X?abc?=');
    assert.equal(decodeEncodedWords('=?utf-8?Q?unclosed'), '=?utf-8?Q?unclosed');
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (s) => {
        decodeEncodedWords(s);
      }),
    );
  });
});

describe('charset fallbacks', () => {
  it('reads raw header bytes as UTF-8 when valid, else Latin-1', () => {
    assert.equal(rawHeaderText(Buffer.from('Žaba', 'utf8')), 'Žaba');
    assert.equal(rawHeaderText(Buffer.from([0x43, 0x61, 0x66, 0xe9])), 'Café');
    assert.equal(latin1ToText(Buffer.from('Žaba', 'utf8').toString('latin1')), 'Žaba');
  });

  it('decodes bodies with unknown or wrong labels without failing', () => {
    assert.equal(decodeCharset(Buffer.from('Žaba', 'utf8'), 'x-unknown-charset'), 'Žaba');
    assert.equal(decodeCharset(Buffer.from([0x93, 0x68, 0x69, 0x94]), 'us-ascii'), '“hi”');
    assert.equal(decodeCharset(Buffer.from('Žaba', 'utf8'), 'us-ascii'), 'Žaba');
    assert.equal(decodeCharset(Buffer.from([0xe9]), null), 'é');
    assert.equal(decodeCharset(Buffer.from('abc'), '"ISO-8859-2"'), 'abc');
  });
});
