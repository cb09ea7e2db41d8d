import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { FsBlobStore, type PendingBlob } from './fs-blob-store.js';

function tempBlobs(t: { after: (fn: () => void) => void }): FsBlobStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'posta-blob-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return new FsBlobStore(dir);
}

async function write(blobs: FsBlobStore, chunks: Buffer[], memoryLimit: number): Promise<PendingBlob> {
  const writer = blobs.createWriter(memoryLimit);
  await pipeline(Readable.from(chunks), writer);
  return writer.result!;
}

test('a small body stays in memory, hashed, with no file', async (t) => {
  const blobs = tempBlobs(t);
  const body = Buffer.from('Subject: x\r\n\r\nhello\r\n');
  const result = await write(blobs, [body.subarray(0, 5), body.subarray(5)], 1024);
  assert.equal(result.tmpPath, null);
  assert.deepEqual(result.data, body);
  assert.equal(result.hash, createHash('sha256').update(body).digest('hex'));
  assert.deepEqual(fs.readdirSync(path.join(blobs.root, 'tmp')), []);
});

test('a body over the memory limit spills to a file named by its SHA-256 after publish', async (t) => {
  const blobs = tempBlobs(t);
  const body = Buffer.from('Subject: x\r\n\r\nhello\r\n'.repeat(1000));
  // The first chunk fits in memory; the second makes it spill, and both must reach the file.
  const pending = await write(blobs, [body.subarray(0, 7), body.subarray(7)], 100);
  assert.equal(pending.data, null);
  assert.equal(pending.hash, createHash('sha256').update(body).digest('hex'));
  assert.equal(pending.size, body.length);
  assert.ok(pending.tmpPath && fs.existsSync(pending.tmpPath), 'before publish the body is only in tmp/');
  await blobs.publish([pending]);
  assert.equal(fs.existsSync(pending.tmpPath), false);
  assert.deepEqual(await blobs.read(pending.hash), body);
});

test('publishing the same content twice keeps one copy', async (t) => {
  const blobs = tempBlobs(t);
  const results = [await write(blobs, [Buffer.from('same bytes')], 0), await write(blobs, [Buffer.from('same bytes')], 0)];
  await blobs.publish(results);
  const dir = path.dirname(blobs.pathOf(results[0].hash));
  assert.deepEqual(fs.readdirSync(dir), [results[0].hash]);
});

test('sweepTmp removes unpublished leftovers', async (t) => {
  const blobs = tempBlobs(t);
  const pending = await write(blobs, [Buffer.from('abandoned')], 0);
  assert.equal(await blobs.sweepTmp(), 1);
  assert.equal(fs.existsSync(pending.tmpPath!), false);
});

test('pathOf refuses anything but a hash (no path traversal)', (t) => {
  const blobs = tempBlobs(t);
  assert.throws(() => blobs.pathOf('../../etc/passwd'));
});
