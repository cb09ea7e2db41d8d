import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CommandReader, findLiteralMarker, previewCommand, type CommandReaderLimits, type ReaderEvent } from './command-reader.js';

/** Feeds `input` (in the given chunks) and collects every event. */
function events(chunks: Array<string | Buffer>, limits: Partial<CommandReaderLimits> = {}): ReaderEvent[] {
  const reader = new CommandReader(limits);
  const out: ReaderEvent[] = [];
  for (const chunk of chunks) {
    reader.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    for (let ev = reader.read(); ev; ev = reader.read()) out.push(ev);
  }
  return out;
}

function commands(evs: ReaderEvent[]): string[] {
  return evs.flatMap((e) => (e.type === 'command' ? [e.bytes.toString('latin1')] : []));
}

function only<T extends ReaderEvent['type']>(evs: ReaderEvent[], type: T): Array<Extract<ReaderEvent, { type: T }>> {
  return evs.filter((e): e is Extract<ReaderEvent, { type: T }> => e.type === type);
}

describe('CommandReader: lines', () => {
  it('splits pipelined commands, accepts bare LF, skips empty lines', () => {
    const evs = events(['a1 NOOP\r\na2 CAPA', 'BILITY\r\n\r\na3 LOGOUT\n']);
    assert.deepEqual(commands(evs), ['a1 NOOP', 'a2 CAPABILITY', 'a3 LOGOUT']);
    assert.deepEqual(
      evs.map((e) => (e.type === 'command' ? [e.tag, e.name] : null)),
      [
        ['a1', 'NOOP'],
        ['a2', 'CAPABILITY'],
        ['a3', 'LOGOUT'],
      ],
    );
  });

  it('returns null until a line is complete, one command per read()', () => {
    const reader = new CommandReader();
    reader.push(Buffer.from('a1 NOOP'));
    assert.equal(reader.read(), null);
    assert.ok(reader.inCommand);
    reader.push(Buffer.from('\r\na2 NOOP\r\n'));
    assert.equal(reader.read()?.type, 'command');
    assert.equal(reader.bufferedBytes, 9); // a2 still waits
    assert.equal(reader.read()?.type, 'command');
    assert.equal(reader.read(), null);
    assert.ok(!reader.inCommand);
  });

  it('previews the tag and the command name', () => {
    assert.deepEqual(previewCommand(Buffer.from('A7 uid fetch 1 FLAGS')), { tag: 'A7', name: 'UID FETCH' });
    assert.deepEqual(previewCommand(Buffer.from('x]} append INBOX')), { tag: 'x]}', name: 'APPEND' });
    assert.deepEqual(previewCommand(Buffer.from('a+b NOOP')), { tag: null, name: null });
    assert.deepEqual(previewCommand(Buffer.from('* NOOP')), { tag: null, name: null });
  });

  it('finds literal markers at the end of a line only', () => {
    assert.deepEqual(findLiteralMarker(Buffer.from('a LOGIN {5}')), { size: 5, nonSync: false, binary: false });
    assert.deepEqual(findLiteralMarker(Buffer.from('a APPEND x ~{12+}')), { size: 12, nonSync: true, binary: true });
    assert.deepEqual(findLiteralMarker(Buffer.from('{007}')), { size: 7, nonSync: false, binary: false });
    assert.equal(findLiteralMarker(Buffer.from('a LOGIN {5} x')), null);
    assert.equal(findLiteralMarker(Buffer.from('a LOGIN {}')), null);
    assert.equal(findLiteralMarker(Buffer.from('a LOGIN {+}')), null);
    assert.equal(findLiteralMarker(Buffer.from('a LOGIN 5}')), null);
    assert.equal(findLiteralMarker(Buffer.from(`{${'9'.repeat(30)}}`))?.size, Infinity);
  });
});

