import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RecipientOutcome } from '../delivery/types.js';
import type { QueueEnvelopeRecord, QueueRecipientRecord } from '../store/types.js';
import { retryDelay, settleOutcome, wantsNotice, type RetryPolicyConfig } from './retry-policy.js';

const config: RetryPolicyConfig = { retryMin: 1000, retryMax: 60_000, delayWarning: 10_000, lifetime: 100_000 };

const message: QueueEnvelopeRecord = {
  queueId: 'Q',
  reversePath: 'alice@example.test',
  blobHash: 'h',
  size: 1,
  receivedAt: 0,
  dsn: { ret: null, envid: null },
  bodyType: null,
  smtpUtf8: false,
  submitterAccountId: null,
  clientIp: '127.0.0.1',
  helo: 'x',
  noticeKind: null,
  finishedAt: null,
};

function recipient(over: Partial<QueueRecipientRecord> = {}): QueueRecipientRecord {
  return {
    id: 1,
    forwardPath: 'bob@remote.test',
    domain: 'remote.test',
    state: 'queued',
    attempts: 1,
    nextAttemptAt: 0,
    leaseOwner: 'w',
    lastError: null,
    lastStatus: null,
    remoteMta: null,
    lastAttemptAt: null,
    remoteDsn: false,
    delayNotified: false,
    noticeDue: null,
    notify: null,
    orcpt: null,
    ...over,
  };
}

function outcome(status: RecipientOutcome['status'], reply: string, over: Partial<RecipientOutcome> = {}): RecipientOutcome {
  return { forwardPath: 'bob@remote.test', status, reply, enhancedCode: reply.split(' ')[1] ?? '4.0.0', remoteMta: 'mx.remote.test', remoteDsn: false, ...over };
}

test('backoff doubles from retry_min to retry_max, with jitter inside ±20%', () => {
  const mid = () => 0.5;
  assert.deepEqual([1, 2, 3, 4, 10, 50].map((n) => retryDelay(n, '421 4.4.2 x', config, mid)), [1000, 2000, 4000, 8000, 60_000, 60_000]);
  assert.equal(retryDelay(3, '421 x', config, () => 0), 3200);
  assert.equal(retryDelay(3, '421 x', config, () => 0.999999), 4800);
  assert.equal(retryDelay(1, '421 x', config, () => 0), 1000, 'never below retry_min');
});

test('greylisting (450/451) is retried after retry_min for its first attempts', () => {
  assert.equal(retryDelay(3, '450 4.2.0 greylisted, try later', config, () => 0.5), 1000);
  assert.equal(retryDelay(3, '451 4.7.1 please retry', config, () => 0.5), 1000);
  assert.equal(retryDelay(5, '450 4.2.0 still greylisted', config, () => 0.5), 16_000);
});

test('NOTIFY: absent means failure and delay; NEVER means nothing', () => {
  assert.deepEqual(['failure', 'delay', 'success'].map((k) => wantsNotice(null, k as 'failure')), [true, true, false]);
  assert.deepEqual(['failure', 'delay', 'success'].map((k) => wantsNotice(['NEVER'], k as 'failure')), [false, false, false]);
  assert.deepEqual(['failure', 'delay', 'success'].map((k) => wantsNotice(['SUCCESS', 'DELAY'], k as 'failure')), [false, true, true]);
});

test('a deferral past delay_warning owes one delay notice; before it, none', () => {
  const early = settleOutcome(message, recipient(), outcome('deferred', '421 4.4.2 busy'), 5000, config, () => 0.5);
  assert.deepEqual([early.state, early.noticeDue, early.nextAttemptAt], ['deferred', null, 6000]);
  const late = settleOutcome(message, recipient({ attempts: 2 }), outcome('deferred', '421 4.4.2 busy'), 20_000, config, () => 0.5);
  assert.deepEqual([late.state, late.noticeDue], ['deferred', 'delay']);
  const again = settleOutcome(message, recipient({ attempts: 3, delayNotified: true }), outcome('deferred', '421 busy'), 30_000, config, () => 0.5);
  assert.equal(again.noticeDue, null, 'only one delay notice');
  const never = settleOutcome(message, recipient({ notify: ['NEVER'] }), outcome('deferred', '421 busy'), 20_000, config, () => 0.5);
  assert.equal(never.noticeDue, null);
});

test('the last retry is at the end of the lifetime; a deferral after it fails with 4.4.7', () => {
  const near = settleOutcome(message, recipient({ attempts: 9 }), outcome('deferred', '421 4.4.2 busy'), 90_000, config, () => 0.5);
  assert.equal(near.nextAttemptAt, 100_000);
  const expired = settleOutcome(message, recipient({ attempts: 10 }), outcome('deferred', '421 4.4.2 busy'), 100_000, config, () => 0.5);
  assert.deepEqual([expired.state, expired.status, expired.noticeDue, expired.reply], ['failed', '4.4.7', 'failure', '421 4.4.2 busy']);
});

test('success notices: "relayed" only when the next hop lacks DSN; mail from <> notifies only postmaster, once', () => {
  const wantsSuccess = recipient({ notify: ['SUCCESS'] });
  assert.equal(settleOutcome(message, wantsSuccess, outcome('delivered', '250 2.0.0 ok', { remoteDsn: true }), 1, config).noticeDue, null);
  assert.equal(settleOutcome(message, wantsSuccess, outcome('delivered', '250 2.0.0 ok'), 1, config).noticeDue, 'success');
  const bounce = { ...message, reversePath: '', noticeKind: 'dsn' as const };
  assert.equal(settleOutcome(bounce, recipient(), outcome('failed', '550 5.1.1 no'), 1, config).noticeDue, 'failure');
  assert.equal(settleOutcome(bounce, recipient(), outcome('deferred', '421 no'), 50_000, config).noticeDue, null);
  const copy = { ...message, reversePath: '', noticeKind: 'postmaster' as const };
  assert.equal(settleOutcome(copy, recipient(), outcome('failed', '550 5.1.1 no'), 1, config).noticeDue, null);
});
