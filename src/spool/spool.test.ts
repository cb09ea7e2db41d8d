import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { FsBlobStore } from '../blob/fs-blob-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { MessageBodies } from './message-bodies.js';
import { newQueueId, Spool, type SpoolEnvelope } from './spool.js';

async function setup(t: { after: (fn: () => void) => void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'posta-spool-'));
  const store = new SqliteStore({ file: path.join(dir, 'posta.db') });
  const blobs = new FsBlobStore(path.join(dir, 'blobs'));
  t.after(() => {
    void store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await store.addDomain('example.test');
  const account = await store.addAccount({ domain: 'example.test', localPart: 'a', passwordHash: 'x', quotaBytes: 0 });
  return { store, blobs, account };
}

async function writeBlob(blobs: FsBlobStore, text: string) {
  const writer = blobs.createWriter();
  await pipeline(Readable.from([Buffer.from(text)]), writer);
  return writer.result!;
}

function envelope(accountId: number): SpoolEnvelope {
  return {
    queueId: newQueueId(),
    receivedAt: Date.now(),
    reversePath: 'b@remote.test',
    dsn: { ret: null, envid: null },
    bodyType: null,
    smtpUtf8: false,
    submitterAccountId: null,
    clientIp: '127.0.0.1',
    helo: 'x',
    localAccountIds: [accountId],
    remoteRecipients: [],
  };
}

test('concurrent enqueues share commits and all land in INBOX', async (t) => {
  const { store, blobs, account } = await setup(t);
  const spool = new Spool(store, blobs);
  const pending = await Promise.all(Array.from({ length: 30 }, (_, i) => writeBlob(blobs, `message ${i}\r\n`)));
  const ids = await Promise.all(pending.map((blob) => spool.enqueue(blob, envelope(account.id))));
  assert.equal(new Set(ids).size, 30);
  assert.equal(spool.stats.messages, 30);
  assert.ok(spool.stats.commits < 30, `expected group commits, got ${spool.stats.commits} commits`);
  const inbox = (await store.listMailboxes(account.id)).find((m) => m.name === 'INBOX')!;
  const stored = await store.listMailboxMessages(inbox.id);
  assert.equal(stored.length, 30);
  const reader = new MessageBodies(store, blobs);
  const bodies = await Promise.all(stored.map((m) => reader.read(m.blobHash)));
  assert.deepEqual(bodies.map(String).sort(), Array.from({ length: 30 }, (_, i) => `message ${i}\r\n`).sort());
});

test('the MIME structure is parsed once, at delivery, and stored with the mailbox row', async (t) => {
  const { store, blobs, account } = await setup(t);
  const spool = new Spool(store, blobs);
  await spool.enqueue(await writeBlob(blobs, 'Subject: Hello there\r\nFrom: Ana <ana@example.test>\r\n\r\nHi\r\n'), envelope(account.id));
  const inbox = (await store.listMailboxes(account.id)).find((m) => m.name === 'INBOX')!;
  const [stored] = await store.listMailboxMessages(inbox.id);
  const mime = JSON.parse(stored.mime!) as { envelope: unknown[]; bodystructure: unknown[] };
  assert.equal(mime.envelope[1], 'Hello there');
  assert.deepEqual(mime.bodystructure.slice(0, 2), ['text', 'plain']);
});

test('a failed commit rejects every message of the batch', async (t) => {
  const { store, blobs, account } = await setup(t);
  const spool = new Spool(store, blobs);
  const blob = await writeBlob(blobs, 'x');
  await store.close(); // the commit now fails
  await assert.rejects(spool.enqueue(blob, envelope(account.id)));
});

test('queue ids sort by time and are unique', () => {
  const a = newQueueId(1_000_000);
  const b = newQueueId(2_000_000);
  assert.ok(a < b);
  assert.match(a, /^[0-9B-DF-HJ-NP-TV-Z]{18}$/);
  assert.notEqual(newQueueId(5), newQueueId(5));
});