describe('CommandReader: literals', () => {
  it('asks for a synchronizing literal and assembles the command', () => {
    const evs = events(['a1 LOGIN {3}\r\n', 'bob {4}\r\n', 'pass\r\n']);
    assert.deepEqual(
      evs.map((e) => e.type),
      ['continue', 'continue', 'command'],
    );
    assert.deepEqual(only(evs, 'continue')[0], { type: 'continue', tag: 'a1', name: 'LOGIN', size: 3, binary: false });
    assert.deepEqual(commands(evs), ['a1 LOGIN {3}\r\nbob {4}\r\npass']);
  });

  it('handles a zero-length literal and a literal at the end of the command', () => {
    assert.deepEqual(commands(events(['a1 LOGIN {0}\r\n {0}\r\n\r\n'])), ['a1 LOGIN {0}\r\n {0}\r\n']);
    // The literal ends the command: the next line is empty.
    assert.deepEqual(commands(events(['a1 SELECT {5+}\r\nINBOX\r\na2 NOOP\r\n'])), ['a1 SELECT {5+}\r\nINBOX', 'a2 NOOP']);
  });

  it('keeps literal octets verbatim, CRLF and braces included', () => {
    const evs = events(['a1 SEARCH TEXT {7+}\r\n{3}\r\nab SEEN\r\n']);
    assert.deepEqual(commands(evs), ['a1 SEARCH TEXT {7+}\r\n{3}\r\nab SEEN']);
  });

  it('takes LITERAL+ in MULTIAPPEND without continuations', () => {
    const evs = events(['a1 APPEND INBOX (\\Seen) {5+}\r\nhello {5+}\r\nworld\r\n']);
    assert.deepEqual(
      evs.map((e) => e.type),
      ['command'],
    );
    assert.deepEqual(commands(evs), ['a1 APPEND INBOX (\\Seen) {5+}\r\nhello {5+}\r\nworld']);
  });

  it('takes literal8 with NUL octets', () => {
    const data = Buffer.from([0, 1, 0x0d, 0x0a, 0xff, 0]);
    const evs = events([Buffer.from('a1 APPEND INBOX ~{6}\r\n'), data, Buffer.from('\r\n')]);
    assert.deepEqual(only(evs, 'continue')[0], { type: 'continue', tag: 'a1', name: 'APPEND', size: 6, binary: true });
    assert.deepEqual(only(evs, 'command')[0].bytes, Buffer.concat([Buffer.from('a1 APPEND INBOX ~{6}\r\n'), data]));
  });

  it('refuses a literal the server does not want (refuseLiteral)', () => {
    const reader = new CommandReader();
    reader.push(Buffer.from('a1 APPEND nosuch {10}\r\n'));
    assert.equal(reader.read()?.type, 'continue');
    reader.refuseLiteral();
    reader.push(Buffer.from('a2 NOOP\r\n'));
    assert.deepEqual(reader.read(), { type: 'command', tag: 'a2', name: 'NOOP', bytes: Buffer.from('a2 NOOP') });
    assert.throws(() => reader.refuseLiteral(), /without a pending literal/);
  });
});

