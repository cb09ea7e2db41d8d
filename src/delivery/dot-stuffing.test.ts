import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { dotStuff, dotStuffedPieces } from './dot-stuffing.js';

/** A receiver's view (RFC 5321 §4.5.2), written independently: line by line on CRLF. */
function receive(wire: Buffer): Buffer {
  const text = wire.toString('latin1');
  assert.ok(text.endsWith('\r\n.\r\n') || text === '.\r\n', 'ends with the end-of-data line');
  const lines = text.split('\r\n');
  const end = lines.indexOf('.');
  assert.equal(end, lines.length - 2, 'no end-of-data line before the end');
  const body = lines.slice(0, end).map((l) => (l.startsWith('.') ? l.slice(1) : l));
  return Buffer.from(body.length ? body.join('\r\n') + '\r\n' : '', 'latin1');
}

describe('dotStuff (RFC 5321 §4.5.2)', () => {
  it('adds a dot to lines that start with one, and the end-of-data line', () => {
    assert.equal(dotStuff(Buffer.from('a\r\n.b\r\n..c\r\n.\r\nd.\r\n')).toString(), 'a\r\n..b\r\n...c\r\n..\r\nd.\r\n.\r\n');
    assert.equal(dotStuff(Buffer.from('.first\r\n')).toString(), '..first\r\n.\r\n');
  });

  it('ends the body with CRLF when it lacks one', () => {
    assert.equal(dotStuff(Buffer.from('no end')).toString(), 'no end\r\n.\r\n');
    assert.equal(dotStuff(Buffer.from('x\r\n.')).toString(), 'x\r\n..\r\n.\r\n');
    assert.equal(dotStuff(Buffer.from('')).toString(), '.\r\n');
  });

  it('stuffs after a bare LF too, so no receiver sees an end of data there', () => {
    assert.equal(dotStuff(Buffer.from('a\n.\r\nb\r\n')).toString(), 'a\n..\r\nb\r\n.\r\n');
  });

  it('splits big slices into pieces and copies nothing', () => {
    const body = Buffer.alloc(300_000, 'x');
    const pieces = dotStuffedPieces(body, 64 * 1024);
    assert.ok(pieces.every((p) => p.length <= 64 * 1024));
    assert.equal(pieces[0].buffer, body.buffer);
    assert.ok(Buffer.concat(pieces).equals(Buffer.concat([body, Buffer.from('\r\n.\r\n')])));
  });

  it('round-trips any CRLF body through a receiver', () => {
    const line = fc.stringMatching(/^[.a\r ]{0,6}$/).filter((s) => !s.endsWith('\r'));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.integer({ min: 1, max: 8 }), (lines, maxPiece) => {
        const body = Buffer.from(lines.map((l) => l + '\r\n').join(''), 'latin1');
        const pieces = dotStuffedPieces(body, maxPiece);
        assert.ok(pieces.every((p) => p.length <= Math.max(maxPiece, 5)));
        assert.ok(receive(Buffer.concat(pieces)).equals(body));
      }),
    );
  });
});
