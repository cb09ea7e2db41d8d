import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IncomingMessage, RecipientDsn } from '../types.js';
import { tempStore } from '../../../test/helpers/temp-store.js';

const noDsn: RecipientDsn = { notify: null, orcpt: null };

function queued(queueId: string, recipients: string[], receivedAt = 1000): IncomingMessage {
  return {
    queueId,
    blobHash: 'b'.repeat(64),
    size: 10,
    inlineBody: Buffer.from('Subject: x\r\n\r\nbody\r\n'),
    receivedAt,
    reversePath: 'alice@example.test',
    dsn: { ret: null, envid: null },
    bodyType: null,
    smtpUtf8: false,
    submitterAccountId: null,
    clientIp: '127.0.0.1',
    helo: 'client.test',
    localAccountIds: [],
    remoteRecipients: recipients.map((a) => ({ forwardPath: a, domain: a.split('@')[1], dsn: noDsn })),
  };
}

test('claiming takes only due recipients, makes them ours, and hides them from other owners', async (t) => {
  const { store } = tempStore(t);
  await store.commitIncoming([queued('Q1', ['a@one.test', 'b@two.test'], 1000), queued('Q2', ['c@one.test'], 5000)]);
  assert.equal(await store.nextDueAt(), 1000);
  const first = await store.claimDue({ owner: 'w1', now: 2000, leaseUntil: 60_000, limit: 10, excludeDomains: [] });
  assert.deepEqual(first.map((c) => c.recipient.forwardPath).sort(), ['a@one.test', 'b@two.test']);
  assert.equal(first[0].message.queueId, 'Q1');
  // Leased: not due for anyone else until the lease ends; Q2 is due at 5000.
  assert.equal(await store.nextDueAt(), 5000);
  const second = await store.claimDue({ owner: 'w2', now: 6000, leaseUntil: 60_000, limit: 10, excludeDomains: [] });
  assert.deepEqual(second.map((c) => c.recipient.forwardPath), ['c@one.test']);
  // A lease that ran out makes the work due again for anyone.
  const stolen = await store.claimDue({ owner: 'w3', now: 61_000, leaseUntil: 120_000, limit: 10, excludeDomains: ['two.test'] });
  assert.deepEqual(stolen.map((c) => c.recipient.forwardPath).sort(), ['a@one.test', 'c@one.test']);
});

test('startAttempt counts the attempt only for recipients still owned and pending; a held one loses its lease', async (t) => {
  const { store } = tempStore(t);
  await store.commitIncoming([queued('Q1', ['a@one.test', 'b@one.test'])]);
  const claimed = await store.claimDue({ owner: 'w1', now: 2000, leaseUntil: 60_000, limit: 10, excludeDomains: [] });
  const ids = claimed.map((c) => c.recipient.id);
  await store.hold('Q1');
  assert.deepEqual(await store.startAttempt('w1', ids, 3000, 90_000), []);
  // Released: due at once, not behind the lease the scheduler gave up.
  await store.release('Q1', 3000);
  assert.equal(await store.nextDueAt(), 3000);
  const again = await store.claimDue({ owner: 'w1', now: 3000, leaseUntil: 60_000, limit: 10, excludeDomains: [] });
  assert.equal(again.length, 2);
  assert.deepEqual((await store.startAttempt('w1', ids, 3000, 90_000)).sort(), ids.sort());
  assert.deepEqual(await store.startAttempt('other', ids, 3000, 90_000), []);
  const message = await store.getQueueMessage('Q1');
  assert.deepEqual(message?.recipients.map((r) => r.attempts), [1, 1]);
});

test('after a crash, a recipient held while in flight is released due now', async (t) => {
  const { store } = tempStore(t);
  await store.commitIncoming([queued('Q1', ['a@one.test'])]);
  const [claimed] = await store.claimDue({ owner: 'dead', now: 2000, leaseUntil: 60_000, limit: 10, excludeDomains: [] });
  await store.startAttempt('dead', [claimed.recipient.id], 2000, 90_000);
  await store.hold('Q1');
  assert.equal(await store.recoverLeases(5000), 1);
  await store.release('Q1', 6000);
  assert.equal(await store.nextDueAt(), 6000);
});

test('a notice naming a recipient already reported on is dropped whole', async (t) => {
  const { store } = tempStore(t);
  await store.commitIncoming([queued('Q1', ['x@one.test', 'y@one.test'])]);
  const [x, y] = (await store.getQueueMessage('Q1'))!.recipients.map((r) => r.id);
  await store.bounce('Q1', { reply: 'gone', status: '5.0.0' }, 3000, () => true);
  // Worker 1 reports x; worker 2, which listed x and y before that, must not report x again.
  await store.commitIncoming([{ ...queued('N1', []), reversePath: '', settlesNotices: { recipientIds: [x], kind: 'failure' } }]);
  await store.commitIncoming([{ ...queued('N2', ['s@remote.test']), reversePath: '', settlesNotices: { recipientIds: [x, y], kind: 'failure' } }]);
  assert.equal(await store.getQueueMessage('N2'), null);
  const owed = await store.listPendingNotices(10);
  assert.deepEqual(owed.map((m) => m.recipients.map((r) => r.id)), [[y]]);
});