describe('CommandReader: limits', () => {
  it('refuses a synchronizing literal over the limit without reading it', () => {
    const limits = { maxLiteralSize: 10, appendLimit: 100 };
    const evs = events(['a1 LOGIN {11}\r\na2 APPEND INBOX {101}\r\na3 APPEND INBOX {100}\r\n'], limits);
    assert.deepEqual(evs.slice(0, 2), [
      { type: 'reject', tag: 'a1', name: 'LOGIN', status: 'BAD', code: 'TOOBIG', text: 'Literal too big', close: false },
      { type: 'reject', tag: 'a2', name: 'APPEND', status: 'NO', code: 'TOOBIG', text: 'Message too big', close: false },
    ]);
    assert.equal(evs[2].type, 'continue');
  });

  it('discards a refused non-synchronizing literal and the rest of its command (RFC 7888 §4)', () => {
    const big = 'x'.repeat(50);
    const evs = events([`a1 APPEND INBOX {50+}\r\n${big.slice(0, 20)}`, `${big.slice(20)} {3+}\r\nabc\r\na2 NOOP\r\n`], {
      appendLimit: 40,
    });
    assert.deepEqual(evs, [
      { type: 'reject', tag: 'a1', name: 'APPEND', status: 'NO', code: 'TOOBIG', text: 'Message too big', close: false },
      { type: 'command', tag: 'a2', name: 'NOOP', bytes: Buffer.from('a2 NOOP') },
    ]);
  });

  it('applies LITERAL- (4096 octets) to non-synchronizing literals only (RFC 7888 §5)', () => {
    const body = 'y'.repeat(4097);
    const evs = events([`a1 APPEND INBOX {4097+}\r\n${body}\r\na2 APPEND INBOX {4097}\r\n`]);
    assert.equal(evs[0].type, 'reject');
    assert.equal((evs[0] as { status: string }).status, 'NO');
    assert.equal(evs[1].type, 'continue');
    const evs2 = events([`a1 SEARCH TEXT {4097+}\r\n${body}\r\na2 NOOP\r\n`], { maxLiteralSize: 8192 });
    assert.deepEqual(
      evs2.map((e) => e.type),
      ['reject', 'command'],
    );
    assert.equal((evs2[0] as { status: string; code: string }).status, 'BAD');
    assert.equal((evs2[0] as { code: string }).code, 'TOOBIG');
    // LITERAL+: no such limit.
    assert.equal(events([`a1 APPEND INBOX {4097+}\r\n${body}\r\n`], { nonSyncLiteralLimit: Infinity })[0].type, 'command');
  });

  it('closes when a refused non-synchronizing literal is too big to discard', () => {
    const reader = new CommandReader({ appendLimit: 10, maxDiscard: 100 });
    reader.push(Buffer.from('a1 APPEND INBOX {101+}\r\nxxxx'));
    assert.deepEqual(reader.read(), {
      type: 'reject',
      tag: 'a1',
      name: 'APPEND',
      status: 'NO',
      code: 'TOOBIG',
      text: 'Message too big',
      close: true,
    });
    assert.ok(reader.closed);
    reader.push(Buffer.from('a2 NOOP\r\n'));
    assert.equal(reader.read(), null);
    assert.equal(reader.bufferedBytes, 0);
    // A length no one could mean is never discarded either.
    assert.equal((events([`a1 LOGIN {${'9'.repeat(40)}+}\r\n`])[0] as { close: boolean }).close, true);
  });

  it('limits the number of literals', () => {
    const evs = events(['a1 APPEND INBOX {1+}\r\na {1+}\r\nb {1}\r\na2 NOOP\r\n'], { maxLiterals: 2 });
    assert.deepEqual(evs[0], {
      type: 'reject',
      tag: 'a1',
      name: 'APPEND',
      status: 'NO',
      code: 'LIMIT',
      text: 'Too many literals in one command',
      close: false,
    });
    assert.equal(evs[1].type, 'command');
  });

  it('limits the whole command', () => {
    const evs = events(['a1 APPEND INBOX {60+}\r\n', 'z'.repeat(60), ' {60}\r\na2 NOOP\r\n'], {
      appendLimit: 100,
      maxCommandSize: 120,
    });
    assert.deepEqual(
      evs.map((e) => [e.type, (e as { code?: string }).code]),
      [
        ['reject', 'TOOBIG'],
        ['command', undefined],
      ],
    );
  });

  it('drops an overlong line without buffering it and answers at its end', () => {
    const reader = new CommandReader({ maxLineLength: 100 });
    reader.push(Buffer.from(`a1 NOOP ${'x'.repeat(150)}`));
    assert.equal(reader.read(), null);
    assert.equal(reader.bufferedBytes, 0);
    for (let i = 0; i < 100; i++) {
      reader.push(Buffer.alloc(1000, 0x78));
      assert.equal(reader.read(), null);
      assert.equal(reader.bufferedBytes, 0);
    }
    reader.push(Buffer.from('\r\na2 NOOP\r\n'));
    assert.deepEqual(reader.read(), {
      type: 'reject',
      tag: 'a1',
      name: 'NOOP',
      status: 'BAD',
      code: null,
      text: 'Command line too long',
      close: false,
    });
    assert.equal(reader.read()?.type, 'command');
  });

  it('skips a non-synchronizing literal announced at the end of an overlong line', () => {
    const evs = events([`a1 SEARCH ${'x'.repeat(200)} {5+}\r\nhello\r\na2 NOOP\r\n`], { maxLineLength: 100 });
    assert.deepEqual(
      evs.map((e) => e.type),
      ['reject', 'command'],
    );
    assert.equal(commands(evs)[0], 'a2 NOOP');
  });

  it('sends no continuation for a line without a valid tag', () => {
    const evs = events(['+ {5}\r\nhello\r\n']);
    assert.equal(evs[0].type, 'reject');
    assert.equal((evs[0] as { tag: string | null }).tag, null);
    assert.equal(evs[1].type, 'command'); // "hello": the parser answers it with BAD
    assert.deepEqual(events(['a1 {1}\r\n'])[0], {
      type: 'reject',
      tag: 'a1',
      name: null,
      status: 'BAD',
      code: null,
      text: 'Missing command',
      close: false,
    });
  });

  it('takes linear time for a line that trickles in byte by byte', () => {
    const reader = new CommandReader();
    const start = Date.now();
    const head = Buffer.from('a1 SEARCH TEXT ');
    for (const b of head) reader.push(Buffer.from([b]));
    for (let i = 0; i < 60_000; i++) {
      reader.push(Buffer.from('x'));
      assert.equal(reader.read(), null);
    }
    reader.push(Buffer.from('\r\n'));
    const ev = reader.read();
    assert.equal(ev?.type, 'command');
    assert.equal((ev as { bytes: Buffer }).bytes.length, head.length + 60_000);
    assert.ok(Date.now() - start < 2000, `took ${Date.now() - start} ms`);
  });

  it('setLimits changes limits for later commands', () => {
    const reader = new CommandReader({ maxLiteralSize: 2 });
    reader.push(Buffer.from('a1 LOGIN {3}\r\n'));
    assert.equal(reader.read()?.type, 'reject');
    reader.setLimits({ maxLiteralSize: 3 });
    assert.equal(reader.getLimits().maxLiteralSize, 3);
    reader.push(Buffer.from('a2 LOGIN {3}\r\n'));
    assert.equal(reader.read()?.type, 'continue');
  });
});

