import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  binarySize,
  fetchBinary,
  fetchSection,
  findPart,
  parseSectionSpec,
  SectionSyntaxError,
  UnknownTransferEncodingError,
} from './sections.js';
import { analyzeMessage, partsFromStored } from './stored-form.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/mime');
const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'latin1');
const open = (message: Buffer) => ({ message, root: partsFromStored(analyzeMessage(message)) });
const load = (name: string) => open(fs.readFileSync(path.join(dir, name)));
const text = (m: { message: Buffer; root: ReturnType<typeof partsFromStored> }, spec: string) =>
  fetchSection(m.message, m.root, spec).toString('latin1');

describe('parseSectionSpec (RFC 9051 section-spec)', () => {
  it('parses part numbers and section texts', () => {
    assert.deepEqual(parseSectionSpec(''), { part: [], text: null });
    assert.deepEqual(parseSectionSpec('1.2.3'), { part: [1, 2, 3], text: null });
    assert.deepEqual(parseSectionSpec('header'), { part: [], text: 'HEADER' });
    assert.deepEqual(parseSectionSpec('2.TEXT'), { part: [2], text: 'TEXT' });
    assert.deepEqual(parseSectionSpec('1.MIME'), { part: [1], text: 'MIME' });
    assert.deepEqual(parseSectionSpec('HEADER.FIELDS (From "X-Odd Name" to)'), {
      part: [],
      text: 'HEADER.FIELDS',
      fields: ['From', 'X-Odd Name', 'to'],
    });
    assert.deepEqual(parseSectionSpec('4.2.HEADER.FIELDS.NOT (Subject)'), { part: [4, 2], text: 'HEADER.FIELDS.NOT', fields: ['Subject'] });
  });

  it('rejects what the grammar does not allow', () => {
    for (const bad of ['0', '1.', '1..2', 'MIME', 'HEADER.FIELDS', 'HEADER.FIELDS ()', 'HEADER.FIELDS (a', 'TEXT.1', 'BODY', '1.HEADER ']) {
      assert.throws(() => parseSectionSpec(bad), SectionSyntaxError, bad);
    }
  });
});

