import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  baseSubject,
  bodyText,
  decodeHeaderValue,
  headerFields,
  htmlToText,
  parseDateHeader,
  parseMessageIds,
  searchText,
} from './search-text.js';
import { analyzeMessage, partsFromStored } from './stored-form.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/mime');
const load = (name: string) => {
  const message = fs.readFileSync(path.join(dir, name));
  const stored = analyzeMessage(message);
  return { message, stored, root: partsFromStored(stored) };
};

describe('baseSubject (RFC 5256 §2.1)', () => {
  const cases: Array<[string, string]> = [
    ['Re: hello', 'hello'],
    ['RE: Re: re:hello', 'hello'],
    ['Fwd: hello', 'hello'],
    ['Fw: hello (fwd)', 'hello'],
    ['hello (fwd) (FWD)  ', 'hello'],
    ['[list] Re: hello', 'hello'],
    ['Re [list]: hello', 'hello'],
    ['Re: [list] Re: Fwd: thread test (fwd)', 'thread test'],
    ['[fwd: Re: hello]', 'hello'],
    ['[Fwd: [fwd: hello (fwd)]]', 'hello'],
    ['[list]', '[list]'], // removing the blob would leave nothing (step 4)
    ['[a][b] hello', 'hello'],
    ['Re:', ''],
    ['hello\r\n\tworld', 'hello world'],
    ['  spaced \t  out  ', 'spaced out'],
    ['=?utf-8?q?Re=3A_Caf=C3=A9?=', 'Café'],
    ['Réponse: x', 'Réponse: x'], // only "re", "fw", "fwd" are leaders
    ['Sv: hej', 'Sv: hej'],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => assert.equal(baseSubject(input), expected));
  }

  it('terminates quickly on hostile input', () => {
    const t0 = performance.now();
    baseSubject('[x]'.repeat(100_000) + ' y');
    baseSubject('Re: '.repeat(100_000));
    assert.ok(performance.now() - t0 < 2000);
    fc.assert(fc.property(fc.string({ maxLength: 100 }), (s) => typeof baseSubject(s) === 'string'));
  });
});

describe('parseDateHeader', () => {
  const utc = (s: string) => Date.parse(s);
  it('reads RFC 5322 dates', () => {
    assert.equal(parseDateHeader('Mon, 2 Nov 2026 09:59:58 +0100'), utc('2026-11-02T08:59:58Z'));
    assert.equal(parseDateHeader('2 Nov 2026 09:59:58 -0530'), utc('2026-11-02T15:29:58Z'));
    assert.equal(parseDateHeader(' Fri, 13 Nov 2026\r\n 13:14:15 +0000 (UTC)'), utc('2026-11-13T13:14:15Z'));
  });
  it('reads obsolete forms (RFC 5322 §4.3)', () => {
    assert.equal(parseDateHeader('1 Jan 2000 00:00:00 GMT'), utc('2000-01-01T00:00:00Z'));
    assert.equal(parseDateHeader('Thu, 1 Jan 98 12:00 EST'), utc('1998-01-01T17:00:00Z'));
    assert.equal(parseDateHeader('1 Jan 49 00:00:00 +0000'), utc('2049-01-01T00:00:00Z'));
    assert.equal(parseDateHeader('1 Jan 101 00:00:00 +0000'), utc('2001-01-01T00:00:00Z'));
    assert.equal(parseDateHeader('Tue, 1 Dec 2026 07:08:09 Z'), utc('2026-12-01T07:08:09Z'));
    assert.equal(parseDateHeader('Tue, 1 Dec 2026 07:08:09 X'), utc('2026-12-01T07:08:09Z'));
    assert.equal(parseDateHeader('Tue, 1 Dec 2026 07:08:09'), utc('2026-12-01T07:08:09Z'));
  });
  it('rejects what is not a date', () => {
    for (const v of [null, '', 'yesterday', '31 Feb 2026 00:00:00 +0000', '1 Foo 2026 00:00 +0000', '1 Jan 2026 25:00 +0000']) {
      assert.equal(parseDateHeader(v), null, String(v));
    }
  });
});

describe('parseMessageIds', () => {
  it('extracts msg-ids, skipping comments, phrases and junk', () => {
    assert.deepEqual(parseMessageIds('<a@x> (Parent\'s <c@x>) <b@x>'), ['<a@x>', '<b@x>']);
    assert.deepEqual(parseMessageIds('<root@x>\r\n\t<mid@x> junk <par@x>'), ['<root@x>', '<mid@x>', '<par@x>']);
    assert.deepEqual(parseMessageIds('"John <j@x>" <id@x>'), ['<id@x>']);
    assert.deepEqual(parseMessageIds('<broken <ok@x>'), ['<ok@x>']);
    assert.deepEqual(parseMessageIds('<folded\r\n @x>'), ['<folded@x>']);
    assert.deepEqual(parseMessageIds(null), []);
  });

  it('is stored for THREAD', () => {
    const { stored } = load('41-threading-headers.eml');
    assert.equal(stored.messageId, '<child@example.com>');
    assert.deepEqual(stored.inReplyTo, ['<parent@example.com>', '<other@example.com>']);
    assert.deepEqual(stored.references, ['<root@example.com>', '<middle@example.com>', '<parent@example.com>']);
    assert.equal(stored.sentDate, Date.parse('2026-12-06T12:13:14Z'));
  });
});