describe('CommandReader: modes', () => {
  it('hands out raw lines for IDLE and AUTHENTICATE', () => {
    const reader = new CommandReader({ maxLineLength: 24 });
    reader.push(Buffer.from('a1 IDLE\r\nDONE\r\na2 AUTHENTICATE PLAIN\r\n\r\n{5}\r\n'));
    assert.equal(reader.read()?.type, 'command');
    reader.setMode('line');
    assert.equal(reader.getMode(), 'line');
    assert.deepEqual(reader.read(), { type: 'line', line: Buffer.from('DONE') });
    reader.setMode('command');
    assert.equal(reader.read()?.type, 'command');
    reader.setMode('line');
    assert.deepEqual(reader.read(), { type: 'line', line: Buffer.alloc(0) }); // an empty SASL response
    assert.deepEqual(reader.read(), { type: 'line', line: Buffer.from('{5}') }); // no literal in line mode
    reader.push(Buffer.from(`${'A'.repeat(30)}\r\nDONE\r\n`));
    assert.deepEqual(reader.read(), { type: 'line-too-long' });
    assert.deepEqual(reader.read(), { type: 'line', line: Buffer.from('DONE') });
  });

  it('refuses to change mode in the middle of a command', () => {
    const reader = new CommandReader();
    reader.push(Buffer.from('a1 LOGIN {3}\r\n'));
    assert.equal(reader.read()?.type, 'continue');
    assert.throws(() => reader.setMode('line'), /middle of a command/);
  });

  it('gives up bytes pipelined after STARTTLS (command injection, CVE-2011-0411)', () => {
    const reader = new CommandReader();
    reader.push(Buffer.from('a1 STARTTLS\r\na2 LOGIN evil pw\r\n'));
    assert.equal(reader.read()?.type, 'command');
    assert.equal(reader.takeBuffered().toString(), 'a2 LOGIN evil pw\r\n');
    assert.equal(reader.read(), null);
    assert.equal(reader.bufferedBytes, 0);
  });
});

describe('CommandReader: properties', () => {
  // A stream of commands of every kind the reader treats differently.
  const piece = fc.oneof(
    fc.constant('a1 NOOP\r\n'),
    fc.constant('a2 NOOP\n'),
    fc.constant('\r\n'),
    fc.constant(`a3 NOOP ${'x'.repeat(70)}\r\n`), // too long (limit 64)
    fc.constant(`a4 SEARCH ${'x'.repeat(70)} {3+}\r\nabc\r\n`),
    fc.constant('+ {2}\r\n'),
    fc.string({ maxLength: 20 }).map((s) => `a5 LOGIN {${Buffer.byteLength(s)}}\r\n${s} x\r\n`),
    fc.string({ maxLength: 20 }).map((s) => `a6 LOGIN {${Buffer.byteLength(s)}+}\r\n${s}\r\n`),
    fc.constant('a7 APPEND INBOX ~{3}\r\n\0\0\0\r\n'),
    fc.constant('a8 APPEND INBOX {30+}\r\n123456789012345678901234567890 {2+}\r\nab\r\n'), // too big, discarded
    fc.constant('a9 LOGIN {30}\r\n'), // too big, refused at once
    fc.constant('b1 APPEND INBOX {1+}\r\na {1+}\r\nb {1+}\r\nc {1+}\r\nd\r\n'), // too many literals
  );
  const limits = { maxLineLength: 64, maxLiteralSize: 25, appendLimit: 25, maxLiterals: 3 };

  it('gives the same events however the input is split (property)', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 30 }), (pieces, cuts) => {
        const input = Buffer.from(pieces.join(''), 'utf8');
        const whole = events([input], limits);
        const chunks: Buffer[] = [];
        let pos = 0;
        for (const cut of cuts) {
          if (pos >= input.length) break;
          chunks.push(input.subarray(pos, pos + cut));
          pos += cut;
        }
        chunks.push(input.subarray(pos));
        assert.deepEqual(events(chunks, limits), whole);
        // Byte by byte as well.
        assert.deepEqual(events([...input].map((b) => Buffer.from([b])), limits), whole);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws and stays bounded on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 80 }),
            fc.constantFrom('{5}\r\n', '{3+}\r\n', '~{2}\r\n', '\r\n', 'a LOGIN ').map((s) => Buffer.from(s)),
          ),
          { maxLength: 20 },
        ),
        (parts) => {
          const reader = new CommandReader(limits);
          for (const part of parts) {
            reader.push(Buffer.from(part));
            for (let ev = reader.read(); ev; ev = reader.read()) {
              if (ev.type === 'command') assert.ok(ev.bytes.length <= limits.maxLineLength * 4 + limits.maxLiteralSize * 3 + 16);
            }
            assert.ok(reader.bufferedBytes <= limits.maxLineLength + 2 + 80);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
