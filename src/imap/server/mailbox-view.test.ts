import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NewMailboxMessage } from '../../store/types.js';
import { tempStore } from '../../../test/helpers/temp-store.js';
import { MailboxView } from './mailbox-view.js';

function msg(n: number, flags: string[] = []): NewMailboxMessage {
  const body = Buffer.from(`Subject: m${n}\r\n\r\nbody\r\n`);
  return { blobHash: String(n).padStart(64, '0'), size: body.length, inlineBody: body, internalDate: n, flags, mime: null };
}

async function setup(t: { after: (fn: () => void) => void }) {
  const { store } = tempStore(t, 'posta-view-');
  await store.addDomain('example.test');
  const a = await store.addAccount({ domain: 'example.test', localPart: 'a', passwordHash: 'x', quotaBytes: 0 });
  const inbox = (await store.getMailbox(a.id, 'INBOX'))!;
  return { store, inbox };
}

test('a view maps sequence numbers to UIDs and learns of new messages, flag changes and expunges', async (t) => {
  const { store, inbox } = await setup(t);
  await store.appendMessages(inbox.id, [msg(1), msg(2), msg(3)]);
  const view = await MailboxView.open(store, inbox);
  assert.deepEqual([view.exists, view.uidAt(2), view.seqOf(3), view.seqOf(9)], [3, 2, 3, 0]);

  // Another session: new mail, a flag change, an expunge.
  await store.appendMessages(inbox.id, [msg(4)]);
  await store.storeFlags(inbox.id, [3], 'add', ['\\Seen']);
  await store.storeFlags(inbox.id, [2], 'add', ['\\Deleted']);
  await store.expunge(inbox.id);
  await view.refresh();

  // During FETCH/STORE/SEARCH: no EXPUNGE yet (RFC 9051 §7.5.1), the rest goes out.
  const held = view.updates(false);
  assert.deepEqual(held, [
    { kind: 'exists', count: 4 },
    { kind: 'flags', seq: 3, uid: 3, flags: ['\\Seen'], modseq: view.modseqOf(3) },
  ]);
  assert.equal(view.uidAt(2), 2, 'sequence numbers stay put while the expunge waits');
  assert.deepEqual(view.updates(true), [{ kind: 'expunge', seq: 2, uid: 2 }]);
  assert.deepEqual(view.uids(), [1, 3, 4]);
  assert.deepEqual(view.updates(true), [], 'each change is told once');
});

test('expunges are told highest sequence number first, so every number is right when sent', async (t) => {
  const { store, inbox } = await setup(t);
  await store.appendMessages(inbox.id, [msg(1), msg(2), msg(3), msg(4)]);
  const view = await MailboxView.open(store, inbox);
  await store.storeFlags(inbox.id, [1, 3], 'add', ['\\Deleted']);
  await store.expunge(inbox.id);
  await view.refresh();
  const expunges = view.updates(true).filter((u) => u.kind === 'expunge');
  assert.deepEqual(expunges.map((u) => [u.kind === 'expunge' && u.seq, u.kind === 'expunge' && u.uid]), [[3, 3], [1, 1]]);
  assert.deepEqual(view.uids(), [2, 4]);
});

test('own changes are not reported back; a message added and expunged between refreshes never shows', async (t) => {
  const { store, inbox } = await setup(t);
  await store.appendMessages(inbox.id, [msg(1)]);
  const view = await MailboxView.open(store, inbox);
  const { updated } = await store.storeFlags(inbox.id, [1], 'add', ['\\Flagged']);
  view.noteOwnFlags(1, updated[0].flags, updated[0].modseq);
  const [{ uid }] = await store.appendMessages(inbox.id, [msg(2, ['\\Deleted'])]);
  await store.expunge(inbox.id, [uid]);
  await view.refresh();
  assert.deepEqual(view.updates(true), []);
  assert.deepEqual(view.flagsOf(1), ['\\Flagged']);
});
