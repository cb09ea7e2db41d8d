import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { ConflictError, NotFoundError } from '../../errors/index.js';
import type { IncomingMessage } from '../types.js';
import { DEFAULT_MAILBOXES, SqliteStore } from './sqlite-store.js';
import { tempStore } from '../../../test/helpers/temp-store.js';


function message(overrides: Partial<IncomingMessage>): IncomingMessage {
  return {
    queueId: 'Q1',
    blobHash: 'a'.repeat(64),
    size: 10,
    inlineBody: null,
    receivedAt: 1000,
    reversePath: 'bob@remote.test',
    dsn: { ret: null, envid: null },
    bodyType: null,
    smtpUtf8: false,
    submitterAccountId: null,
    clientIp: '127.0.0.1',
    helo: 'client.test',
    localAccountIds: [],
    remoteRecipients: [],
    ...overrides,
  };
}

test('accounts get the default mailboxes with special-use flags', async (t) => {
  const { store } = tempStore(t);
  await store.addDomain('example.test');
  const account = await store.addAccount({ domain: 'example.test', localPart: 'Alice', passwordHash: 'x', quotaBytes: 5 });
  const boxes = await store.listMailboxes(account.id);
  assert.deepEqual(
    boxes.map((b) => [b.name, b.specialUse]),
    DEFAULT_MAILBOXES.map((b) => [b.name, b.specialUse]),
  );
  assert.equal(account.quotaBytes, 5);
});

test('local parts keep their case but are looked up case-insensitively', async (t) => {
  const { store } = tempStore(t);
  await store.addDomain('example.test');
  await store.addAccount({ domain: 'example.test', localPart: 'Alice', passwordHash: 'x', quotaBytes: 0 });
  const found = await store.getAccount('aLiCe', 'example.test');
  assert.equal(found?.localPart, 'Alice');
  await assert.rejects(
    store.addAccount({ domain: 'example.test', localPart: 'ALICE', passwordHash: 'y', quotaBytes: 0 }),
    ConflictError,
  );
  await assert.rejects(store.addAlias('alice', 'example.test', ['x@y.test']), ConflictError);
});

test('unknown domains are reported with the command that fixes it', async (t) => {
  const { store } = tempStore(t);
  await assert.rejects(
    store.addAccount({ domain: 'nope.test', localPart: 'a', passwordHash: 'x', quotaBytes: 0 }),
    (err: unknown) => err instanceof NotFoundError && /posta domain add nope\.test/.test(err.message),
  );
});

test('commitIncoming delivers into INBOX with increasing UIDs and queues remote recipients', async (t) => {
  const { store } = tempStore(t);
  await store.addDomain('example.test');
  const a = await store.addAccount({ domain: 'example.test', localPart: 'a', passwordHash: 'x', quotaBytes: 0 });
  const b = await store.addAccount({ domain: 'example.test', localPart: 'b', passwordHash: 'x', quotaBytes: 0 });
  const changes: number[] = [];
  store.changes.on('mailbox', (c) => { if (c.kind === 'append') changes.push(c.uid); });
  await store.commitIncoming([
    message({ queueId: 'Q1', localAccountIds: [a.id, b.id] }),
    message({
      queueId: 'Q2',
      localAccountIds: [a.id],
      remoteRecipients: [
        {
          forwardPath: 'x@remote.test',
          domain: 'remote.test',
          dsn: { notify: ['FAILURE', 'DELAY'], orcpt: { addrType: 'rfc822', address: 'x@remote.test' } },
        },
      ],
      dsn: { ret: 'HDRS', envid: 'E1' },
    }),
  ]);
  const inboxA = (await store.listMailboxes(a.id)).find((m) => m.name === 'INBOX')!;
  const msgs = await store.listMailboxMessages(inboxA.id);
  assert.deepEqual(
    msgs.map((m) => m.uid),
    [1, 2],
  );
  assert.ok(msgs[1].modseq > msgs[0].modseq);
  assert.deepEqual(changes, [1, 1, 2]);
  const queue = await store.listQueue();
  assert.equal(queue.length, 1, 'only the message with a remote recipient is queued');
  assert.equal(queue[0].queueId, 'Q2');
  assert.deepEqual(queue[0].dsn, { ret: 'HDRS', envid: 'E1' });
  assert.deepEqual(queue[0].recipients[0].notify, ['FAILURE', 'DELAY']);
  assert.equal(queue[0].recipients[0].state, 'queued');
  assert.equal(await store.isBlobReferenced('a'.repeat(64)), true);
  assert.equal(await store.isBlobReferenced('b'.repeat(64)), false);
});

test('the schema survives reopening and removing a domain removes its accounts', async (t) => {
  const { store, file } = tempStore(t);
  await store.addDomain('example.test');
  await store.addAccount({ domain: 'example.test', localPart: 'a', passwordHash: 'x', quotaBytes: 0 });
  await store.close();
  const again = new SqliteStore({ file });
  t.after(() => void again.close());
  assert.equal((await again.listAccounts()).length, 1);
  await again.removeDomain('example.test');
  assert.equal((await again.listAccounts()).length, 0);
});

test('a commit waits, without blocking the event loop, while another connection holds the write lock', async (t) => {
  const { store, file } = tempStore(t);
  await store.addDomain('example.test');
  const a = await store.addAccount({ domain: 'example.test', localPart: 'a', passwordHash: 'x', quotaBytes: 0 });
  const other = new Database(file);
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const events: string[] = [];
  const commit = store.commitIncoming([message({ localAccountIds: [a.id] })]).then(() => events.push('committed'));
  // The event loop keeps running while the commit waits for the lock.
  await new Promise((r) => setTimeout(r, 50));
  events.push('other commits');
  other.exec('COMMIT');
  await commit;
  assert.deepEqual(events, ['other commits', 'committed']);
  const inbox = (await store.listMailboxes(a.id)).find((m) => m.name === 'INBOX')!;
  assert.equal((await store.listMailboxMessages(inbox.id)).length, 1);
});