describe('decoded header text', () => {
  it('decodes encoded words and raw 8-bit bytes', () => {
    assert.equal(decodeHeaderValue(' =?iso-8859-2?Q?Po=B9ta?=\r\n je tu '), 'Pošta je tu');
    assert.equal(decodeHeaderValue(Buffer.from('Žaba', 'utf8').toString('latin1')), 'Žaba');
    assert.equal(decodeHeaderValue('Caf\xe9'), 'Café');
  });

  it('lists the fields of a message for SEARCH HEADER', () => {
    const { message, root } = load('14-encoded-words-cjk.eml');
    const byName = new Map(headerFields(message, root).map((f) => [f.lname, f.value]));
    assert.equal(byName.get('subject'), 'テストメール');
    assert.equal(byName.get('from'), '张伟 <zhang@example.cn>');
    assert.equal(byName.get('to'), '山田太郎 <yamada@example.jp>');
    assert.equal(byName.get('cc'), '陳大文 <chan@example.tw>, 김철수 <kim@example.kr>');
  });

  it('handles adjacent words split inside a character, and koi8-r / windows-1251', () => {
    const { message, root } = load('13-encoded-words-b-adjacent.eml');
    const byName = new Map(headerFields(message, root).map((f) => [f.lname, f.value]));
    assert.equal(byName.get('subject'), 'Привет, мир: многобайтовый тест');
    assert.equal(byName.get('from'), 'Иван Петров <ivan@example.ru>');
    assert.equal(byName.get('to'), 'МарияИванова <maria@example.ru>');
  });

  it('reads raw Latin-1 and UTF-8 headers', () => {
    const l = load('16-latin1-8bit.eml');
    assert.equal(headerFields(l.message).find((f) => f.lname === 'subject')?.value, 'Café crème brûlée');
    const u = load('15-8bit-utf8-headers.eml');
    assert.equal(headerFields(u.message).find((f) => f.lname === 'subject')?.value, 'Žabe in čebele — poletje');
  });
});

describe('bodyText', () => {
  const text = (name: string) => {
    const { message, root } = load(name);
    return bodyText(message, root);
  };

  it('decodes quoted-printable in the part charset', () => {
    assert.equal(text('12-encoded-words-q.eml'), 'Pošta je prispela. Šifra: 1234.\r\n');
    const w = text('36-qp-windows-1252.eml');
    assert.ok(w.startsWith('Price: 100 € – “special” offer.'), w);
    assert.ok(w.includes('because it exceeded seventy-six characters.'));
  });

  it('decodes base64 in koi8-r, utf-8 and ISO-2022-JP bodies', () => {
    assert.equal(text('13-encoded-words-b-adjacent.eml'), 'Текст письма в KOI8-R.\r\n');
    assert.equal(text('42-top-level-base64-text.eml'), 'Dobro jutro! Čaj ali kava?\r\nDruga vrstica.\r\n');
    assert.equal(text('14-encoded-words-cjk.eml'), 'こんにちは、世界。\r\n');
    assert.equal(text('16-latin1-8bit.eml'), 'Voilà la crème brûlée, à bientôt.\r\n');
  });

  it('strips HTML and searches every text part', () => {
    const t = text('04-multipart-alternative.eml');
    assert.ok(t.includes('Café news: the espresso machine is back. This line is long enough that it needs'));
    assert.ok(t.includes('Café news: the espresso machine is back.\nTom & Jerry'), t);
    assert.ok(!t.includes('<p>'));
  });

  it('includes the header and text of encapsulated messages, skips binary parts', () => {
    const t = text('07-message-rfc822.eml');
    assert.ok(t.includes('See the forwarded message.'));
    assert.ok(t.includes('Subject: Invoice 2026-11'));
    assert.ok(t.includes('Your invoice total is 42 EUR.'));
    assert.ok(!text('03-multipart-mixed.eml').includes('PDF'));
  });

  it('searches damaged encodings as far as they decode', () => {
    const t = text('23-bad-base64.eml');
    assert.ok(t.startsWith('Hello world'), t);
    assert.ok(t.includes('begin 644 hello.txt') === false); // application/octet-stream is skipped
    // "=" + whitespace + line break is a soft break; "=20" survives the trailing-space rule
    assert.ok(t.endsWith('Bad escapes: =ZZ =4 trailing spaces removed    \r\nsoftbreak'), JSON.stringify(t));
  });

  it('caps the text it produces', () => {
    const big = Buffer.from(`Content-Type: text/plain\r\n\r\n${'abcdefghij'.repeat(100_000)}`);
    const root = partsFromStored(analyzeMessage(big));
    assert.equal(bodyText(big, root, { maxChars: 1000 }).length, 1000);
    const both = searchText(big, root, { maxChars: 50 });
    assert.equal(both.header, 'Content-Type: text/plain');
    assert.equal(both.header.length + both.body.length + 0, 50);
  });

  it('htmlToText', () => {
    assert.equal(
      htmlToText('<html><head><title>t</title><style>p{}</style></head><body><!-- c --><p>a&amp;b&nbsp;&#233;&#x20AC;</p><script>x()</script><b>es</b>presso<br>next</body></html>'),
      'a&b é€\nespresso\nnext',
    );
  });
});
