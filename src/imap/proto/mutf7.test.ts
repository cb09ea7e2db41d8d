import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeMutf7, encodeMutf7, isValidMutf7 } from './mutf7.js';
import { ImapParseError } from './parse-error.js';

describe('modified UTF-7 (RFC 3501 §5.1.3)', () => {
  it('encodes and decodes the RFC examples', () => {
    assert.equal(encodeMutf7('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
    assert.equal(decodeMutf7('~peter/mail/&U,BTFw-/&ZeVnLIqe-'), '~peter/mail/台北/日本語');
    assert.equal(encodeMutf7('Entwürfe'), 'Entw&APw-rfe');
    assert.equal(encodeMutf7('A&B'), 'A&-B');
    assert.equal(decodeMutf7('A&-B'), 'A&B');
    assert.equal(encodeMutf7('INBOX'), 'INBOX');
    assert.equal(encodeMutf7(''), '');
    assert.equal(encodeMutf7('😀'), '&2D3eAA-');
    assert.equal(decodeMutf7('&2D3eAA-'), '😀');
    assert.equal(encodeMutf7('tab\there'), 'tab&AAk-here');
  });

  it('rejects malformed input', () => {
    for (const bad of [
      'Entwürfe', // 8-bit
      'a\tb', // control
      '&', // unterminated
      '&AGE', // unterminated
      '&AGE-&AGI-', // null shift between sections
      '&AEE-', // "A" encoded
      '&ZeVnLIqe', // unterminated
      '&Ze-', // leftover bits
      '&ZeV-', // leftover non-zero bits
      '&2D0-', // truncated
      '&2D3eAA', // unterminated
      '&2D0AQQ-', // unpaired high surrogate followed by "A"
      '&3gA-', // lone low surrogate
      '&U/BTFw-', // "/" is not modified BASE64
      '&U,BTFw=-',
    ]) {
      assert.throws(() => decodeMutf7(bad), ImapParseError, bad);
      assert.equal(isValidMutf7(bad), false);
    }
  });

  it('round-trips any well-formed string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (s) => {
        const encoded = encodeMutf7(s);
        assert.match(encoded, /^[\x20-\x7e]*$/);
        assert.equal(decodeMutf7(encoded), s);
        assert.equal(encodeMutf7(decodeMutf7(encoded)), encoded);
      }),
    );
  });

  it('never throws anything but ImapParseError on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'&-AZaz09+,/ \u00e9'.split('')), maxLength: 20 }), (s) => {
        try {
          const decoded = decodeMutf7(s);
          assert.equal(encodeMutf7(decoded), s); // the canonical encoding is the only valid one
        } catch (err) {
          assert.ok(err instanceof ImapParseError);
        }
      }),
    );
  });
});
