import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ReplyParser,
  SmtpReplySyntaxError,
  deriveEnhancedCode,
  enhancedCodeOf,
  formatReply,
  oneLine,
  replyWireLines,
  type SmtpReply,
} from './smtp-reply.js';

function parse(chunks: Array<string | Buffer>, limits?: { maxLineLength: number; maxLines: number }): SmtpReply[] {
  const out: SmtpReply[] = [];
  const parser = new ReplyParser((r) => out.push(r), limits);
  for (const c of chunks) parser.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
  return out;
}

describe('ReplyParser', () => {
  it('reads single and multi-line replies (RFC 5321 §4.2)', () => {
    assert.deepEqual(parse(['220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n']), [
      { code: 220, lines: ['mx.example ESMTP'] },
      { code: 250, lines: ['mx.example', 'PIPELINING', 'SIZE 1000'] },
    ]);
  });

  it('takes a code without text, bare LF line ends, and UTF-8', () => {
    assert.deepEqual(parse(['250\r\n354 go\n550 5.1.1 uživatel neznámý\r\n']), [
      { code: 250, lines: [''] },
      { code: 354, lines: ['go'] },
      { code: 550, lines: ['5.1.1 uživatel neznámý'] },
    ]);
  });

  it('gives the same replies however the bytes are split', () => {
    const wire = Buffer.from('250-a\r\n250-bé\r\n250 c\r\n421 4.4.2 bye\r\n');
    const whole = parse([wire]);
    for (let i = 0; i < wire.length; i++) assert.deepEqual(parse([wire.subarray(0, i), wire.subarray(i)]), whole);
    assert.deepEqual(parse([...wire].map((b) => Buffer.from([b]))), whole);
  });

  it('keeps a partial reply until it ends', () => {
    const out: SmtpReply[] = [];
    const p = new ReplyParser((r) => out.push(r));
    p.push(Buffer.from('250-one\r\n250 tw'));
    assert.equal(out.length, 0);
    assert.equal(p.inReply, true);
    p.push(Buffer.from('o\r\n'));
    assert.equal(out.length, 1);
    assert.equal(p.inReply, false);
    p.push(Buffer.from('220 x'));
    p.reset();
    assert.equal(p.inReply, false);
  });

  it('refuses what is not a reply', () => {
    for (const bad of ['HELLO\r\n', '25\r\n', '650 x\r\n', '250x\r\n', '1xx\r\n', '\r\n', '250_x\r\n']) {
      assert.throws(() => parse([bad]), SmtpReplySyntaxError, JSON.stringify(bad));
    }
  });

  it('bounds line length and lines per reply', () => {
    const limits = { maxLineLength: 20, maxLines: 3 };
    assert.throws(() => parse(['250 ' + 'x'.repeat(30) + '\r\n'], limits), /too long/);
    // Without a line end, too: the buffer never grows past the limit.
    assert.throws(() => parse(['250 ' + 'x'.repeat(10), 'x'.repeat(10)], limits), /too long/);
    assert.throws(() => parse(['250-a\r\n250-b\r\n250-c\r\n250 d\r\n'], limits), /too many lines/);
    assert.deepEqual(parse(['250-a\r\n250-b\r\n250 c\r\n'], limits), [{ code: 250, lines: ['a', 'b', 'c'] }]);
  });

  it('never throws anything but its own error, on any input', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const out: SmtpReply[] = [];
        const p = new ReplyParser((r) => out.push(r), { maxLineLength: 40, maxLines: 4 });
        try {
          for (const c of chunks) p.push(Buffer.from(c));
        } catch (err) {
          if (!(err instanceof SmtpReplySyntaxError)) throw err;
        }
        for (const r of out) {
          assert.ok(r.code >= 200 && r.code <= 599);
          assert.ok(r.lines.length >= 1 && r.lines.length <= 4);
        }
      }),
    );
  });
});

describe('enhanced codes', () => {
  it('are read from the first line (RFC 2034)', () => {
    assert.equal(enhancedCodeOf({ code: 550, lines: ['5.1.1 <x@y>: no such user'] }), '5.1.1');
    assert.equal(enhancedCodeOf({ code: 250, lines: ['2.0.0'] }), '2.0.0');
    assert.equal(enhancedCodeOf({ code: 452, lines: ['4.5.3 Too many recipients'] }), '4.5.3');
  });

  it('take the class from the reply code when they disagree (RFC 3463 §2)', () => {
    assert.equal(enhancedCodeOf({ code: 450, lines: ['5.7.1 policy'] }), '4.7.1');
  });

  it('are derived when absent or malformed', () => {
    assert.equal(enhancedCodeOf({ code: 550, lines: ['no such user'] }), '5.0.0');
    assert.equal(enhancedCodeOf({ code: 451, lines: ['4.3.0x later'] }), '4.0.0');
    assert.equal(enhancedCodeOf({ code: 250, lines: [''] }), '2.0.0');
    assert.equal(deriveEnhancedCode(421), '4.3.2');
    assert.equal(deriveEnhancedCode(354), '4.5.0');
  });
});

describe('formatReply / oneLine', () => {
  it('joins lines and drops repeated enhanced codes', () => {
    const reply = { code: 550, lines: ['5.1.1 The email account that you tried to reach does not exist.', '5.1.1 Please try again.'] };
    assert.equal(formatReply(reply), '550 5.1.1 The email account that you tried to reach does not exist. Please try again.');
    assert.equal(formatReply({ code: 250, lines: [''] }), '250');
  });

  it('strips control characters and caps the length', () => {
    assert.equal(oneLine('a\tb\x00\x1b[31mc\x7f\x85d'), 'a b [31mc d');
    const long = formatReply({ code: 550, lines: Array.from({ length: 50 }, () => 'x'.repeat(100)) });
    assert.ok(long.length <= 512);
    assert.ok(long.endsWith('...'));
  });

  it('gives the wire form back for transcripts', () => {
    assert.deepEqual(replyWireLines({ code: 250, lines: ['a', 'b'] }), ['250-a', '250 b']);
    assert.deepEqual(replyWireLines({ code: 221, lines: [] }), ['221']);
  });
});