test('finishing an attempt records outcomes, owed notices and the trace; a finished message leaves mailq', async (t) => {
  const { store } = tempStore(t);
  await store.commitIncoming([queued('Q1', ['a@one.test', 'b@one.test'])]);
  const claimed = await store.claimDue({ owner: 'w1', now: 2000, leaseUntil: 60_000, limit: 10, excludeDomains: [] });
  const [a, b] = claimed.map((c) => c.recipient.id);
  await store.startAttempt('w1', [a, b], 2000, 90_000);
  await store.finishAttempt({
    queueId: 'Q1',
    startedAt: 2000,
    host: 'mx.one.test',
    ip: '127.0.0.9',
    transcript: ['S: 220 hi', 'C: EHLO me'],
    recipients: [
      { recipientId: a, state: 'delivered', reply: '250 2.0.0 ok', status: '2.0.0', remoteMta: 'mx.one.test', remoteDsn: true, nextAttemptAt: 2500, noticeDue: null },
      { recipientId: b, state: 'deferred', reply: '450 4.2.0 greylisted', status: '4.2.0', remoteMta: 'mx.one.test', remoteDsn: true, nextAttemptAt: 9000, noticeDue: null },
    ],
  });
  let m = (await store.getQueueMessage('Q1'))!;
  assert.deepEqual(m.recipients.map((r) => [r.state, r.leaseOwner]), [['delivered', null], ['deferred', null]]);
  assert.equal(m.recipients[1].nextAttemptAt, 9000);
  assert.equal(m.finishedAt, null);
  const attempts = await store.listDeliveryAttempts('Q1');
  assert.deepEqual(attempts.map((x) => [x.forwardPath, x.outcome, x.ip]), [['a@one.test', 'delivered', '127.0.0.9'], ['b@one.test', 'deferred', '127.0.0.9']]);
  assert.equal(attempts[1].transcript, 'S: 220 hi\nC: EHLO me');

  await store.finishAttempt({
    queueId: 'Q1',
    startedAt: 9000,
    host: 'mx.one.test',
    ip: '127.0.0.9',
    transcript: null,
    recipients: [{ recipientId: b, state: 'failed', reply: '550 5.1.1 no', status: '5.1.1', remoteMta: 'mx.one.test', remoteDsn: true, nextAttemptAt: 9000, noticeDue: 'failure' }],
  });
  assert.equal((await store.listQueue()).length, 1, 'a notice is still owed');
  const owed = await store.listPendingNotices(10);
  assert.deepEqual(owed.map((o) => [o.queueId, o.recipients.map((r) => r.noticeDue)]), [['Q1', ['failure']]]);
  // The notice's commit settles the debt and finishes the message.
  await store.commitIncoming([{ ...queued('N1', []), reversePath: '', noticeKind: 'dsn', settlesNotices: { recipientIds: [b], kind: 'failure' } }]);
  m = (await store.getQueueMessage('Q1'))!;
  assert.notEqual(m.finishedAt, null);
  assert.deepEqual(await store.listQueue(), []);
  // A second copy of the same notice (another worker raced us) is dropped, not stored.
  await store.commitIncoming([{ ...queued('N2', ['x@remote.test']), reversePath: '', settlesNotices: { recipientIds: [b], kind: 'failure' } }]);
  assert.equal(await store.getQueueMessage('N2'), null);
});

test('100,000 recipients deferred into the future do not make a due one harder to find', async (t) => {
  const { store } = tempStore(t);
  const batch: IncomingMessage[] = [];
  for (let i = 0; i < 1000; i++) batch.push(queued(`D${i}`, Array.from({ length: 100 }, (_, j) => `u${j}@slow${i}.test`), 10_000_000 + i));
  await store.commitIncoming(batch);
  await store.commitIncoming([queued('NEW', ['fresh@fast.test'], 500)]);
  // The planner must use the partial index on due time (no full scan of the queue).
  const plan = (store as unknown as { db: { prepare(sql: string): { all(...a: unknown[]): Array<{ detail: string }> } } }).db
    .prepare("EXPLAIN QUERY PLAN SELECT id FROM queue_recipients WHERE state IN ('queued', 'deferred') AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 10")
    .all(1000)
    .map((r) => r.detail)
    .join('; ');
  assert.match(plan, /queue_recipients_pending/);
  const claimed = await store.claimDue({ owner: 'w', now: 1000, leaseUntil: 99_000, limit: 10, excludeDomains: [] });
  assert.deepEqual(claimed.map((c) => c.recipient.forwardPath), ['fresh@fast.test']);
  assert.equal(await store.nextDueAt(), 99_000, 'the claimed one is due again when its lease ends');
});

test('retry, hold, release, bounce and delete work as postqueue/postsuper do', async (t) => {
  const { store } = tempStore(t);
  await store.commitIncoming([queued('Q1', ['a@one.test'], 1000), queued('Q2', ['b@two.test'], 1000)]);
  await store.claimDue({ owner: 'w', now: 1000, leaseUntil: 1500, limit: 1, excludeDomains: ['two.test'] });
  await store.recoverLeases(2000);
  assert.equal((await store.getQueueMessage('Q1'))?.recipients[0].leaseOwner, null);
  assert.equal(await store.hold('Q1'), 1);
  assert.equal(await store.retryNow(null, 3000), 1, 'held recipients are not retried');
  assert.deepEqual((await store.claimDue({ owner: 'w', now: 3000, leaseUntil: 9000, limit: 10, excludeDomains: [] })).map((c) => c.message.queueId), ['Q2']);
  assert.equal(await store.release('Q1', 4000), 1);
  assert.equal((await store.getQueueMessage('Q1'))?.recipients[0].state, 'queued');
  assert.equal(await store.bounce('Q1', { reply: 'cancelled', status: '5.0.0' }, 5000, () => true), 1);
  const bounced = (await store.getQueueMessage('Q1'))!.recipients[0];
  assert.deepEqual([bounced.state, bounced.noticeDue, bounced.lastStatus], ['failed', 'failure', '5.0.0']);
  assert.equal(await store.deleteQueueMessage('Q2'), 'b'.repeat(64));
  assert.equal(await store.getQueueMessage('Q2'), null);
  assert.equal(await store.deleteQueueMessage('Q2'), null);
});
