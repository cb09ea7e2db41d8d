import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { writeImapSexp } from './imap-text.test-helper.js';
import { parseMimeStructure, type MimeNode } from './parse-structure.js';
import { baseSubject, headerFields, searchText } from './search-text.js';
import { fetchBinary, fetchSection, UnknownTransferEncodingError } from './sections.js';
import { analyzeMessage, partsFromStored } from './stored-form.js';

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'latin1');
const bs = (msg: Buffer) => writeImapSexp(analyzeMessage(msg).bodystructure);
const slice = (msg: Buffer, a: number, b: number) => msg.toString('latin1', a, b);

function nodes(n: MimeNode, out: MimeNode[] = []): MimeNode[] {
  out.push(n);
  for (const c of n.children) nodes(c, out);
  return out;
}

describe('parseMimeStructure', () => {
  it('applies RFC 2045 defaults to a message without MIME headers', () => {
    const msg = crlf('Subject: x\n\nhello\nworld\n');
    const { root } = parseMimeStructure(msg);
    assert.equal(root.type, 'text');
    assert.equal(root.subtype, 'plain');
    assert.deepEqual(root.params, { charset: 'us-ascii' });
    assert.equal(root.encoding, '7bit');
    assert.equal(root.lines, 2);
    assert.equal(slice(msg, root.headerStart, root.headerEnd), 'Subject: x\r\n\r\n');
    assert.equal(bs(msg), '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 2 NIL NIL NIL NIL)');
  });

  it('ignores Content-* fields of a message with neither MIME-Version nor Content-Type (RFC 2045 §4)', () => {
    const msg = crlf('Content-Transfer-Encoding: base64\nContent-Disposition: inline\n\naGk=\n');
    assert.equal(bs(msg), '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL)');
    const mime = crlf('MIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\naGk=\n');
    assert.equal(parseMimeStructure(mime).root.encoding, 'base64');
  });

  it('gives the line break before a boundary to the boundary (RFC 2046 §5.1.1)', () => {
    const msg = crlf('Content-Type: multipart/mixed; boundary=b\n\npreamble\n--b\n\none\ntwo\n--b--\nepilogue\n');
    const { root } = parseMimeStructure(msg);
    const [one] = root.children;
    assert.equal(slice(msg, one.bodyStart, one.bodyEnd), 'one\r\ntwo');
    assert.equal(one.lines, 1);
    assert.equal(slice(msg, one.headerStart, one.headerEnd), '\r\n');
    assert.equal(root.bodyEnd, msg.length);
  });

  it('matches boundaries by prefix, longest first, innermost among equals', () => {
    // the inner multipart reuses the outer boundary: its own delimiters are the inner ones
    const msg = crlf(
      'Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\ninner\n--b--\n--b\n\nouter\n--b--\n',
    );
    const { root } = parseMimeStructure(msg);
    // "--b" lines belong to the inner multipart until its "--b--"; then to the outer one
    assert.equal(root.children.length, 2);
    assert.equal(root.children[0].children.length, 1);
    assert.equal(slice(msg, root.children[1].bodyStart, root.children[1].bodyEnd), 'outer');
    const prefix = crlf(
      'Content-Type: multipart/mixed; boundary=ab\n\n--ab\nContent-Type: multipart/mixed; boundary=abc\n\n--abc\n\nx\n--abc--\n--ab\n\ny\n--ab--\n',
    );
    const p = parseMimeStructure(prefix).root;
    assert.equal(p.children.length, 2);
    assert.equal(p.children[0].children.length, 1);
    assert.equal(slice(prefix, p.children[1].bodyStart, p.children[1].bodyEnd), 'y');
  });

  it('ends inner parts at an enclosing boundary when their own close delimiter is missing', () => {
    const msg = crlf(
      'Content-Type: multipart/mixed; boundary=out\n\n--out\nContent-Type: multipart/alternative; boundary=in\n\n--in\n\nA\n--out\n\nB\n--out--\n',
    );
    const { root } = parseMimeStructure(msg);
    assert.equal(root.children.length, 2);
    assert.equal(root.children[0].children.length, 1);
    assert.equal(slice(msg, root.children[0].children[0].bodyStart, root.children[0].children[0].bodyEnd), 'A');
    assert.equal(slice(msg, root.children[1].bodyStart, root.children[1].bodyEnd), 'B');
  });

  it('treats a multipart without a usable body part as text/plain', () => {
    for (const ct of ['multipart/mixed', 'multipart/mixed; boundary=""', 'multipart/mixed; boundary=never']) {
      const msg = crlf(`Content-Type: ${ct}\n\n--x\n\nbody\n`);
      const { root } = parseMimeStructure(msg);
      assert.equal(root.type, 'text', ct);
      assert.equal(root.children.length, 0);
      assert.equal(fetchSection(msg, partsFromStored(analyzeMessage(msg)), '1').toString(), '--x\r\n\r\nbody\r\n');
    }
  });

  it('makes a digest part without Content-Type message/rfc822 (RFC 2046 §5.1.5)', () => {
    const msg = crlf('Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner\n\nhi\n--d--\n');
    const { root } = parseMimeStructure(msg);
    const [m] = root.children;
    assert.equal(m.type, 'message');
    assert.equal(m.children[0].envelope?.subject, 'inner');
    assert.equal(m.children[0].part, '1');
  });

  it('numbers encapsulated messages like their part', () => {
    const msg = crlf(
      'Content-Type: multipart/mixed; boundary=o\n\n--o\n\ntext\n--o\nContent-Type: message/rfc822\n\nSubject: in\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\na\n--i\n\nb\n--i--\n--o--\n',
    );
    const parts = nodes(parseMimeStructure(msg).root).map((n) => n.part);
    assert.deepEqual(parts, ['', '1', '2', '2', '2.1', '2.2']);
    const top = crlf('Content-Type: message/rfc822\n\nSubject: in\n\nbody\n');
    assert.deepEqual(
      nodes(parseMimeStructure(top).root).map((n) => n.part),
      ['', '1'],
    );
  });

  it('ends a part header at a boundary line and keeps its bytes', () => {
    const msg = crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n--b\nX: y\n\nz\n--b--\n');
    const { root } = parseMimeStructure(msg);
    const [a, b] = root.children;
    assert.equal(slice(msg, a.headerStart, a.headerEnd), 'Content-Type: text/plain');
    assert.equal(a.bodyStart, a.bodyEnd);
    assert.equal(slice(msg, b.bodyStart, b.bodyEnd), 'z');
  });

  it('gives an empty line followed directly by a boundary to the boundary', () => {
    const msg = crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n--b--\n');
    const [a] = parseMimeStructure(msg).root.children;
    assert.equal(slice(msg, a.headerStart, a.headerEnd), 'Content-Type: text/plain\r\n');
    assert.equal(a.bodyEnd - a.bodyStart, 0);
  });

  it('handles a boundary as the very last bytes', () => {
    const msg = Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b');
    const { root } = parseMimeStructure(msg);
    assert.equal(root.children.length, 1);
    assert.equal(slice(msg, root.children[0].bodyStart, root.children[0].bodyEnd), 'x');
  });

  it('accepts bare LF line ends', () => {
    const msg = Buffer.from('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n');
    const [a] = parseMimeStructure(msg).root.children;
    assert.equal(a.subtype, 'html');
    assert.equal(slice(msg, a.bodyStart, a.bodyEnd), '<p>x</p>');
  });

  it('counts lines of message/rfc822 parts across their nested parts once', () => {
    const inner = 'Subject: in\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\na\nb\n--i\n\nc\n--i--\n';
    const msg = crlf(`Content-Type: message/rfc822\n\n${inner}`);
    const { root } = parseMimeStructure(msg);
    const body = msg.subarray(root.bodyStart, root.bodyEnd);
    assert.equal(root.lines, body.toString('latin1').split('\n').length - 1);
  });

  it('stops at maxDepth and maxParts, marking limitsHit', () => {
    let deep = '';
    for (let i = 0; i < 10; i++) deep += `Content-Type: multipart/mixed; boundary=b${i}\n\n--b${i}\n`;
    const msg = crlf(`${deep}\nleaf\n`);
    const limited = parseMimeStructure(msg, { maxDepth: 3 });
    assert.equal(limited.limitsHit, true);
    const depthOf = (n: MimeNode): number => 1 + Math.max(0, ...n.children.map(depthOf));
    assert.ok(depthOf(limited.root) <= 4);
    assert.equal(parseMimeStructure(msg).limitsHit, false);

    const many = crlf(`Content-Type: multipart/mixed; boundary=b\n\n${'--b\n\nx\n'.repeat(50)}--b--\n`);
    const few = parseMimeStructure(many, { maxParts: 10 });
    assert.equal(few.limitsHit, true);
    assert.ok(few.partCount <= 10);
    assert.equal(few.root.bodyEnd, many.length);
    assert.equal(parseMimeStructure(many).root.children.length, 50);
  });

  it('decodes RFC 2231 parameters into MimePart.params', () => {
    const msg = crlf(
      "Content-Type: application/octet-stream;\n name*0*=utf-8''%C5%BE; name*1=\".txt\"; charset=\"x\"\n\nbody\n",
    );
    const { root } = parseMimeStructure(msg);
    assert.equal(root.params.name, 'ž.txt');
    assert.deepEqual(root.content.params, [
      ['charset', 'x'],
      ['name*', "utf-8''%C5%BE.txt"],
    ]);
  });

  it('keeps the case of types and parameter names for BODYSTRUCTURE but lowercases MimePart', () => {
    const msg = crlf('Content-Type: TEXT/Plain; CharSet=UTF-8\nContent-Transfer-Encoding: Base64\n\naGk=\n');
    const { root } = parseMimeStructure(msg);
    assert.equal(root.type, 'text');
    assert.equal(root.subtype, 'plain');
    assert.equal(root.encoding, 'base64');
    assert.equal(root.params.charset, 'UTF-8');
    assert.equal(bs(msg), '("TEXT" "Plain" ("CharSet" "UTF-8") NIL NIL "Base64" 6 1 NIL NIL NIL NIL)');
  });
});

