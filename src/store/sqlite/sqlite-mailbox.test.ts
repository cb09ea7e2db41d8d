import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError } from '../../errors/index.js';
import type { MailboxChange, NewMailboxMessage } from '../types.js';
import type { SqliteStore } from './sqlite-store.js';
import { tempStore } from '../../../test/helpers/temp-store.js';

function msg(n: number, flags: string[] = []): NewMailboxMessage {
  const body = Buffer.from(`Subject: m${n}\r\n\r\nbody ${n}\r\n`);
  return { blobHash: String(n).padStart(64, '0'), size: body.length, inlineBody: body, internalDate: 1000 + n, flags, mime: null };
}

async function account(store: SqliteStore) {
  await store.addDomain('example.test');
  const a = await store.addAccount({ domain: 'example.test', localPart: 'a', passwordHash: 'x', quotaBytes: 0 });
  const inbox = (await store.getMailbox(a.id, 'INBOX'))!;
  return { a, inbox };
}

test('append assigns increasing UIDs and MODSEQs and tells the change feed after the commit', async (t) => {
  const { store } = tempStore(t);
  const { a, inbox } = await account(store);
  const seen: MailboxChange[] = [];
  store.changes.on('mailbox', (c) => seen.push(c));
  const uids = await store.appendMessages(inbox.id, [msg(1, ['\\Seen']), msg(2)]);
  assert.deepEqual(uids.map((u) => u.uid), [1, 2]);
  assert.ok(uids[1].modseq > uids[0].modseq);
  assert.deepEqual(seen.map((c) => c.kind), ['append', 'append']);
  const box = (await store.getMailboxById(inbox.id))!;
  assert.deepEqual([box.uidNext, box.highestModseq], [3, uids[1].modseq]);
  const stored = await store.listMailboxMessages(inbox.id);
  assert.deepEqual(stored.map((m) => m.flags), [['\\Seen'], []]);
  assert.equal(await store.accountUsage(a.id), msg(1).size + msg(2).size);
});

test('STORE: +FLAGS/-FLAGS/FLAGS, one MODSEQ per operation, UNCHANGEDSINCE refuses newer messages', async (t) => {
  const { store } = tempStore(t);
  const { inbox } = await account(store);
  await store.appendMessages(inbox.id, [msg(1), msg(2), msg(3)]);
  const add = await store.storeFlags(inbox.id, [1, 2, 99], 'add', ['\\Seen', 'Work']);
  assert.deepEqual(add.updated.map((u) => [u.uid, u.flags, u.changed]), [[1, ['\\Seen', 'Work'], true], [2, ['\\Seen', 'Work'], true]]);
  assert.equal(add.updated[0].modseq, add.updated[1].modseq);
  const again = await store.storeFlags(inbox.id, [1], 'add', ['\\seen']);
  assert.deepEqual([again.updated[0].changed, again.updated[0].modseq], [false, add.updated[0].modseq], 'flags compare case-insensitively');
  const remove = await store.storeFlags(inbox.id, [1], 'remove', ['work']);
  assert.deepEqual(remove.updated[0].flags, ['\\Seen']);
  const cond = await store.storeFlags(inbox.id, [1, 2, 3], 'set', ['\\Flagged'], add.updated[0].modseq);
  // Message 1 changed after add's MODSEQ: refused; 2 and 3 not.
  assert.deepEqual(cond.failed, [1]);
  assert.deepEqual(cond.updated.map((u) => u.uid), [2, 3]);
});

test('EXPUNGE removes \\Deleted messages (or only the given UIDs) and remembers them for VANISHED', async (t) => {
  const { store } = tempStore(t);
  const { inbox } = await account(store);
  await store.appendMessages(inbox.id, [msg(1, ['\\Deleted']), msg(2), msg(3, ['\\Deleted']), msg(4, ['\\Deleted'])]);
  const before = (await store.getMailboxById(inbox.id))!.highestModseq;
  assert.deepEqual(await store.expunge(inbox.id, [3, 2]), [3]);
  assert.deepEqual(await store.expunge(inbox.id), [1, 4]);
  assert.deepEqual((await store.listMailboxMessages(inbox.id)).map((m) => m.uid), [2]);
  assert.deepEqual(await store.vanishedSince(inbox.id, before), [1, 3, 4]);
  const after3 = (await store.getMailboxById(inbox.id))!.highestModseq;
  assert.deepEqual(await store.vanishedSince(inbox.id, after3), []);
  // UIDs are never reused.
  const [next] = await store.appendMessages(inbox.id, [msg(5)]);
  assert.equal(next.uid, 5);
});

test('COPY and MOVE give new UIDs in the target in source order; MOVE expunges the sources', async (t) => {
  const { store } = tempStore(t);
  const { a, inbox } = await account(store);
  await store.appendMessages(inbox.id, [msg(1, ['\\Seen']), msg(2), msg(3)]);
  const archive = (await store.getMailbox(a.id, 'Archive'))!;
  assert.deepEqual(await store.copyMessages(inbox.id, [3, 1], archive.id), [{ from: 1, to: 1 }, { from: 3, to: 2 }]);
  assert.deepEqual((await store.listMailboxMessages(archive.id)).map((m) => [m.uid, m.flags]), [[1, ['\\Seen']], [2, []]]);
  assert.deepEqual(await store.moveMessages(inbox.id, [2], archive.id), [{ from: 2, to: 3 }]);
  assert.deepEqual((await store.listMailboxMessages(inbox.id)).map((m) => m.uid), [1, 3]);
  assert.deepEqual(await store.vanishedSince(inbox.id, 0), [2]);
});

test('CREATE, RENAME (with children, and INBOX), DELETE, SUBSCRIBE', async (t) => {
  const { store } = tempStore(t);
  const { a, inbox } = await account(store);
  const work = await store.createMailbox(a.id, 'Work', null);
  await store.createMailbox(a.id, 'Work/2026', null);
  await assert.rejects(store.createMailbox(a.id, 'Work', null), ConflictError);
  await store.renameMailbox(a.id, 'Work', 'Jobs');
  const names = (await store.listMailboxes(a.id)).map((m) => m.name);
  assert.ok(names.includes('Jobs') && names.includes('Jobs/2026') && !names.includes('Work'));
  assert.equal((await store.getMailbox(a.id, 'Jobs'))!.uidValidity, work.uidValidity, 'RENAME keeps UIDVALIDITY');
  await assert.rejects(store.renameMailbox(a.id, 'Jobs', 'Sent'), ConflictError);

  await store.appendMessages(inbox.id, [msg(1), msg(2)]);
  await store.renameMailbox(a.id, 'INBOX', 'Old');
  assert.equal((await store.listMailboxMessages(inbox.id)).length, 0, 'INBOX stays, empty');
  const old = (await store.getMailbox(a.id, 'Old'))!;
  assert.equal((await store.listMailboxMessages(old.id)).length, 2);

  await store.setSubscribed(a.id, 'Old', false);
  assert.equal((await store.getMailbox(a.id, 'Old'))!.subscribed, false);
  await store.deleteMailbox(old.id);
  assert.equal(await store.getMailbox(a.id, 'Old'), null);
});