describe('fetchSection (RFC 9051 §6.4.5)', () => {
  const simple = open(crlf('From: a@b\nSubject: s\nX-Long: one\n two\nsubject: again\n\nbody\n'));

  it('returns the whole message, HEADER (with the empty line) and TEXT', () => {
    assert.equal(text(simple, ''), simple.message.toString('latin1'));
    assert.equal(text(simple, 'HEADER'), 'From: a@b\r\nSubject: s\r\nX-Long: one\r\n two\r\nsubject: again\r\n\r\n');
    assert.equal(text(simple, 'TEXT'), 'body\r\n');
  });

  it('HEADER.FIELDS keeps every matching field, folding and order, and the empty line', () => {
    assert.equal(text(simple, 'HEADER.FIELDS (SUBJECT x-long)'), 'Subject: s\r\nX-Long: one\r\n two\r\nsubject: again\r\n\r\n');
    assert.equal(text(simple, 'HEADER.FIELDS (X-None)'), '\r\n');
    assert.equal(text(simple, 'HEADER.FIELDS.NOT (Subject X-Long)'), 'From: a@b\r\n\r\n');
  });

  it('adds no empty line when the message has none (RFC 3501 §6.4.5)', () => {
    const headersOnly = open(crlf('From: a@b\nSubject: s\n'));
    assert.equal(text(headersOnly, 'HEADER.FIELDS (Subject)'), 'Subject: s\r\n');
    assert.equal(text(headersOnly, 'HEADER'), 'From: a@b\r\nSubject: s\r\n');
    assert.equal(text(headersOnly, 'TEXT'), '');
  });

  it('part 1 of a single-part message is its body; MIME is its header; others are empty', () => {
    assert.equal(text(simple, '1'), 'body\r\n');
    assert.equal(text(simple, '1.MIME'), text(simple, 'HEADER'));
    assert.equal(text(simple, '2'), '');
    assert.equal(text(simple, '1.1'), '');
    assert.equal(text(simple, '1.HEADER'), '');
    assert.equal(findPart(simple.root, [1]), simple.root);
    assert.equal(findPart(simple.root, [1, 1]), null);
  });

  it('walks multiparts and encapsulated messages (RFC 3501 §6.4.5 example numbering)', () => {
    const m = load('08-rfc822-two-levels.eml');
    assert.equal(text(m, '1'), 'Top text.');
    assert.ok(text(m, '2').startsWith('From: Middle <middle@example.com>'));
    assert.ok(text(m, '2.HEADER').endsWith('boundary="L1"\r\n\r\n'));
    assert.ok(text(m, '2.TEXT').startsWith('--L1\r\n'));
    assert.equal(text(m, '2.1'), 'Middle text.');
    assert.equal(text(m, '2.1.MIME'), 'Content-Type: text/plain\r\n\r\n');
    assert.equal(text(m, '2.2.HEADER.FIELDS (subject)'), 'Subject: Level two\r\n\r\n');
    assert.equal(text(m, '2.2.1'), 'Deepest plain text.');
    assert.equal(text(m, '2.2.2'), '<p>Deepest HTML.</p>');
    assert.equal(text(m, '2.2.2.MIME'), 'Content-Type: text/html; charset=us-ascii\r\n\r\n');
    assert.equal(text(m, '2.2.3'), '');
    assert.equal(text(m, '2.1.HEADER'), ''); // not a message/rfc822 part
  });

  it('continues into a single-part encapsulated message with part 1', () => {
    const m = load('07-message-rfc822.eml');
    assert.equal(text(m, '2.1'), 'Your invoice total is 42 EUR.\r\nThank you.\r\n');
    assert.equal(text(m, '2.1.MIME'), text(m, '2.HEADER'));
    assert.equal(text(m, '2.2'), '');
    const top = load('09-top-level-rfc822.eml');
    assert.ok(text(top, '1').startsWith('From: original@example.net'));
    assert.equal(text(top, '1.HEADER.FIELDS (Subject)'), 'Subject: The original\r\n\r\n');
    assert.equal(text(top, '1.1'), 'Original text.');
    assert.equal(text(top, '1.2'), 'AAECAwQFBgcICQ==');
  });

  it('accepts a parsed spec as well as a string', () => {
    assert.equal(fetchSection(simple.message, simple.root, { part: [], text: 'HEADER.FIELDS', fields: ['from'] }).toString(), 'From: a@b\r\n\r\n');
  });
});

describe('BINARY (RFC 3516)', () => {
  it('decodes base64 and quoted-printable parts', () => {
    const m = load('03-multipart-mixed.eml');
    const pdf = fetchBinary(m.message, m.root, [2]);
    assert.ok(pdf?.subarray(0, 8).equals(Buffer.from('%PDF-1.4')));
    assert.equal(binarySize(m.message, m.root, [2]), 83);
    const q = load('12-encoded-words-q.eml');
    assert.equal(fetchBinary(q.message, q.root, [1])?.toString('latin1'), 'Po\xb9ta je prispela. \xa9ifra: 1234.\r\n');
  });

  it('returns identity-encoded parts as stored, null for a nonexistent part', () => {
    const m = load('01-plain-ascii.eml');
    assert.deepEqual(fetchBinary(m.message, m.root, [1]), fetchSection(m.message, m.root, '1'));
    assert.deepEqual(fetchBinary(m.message, m.root, []), m.message);
    assert.equal(fetchBinary(m.message, m.root, [2]), null);
    assert.equal(binarySize(m.message, m.root, [3, 1]), null);
  });

  it('throws UnknownTransferEncodingError for an encoding it cannot decode ([UNKNOWN-CTE])', () => {
    const m = load('23-bad-base64.eml');
    assert.throws(() => fetchBinary(m.message, m.root, [2]), UnknownTransferEncodingError);
    assert.equal(fetchBinary(m.message, m.root, [1])?.toString('latin1').slice(0, 11), 'Hello world');
  });

  it('decodes a base64 message/rfc822 part to the message it carries', () => {
    const m = load('38-base64-message-rfc822.eml');
    assert.ok(fetchBinary(m.message, m.root, [1])?.toString().startsWith('From: inner@example.com\r\n'));
  });
});