// --- properties

const corpusDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/mime');
const corpus = fs
  .readdirSync(corpusDir)
  .filter((f) => f.endsWith('.eml'))
  .map((f) => fs.readFileSync(path.join(corpusDir, f)));

function checkTree(msg: Buffer): void {
  const started = performance.now();
  const s = parseMimeStructure(msg, { maxDepth: 20, maxParts: 200 });
  const stored = analyzeMessage(msg, { maxDepth: 20, maxParts: 200 });
  JSON.stringify(stored);
  for (const n of nodes(s.root)) {
    assert.ok(n.headerStart >= 0 && n.headerStart <= n.headerEnd && n.headerEnd <= n.bodyStart);
    assert.ok(n.bodyStart <= n.bodyEnd && n.bodyEnd <= msg.length);
    assert.ok(n.lines >= 0);
  }
  assert.equal(s.root.bodyEnd, msg.length);
  // the consumers of the tree must not throw either
  const root = partsFromStored(stored);
  for (const n of nodes(s.root)) {
    if (n.part === '') continue;
    fetchSection(msg, root, n.part);
    fetchSection(msg, root, `${n.part}.MIME`);
    fetchSection(msg, root, `${n.part}.HEADER.FIELDS (From Subject)`);
    try {
      fetchBinary(msg, root, n.part.split('.').map(Number));
    } catch (e) {
      assert.ok(e instanceof UnknownTransferEncodingError);
    }
  }
  fetchSection(msg, root, 'HEADER.FIELDS.NOT (Subject)');
  searchText(msg, root, { maxChars: 10_000 });
  baseSubject(headerFields(msg).find((f) => f.lname === 'subject')?.value ?? '');
  assert.ok(performance.now() - started < 2000, 'parse took too long');
}

