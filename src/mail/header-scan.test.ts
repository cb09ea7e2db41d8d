import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { scanHeaderNames } from './header-scan.js';

const scan = (s: string) => [...scanHeaderNames(Buffer.from(s, 'latin1'))].sort();

describe('scanHeaderNames', () => {
  it('finds the field names, lowercased', () => {
    assert.deepEqual(scan('From: a@b.com\r\nTo: c@d.com\r\nMessage-ID: <x@y>\r\nSubject: hi\r\n\r\nbody\r\n'), [
      'from',
      'message-id',
      'subject',
      'to',
    ]);
  });

  it('skips continuation lines', () => {
    assert.deepEqual(scan('Subject: a\r\n very\r\n\tDate: not a header\r\nX-A: 1\r\n\r\n'), ['subject', 'x-a']);
  });

  it('stops at the first empty line', () => {
    assert.deepEqual(scan('Subject: a\r\n\r\nDate: in the body\r\nMessage-Id: <x@y>\r\n'), ['subject']);
    assert.deepEqual(scan('\r\nDate: body'), []);
    assert.deepEqual(scan('Subject: a\n\nDate: in the body\n'), ['subject']);
  });

  it('handles bare LF, missing final newline, obsolete WSP before the colon', () => {
    assert.deepEqual(scan('Subject: a\nDate : Sun, 1 Jan 2026 00:00:00 +0000'), ['date', 'subject']);
  });

  it('ignores lines that are not fields', () => {
    assert.deepEqual(scan('From sender@x Sun Nov 29 07:14:22 2026\r\nno colon here\r\n: empty name\r\nA B: c\r\nOK: 1\r\n\r\n'), ['ok']);
  });

  it('never throws and only returns valid lowercase names', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const name of scanHeaderNames(Buffer.from(bytes))) {
          assert.match(name, /^[!-9;-~]+$/);
          assert.equal(name, name.toLowerCase());
        }
      }),
    );
  });
});
