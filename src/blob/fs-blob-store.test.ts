import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { FsBlobStore } from './fs-blob-store.js';

function tempBlobs(t: { after: (fn: () => void) => void }): FsBlobStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'posta-blob-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return new FsBlobStore(dir);
}

test('a written blob is named by its SHA-256 and readable after publish', async (t) => {
  const blobs = tempBlobs(t);
  const body = Buffer.from('Subject: x\r\n\r\nhello\r\n'.repeat(1000));
  const writer = blobs.createWriter();
  await pipeline(Readable.from([body.subarray(0, 7), body.subarray(7)]), writer);
  const pending = writer.result!;
  assert.equal(pending.hash, createHash('sha256').update(body).digest('hex'));
  assert.equal(pending.size, body.length);
  assert.ok(fs.existsSync(pending.tmpPath), 'before publish the body is only in tmp/');
  await blobs.publish([pending]);
  assert.equal(fs.existsSync(pending.tmpPath), false);
  assert.deepEqual(await blobs.read(pending.hash), body);
});

test('publishing the same content twice keeps one copy', async (t) => {
  const blobs = tempBlobs(t);
  const results = [];
  for (let i = 0; i < 2; i++) {
    const writer = blobs.createWriter();
    await pipeline(Readable.from([Buffer.from('same bytes')]), writer);
    results.push(writer.result!);
  }
  await blobs.publish(results);
  const dir = path.dirname(blobs.pathOf(results[0].hash));
  assert.deepEqual(fs.readdirSync(dir), [results[0].hash]);
});

test('sweepTmp removes unpublished leftovers', async (t) => {
  const blobs = tempBlobs(t);
  const writer = blobs.createWriter();
  await pipeline(Readable.from([Buffer.from('abandoned')]), writer);
  assert.equal(await blobs.sweepTmp(), 1);
  assert.equal(fs.existsSync(writer.result!.tmpPath), false);
});

test('pathOf refuses anything but a hash (no path traversal)', (t) => {
  const blobs = tempBlobs(t);
  assert.throws(() => blobs.pathOf('../../etc/passwd'));
});
