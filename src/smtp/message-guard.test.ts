/**
 * Property tests for the DATA filter: whatever the bytes and however the network splits
 * them into chunks, the verdict is the same, and a clean message passes through unchanged.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import fc from 'fast-check';
import { MessageGuard, type GuardViolation } from './message-guard.js';

const PREFIX = 'Received: test\r\n';

async function run(chunks: Buffer[], missing?: (present: Set<string>) => string) {
  const guard = new MessageGuard({ maxLineLength: 1000, maxBytes: 1 << 20, prefix: PREFIX, missingHeaders: missing });
  const out: Buffer[] = [];
  guard.on('data', (chunk: Buffer | string) => out.push(Buffer.from(chunk)));
  await pipeline(Readable.from(chunks), guard);
  return { violation: guard.violation, output: Buffer.concat(out) };
}

/** Splits `data` at the given (sorted, deduplicated) cut points. */
function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) chunks.push(data.subarray(last, p));
    last = Math.max(last, p);
  }
  if (last < data.length) chunks.push(data.subarray(last));
  return chunks;
}

/** The verdict computed the slow, obvious way, for comparison. */
function expectedViolation(data: Buffer): GuardViolation | null {
  let lineStart = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 0) return 'nul';
    if (b === 0x0d && data[i + 1] !== 0x0a) return 'bare-cr';
    if (b === 0x0a) {
      if (data[i - 1] !== 0x0d) return 'bare-lf';
      if (i + 1 - lineStart > 1000) return 'line-too-long';
      lineStart = i + 1;
    }
  }
  if (data.length - lineStart > 1000) return 'line-too-long';
  return null;
}

// Bytes drawn mostly from the characters that matter here.
const interesting = fc.constantFrom(0x0d, 0x0a, 0x2e, 0x41, 0x20, 0x00, 0xc3, 0x3a);
const body = fc.array(fc.oneof(interesting, fc.integer({ min: 0, max: 255 })), { maxLength: 300 }).map((a) => Buffer.from(a));

// Which problem is reported first may depend on chunk boundaries (a NUL and a bare LF in
// one message); whether the message is refused must not.
test('the verdict does not depend on how the data is chunked', async () => {
  await fc.assert(
    fc.asyncProperty(body, fc.array(fc.nat(), { maxLength: 10 }), async (data, cuts) => {
      const whole = await run([data]);
      const chunked = await run(split(data, cuts));
      assert.equal(chunked.violation === null, whole.violation === null);
      // The fast scanner agrees with the obvious one on whether there is a problem.
      assert.equal(whole.violation === null, expectedViolation(data) === null);
    }),
    { numRuns: 300 },
  );
});

test('a clean message passes through byte for byte after the prefix, in any chunking', async () => {
  const line = fc.stringMatching(/^[ -~]{0,80}$/);
  const message = fc.array(line, { minLength: 1, maxLength: 30 }).map((lines) => Buffer.from(lines.join('\r\n') + '\r\n'));
  await fc.assert(
    fc.asyncProperty(message, fc.array(fc.nat(), { maxLength: 8 }), async (data, cuts) => {
      const { violation, output } = await run(split(data, cuts));
      assert.equal(violation, null);
      assert.deepEqual(output, Buffer.concat([Buffer.from(PREFIX), data]));
    }),
    { numRuns: 200 },
  );
});

test('missing headers are added once the header section is complete, whatever the chunking', async () => {
  const data = Buffer.from('Subject: hi\r\nFrom: a@b.test\r\n\r\nbody\r\n');
  for (let cut = 0; cut <= data.length; cut++) {
    let seen: string[] = [];
    const { output } = await run(split(data, [cut]), (present) => {
      seen = [...present].sort();
      return present.has('date') ? '' : 'Date: x\r\n';
    });
    assert.deepEqual(seen, ['from', 'subject']);
    assert.equal(output.toString(), PREFIX + 'Date: x\r\n' + data.toString());
  }
});