// MIME-looking fragments, so random messages reach the interesting paths
const piece = fc.constantFrom(
  '\r\n',
  '\n',
  '\r',
  '--',
  '--b',
  '--b--',
  '--bb',
  '--c',
  'Content-Type: multipart/mixed; boundary=b\r\n',
  'Content-Type: multipart/digest; boundary="c"\r\n',
  'Content-Type: message/rfc822\r\n',
  'Content-Type: message/global\r\n',
  'Content-Type: text/plain; charset*0*=utf-8\'\'%C5; charset*1=x\r\n',
  'Content-Transfer-Encoding: base64\r\n',
  'MIME-Version: 1.0\r\n',
  'Subject: =?utf-8?B?w6k=?= x\r\n',
  'From: a <b@c>, (x) "q" <@r:s@t>, g: h@i;\r\n',
  ' folded\r\n',
  'x: y\r\n',
  'body text',
  '\u00e9\u00ff',
  '=?',
  '(',
  '"',
);
const mimeish = fc.array(piece, { maxLength: 60 }).map((a) => Buffer.from(a.join(''), 'latin1'));

describe('parseMimeStructure on hostile input stays linear', () => {
  const MB = 2_000_000;
  let deep = 'Content-Type: multipart/mixed; boundary=aaaaaaaaaa0\r\n\r\n';
  for (let i = 1; i < 100; i++) deep += `--aaaaaaaaaa${i - 1}\r\nContent-Type: multipart/mixed; boundary=aaaaaaaaaa${i}\r\n\r\n`;
  const cases: Array<[string, string]> = [
    ['100 open multiparts with shared prefixes, then lines that almost match', `${deep}--aaaaaaaaaa99\r\n\r\n${'--aaaaaaaaaaX\r\n'.repeat(MB / 15)}`],
    ['many header lines', `${'X-A: b\r\n'.repeat(MB / 8)}\r\nbody`],
    ['a huge address list', `To: ${'a@b, '.repeat(MB / 6)}\r\n\r\nbody`],
    ['a huge folded subject', `Subject: ${'word\r\n '.repeat(MB / 8)}\r\n\r\nbody`],
    ['many parts', `Content-Type: multipart/mixed; boundary=b\r\n\r\n${'--b\r\n\r\nx\r\n'.repeat(MB / 11)}`],
    ['nested message/rfc822', `${'Content-Type: message/rfc822\r\n\r\n'.repeat(150)}${'x\r\n'.repeat(MB / 3)}`],
    ['many RFC 2231 sections', `Content-Type: text/plain${'; a*1*=b'.repeat(MB / 8)}\r\n\r\nx`],
  ];
  for (const [name, text] of cases) {
    it(name, () => {
      const msg = Buffer.from(text, 'latin1');
      const t0 = performance.now();
      const stored = analyzeMessage(msg);
      assert.equal(partsFromStored(stored).bodyEnd, msg.length);
      // ~2 MB: tens of milliseconds normally; seconds would mean quadratic work
      assert.ok(performance.now() - t0 < 3000, `${name}: ${(performance.now() - t0).toFixed(0)} ms`);
    });
  }
});

describe('parseMimeStructure properties', () => {
  it('never throws and keeps offsets inside the buffer on arbitrary bytes (nor do sections and search)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => checkTree(Buffer.from(bytes))),
      { numRuns: 300 },
    );
  });

  it('never throws on MIME-looking input', () => {
    fc.assert(
      fc.property(mimeish, (msg) => checkTree(msg)),
      { numRuns: 1000 },
    );
  });

  it('never throws on mutated corpus messages', () => {
    const mutation = fc.record({
      index: fc.nat({ max: corpus.length - 1 }),
      edits: fc.array(
        fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), del: fc.nat({ max: 20 }), ins: fc.oneof(piece, fc.string({ maxLength: 5 })) }),
        { minLength: 1, maxLength: 8 },
      ),
    });
    fc.assert(
      fc.property(mutation, ({ index, edits }) => {
        let s = corpus[index].toString('latin1');
        for (const e of edits) {
          const at = Math.floor(e.at * s.length);
          s = s.slice(0, at) + e.ins + s.slice(at + e.del);
        }
        checkTree(Buffer.from(s, 'latin1'));
      }),
      { numRuns: 500 },
    );
  });
});
