/**
 * Outbound delivery against faulty remote servers (issue #3): the whole server (server A,
 * started in-process on the test network with a real test DNS) delivers to fake MX hosts
 * with scripted faults. Each test checks the end the RFCs ask for through the queue state,
 * the recorded attempts, the notices in the sender's INBOX and what the fake MX received,
 * and ends with the ledger (DESIGN.md §7): every message A took with 250 is delivered
 * byte-identical or has exactly one failure notice, and nothing refused is delivered.
 *
 * Faults that should clear on a retry are scripted with getters that count what the fake
 * MX has seen ("450 to the first RCPT only"), so the number of attempts is deterministic
 * and no test races the scheduler to change a script.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test, type TestContext } from 'node:test';
import { parseDsn, type ParsedDsn } from '../src/dsn/parse-dsn.js';
import type { QueueMessageRecord, QueueRecipientRecord } from '../src/store/types.js';
import { startFakeMx, type FakeMx, type FakeMxOptions, type FakeMxStage, type ReceivedMessage } from './helpers/fake-mx.js';
import { stripReceived, waitFor, type TestServer } from './helpers/harness.js';
import { startMailNetwork, type MailNetwork } from './helpers/mail-network.js';
import { message, submissionTransport } from './helpers/smtp-fixtures.js';

const SENDER = 'alice@a.test';
const REMOTE = 'remote.test';
/** The MX host name net.publish() gives a domain. */
const REMOTE_MX = `mx.${REMOTE}`;
const BOB = `bob@${REMOTE}`;
const CAROL = `carol@${REMOTE}`;

type ServerOverrides = Parameters<MailNetwork['addServer']>[3];

/** One test's world: the network, server A, the fake MXes, and every message A accepted. */
interface Scene {
  net: MailNetwork;
  a: TestServer;
  mxes: FakeMx[];
  sent: Sent[];
}

interface Sent {
  subject: string;
  raw: string;
  to: string[];
  queueId: string;
}

interface DsnRequest {
  notify?: Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'>;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  orcpt?: string;
}

/** A fake MX on the network's common SMTP port; closed after the test. */
async function fakeMx(t: TestContext, net: MailNetwork, host: string, options: FakeMxOptions = {}): Promise<FakeMx> {
  const mx = await startFakeMx({ ...options, host, port: net.smtpPort });
  t.after(() => mx.close());
  return mx;
}

/**
 * The usual setup: remote.test served by one fake MX at 127.0.0.3, and server A (a.test,
 * user alice) at 127.0.0.2. The fake MX is started first, so it is closed first and never
 * keeps a delivery of A waiting while A shuts down.
 */
async function scene(t: TestContext, mxOptions: FakeMxOptions = {}, overrides: ServerOverrides = {}): Promise<Scene & { mx: FakeMx }> {
  const net = await startMailNetwork(t);
  const mx = await fakeMx(t, net, '127.0.0.3', mxOptions);
  net.publish(REMOTE, mx.host);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice'], overrides);
  return { net, a, mxes: [mx], sent: [], mx };
}

/** alice submits a message (587, STARTTLS, AUTH) to `to`; A must take it with 250. */
async function send(s: Scene, to: string[], subject: string, options: { body?: string; dsn?: DsnRequest } = {}): Promise<Sent> {
  const raw = message(subject, options.body);
  const info = await submissionTransport(s.a, SENDER).sendMail({ envelope: { from: SENDER, to }, raw, dsn: options.dsn as never });
  assert.match(info.response, /^250 /, `${subject}: accepted by A`);
  assert.deepEqual(info.rejected, [], `${subject}: no recipient refused by A`);
  const queueId = /queued as ([0-9A-Z]+)/.exec(info.response)![1];
  const sent = { subject, raw, to, queueId };
  s.sent.push(sent);
  return sent;
}

/** The delivery notices in an INBOX, parsed strictly (RFC 3464 / RFC 6522). */
async function notices(server: TestServer, address: string): Promise<ParsedDsn[]> {
  const inbox = await server.inbox(address);
  return inbox.filter((m) => /^Content-Type: multipart\/report/im.test(m.toString('latin1'))).map((m) => parseDsn(m));
}

/** The raw notices in an INBOX. */
async function rawNotices(server: TestServer, address: string): Promise<string[]> {
  return (await server.inbox(address)).map((m) => m.toString('latin1')).filter((m) => /^Content-Type: multipart\/report/im.test(m));
}

async function queued(s: Scene, sent: Sent): Promise<QueueMessageRecord> {
  const m = await s.a.store.getQueueMessage(sent.queueId);
  assert.ok(m, `${sent.subject} is in the queue`);
  return m;
}

function recipientOf(m: QueueMessageRecord, address: string): QueueRecipientRecord {
  const r = m.recipients.find((x) => x.forwardPath === address);
  assert.ok(r, `recipient ${address} of ${m.queueId}`);
  return r;
}

/** Waits until every recipient is final and every notice owed is sent (finishedAt). */
async function finished(s: Scene, sent: Sent, timeoutMs?: number): Promise<QueueMessageRecord> {
  return waitFor(
    async () => {
      const m = await s.a.store.getQueueMessage(sent.queueId);
      return m?.finishedAt ? m : null;
    },
    `"${sent.subject}" finished`,
    timeoutMs,
  );
}

/** Waits until the recipient has had `attempts` attempts and is deferred. */
async function deferred(s: Scene, sent: Sent, address: string): Promise<QueueRecipientRecord> {
  return waitFor(async () => {
    const r = recipientOf(await queued(s, sent), address);
    return r.state === 'deferred' && r.attempts >= 1 ? r : null;
  }, `${address} deferred`);
}

/** The message as the sender wrote it: every Received header stripped off the top. */
function unwrap(body: Buffer): Buffer {
  for (;;) {
    const stripped = stripReceived(body);
    if (stripped.length === body.length) return body;
    body = stripped;
  }
}

/** Final-Recipient as RFC 3464 §2.3.2 / RFC 6533 §3 write it. */
function finalRecipient(address: string): string {
  if (/^[\x20-\x7e]*$/.test(address)) return `rfc822; ${address}`;
  return `utf-8; ${[...address].map((c) => (c.codePointAt(0)! > 0x7e ? `\\x{${c.codePointAt(0)!.toString(16).toUpperCase()}}` : c)).join('')}`;
}

function failuresFor(all: ParsedDsn[], sent: Sent, address: string): ParsedDsn[] {
  return all.filter(
    (d) =>
      d.perMessage['x-posta-queue-id'] === sent.queueId &&
      d.perRecipient.some((r) => r.action === 'failed' && r['final-recipient'] === finalRecipient(address)),
  );
}

/** Copies of a message the fake MXes accepted for a recipient. */
function copiesFor(s: Scene, sent: Sent, address: string): ReceivedMessage[] {
  return s.mxes
    .flatMap((mx) => mx.messages)
    .filter((m) => m.accepted && m.to.includes(address) && m.body.includes(`\r\nSubject: ${sent.subject}\r\n`));
}

/**
 * The ledger (DESIGN.md §7). Every message A took with 250 ends, for each recipient, either
 * delivered at a fake MX (byte-identical once the Received headers are off) and without a
 * failure notice, or failed with exactly one failure notice and never accepted by a fake
 * MX. Every message a fake MX accepted is one A took, for recipients it was sent to.
 */
async function checkLedger(s: Scene): Promise<void> {
  for (const sent of s.sent) await finished(s, sent);
  const all = await notices(s.a, SENDER);
  for (const sent of s.sent) {
    const m = await queued(s, sent);
    for (const address of sent.to) {
      const copies = copiesFor(s, sent, address);
      for (const copy of copies) assert.equal(unwrap(copy.body).toString('utf8'), sent.raw, `${sent.subject} → ${address}: byte-identical`);
      const failures = failuresFor(all, sent, address);
      const state = recipientOf(m, address).state;
      if (state === 'delivered') {
        assert.ok(copies.length >= 1, `${sent.subject} → ${address}: delivered, so a fake MX has it`);
        assert.equal(failures.length, 0, `${sent.subject} → ${address}: delivered, so no failure notice`);
      } else {
        assert.equal(state, 'failed', `${sent.subject} → ${address}: final`);
        assert.equal(failures.length, 1, `${sent.subject} → ${address}: exactly one failure notice`);
        assert.equal(copies.length, 0, `${sent.subject} → ${address}: refused, so never delivered`);
      }
    }
  }
  for (const mx of s.mxes) {
    for (const got of mx.messages.filter((x) => x.accepted)) {
      const origin = s.sent.find((sent) => got.body.includes(`\r\nSubject: ${sent.subject}\r\n`));
      assert.ok(origin, `${mx.host} accepted only messages A took`);
      for (const to of got.to) assert.ok(origin.to.includes(to), `${mx.host}: ${to} is a recipient of "${origin.subject}"`);
    }
  }
}

// ---------------------------------------------------------------------------

test('421 at the greeting of the primary MX: the backup MX (higher preference) gets the mail at once', async (t) => {
  const net = await startMailNetwork(t);
  const primary = await fakeMx(t, net, '127.0.0.3', { script: { greeting: 421 } });
  const backup = await fakeMx(t, net, '127.0.0.4');
  net.dns.zone.mx(REMOTE, [
    { preference: 20, exchange: 'mx2.remote.test' },
    { preference: 10, exchange: 'mx1.remote.test' },
  ]);
  net.dns.zone.a('mx1.remote.test', [primary.host]);
  net.dns.zone.a('mx2.remote.test', [backup.host]);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice']);
  const s: Scene = { net, a, mxes: [primary, backup], sent: [] };

  const sent = await send(s, [BOB], 'via the backup');
  const m = await finished(s, sent);
  const bob = recipientOf(m, BOB);
  assert.equal(bob.state, 'delivered');
  assert.equal(bob.attempts, 1, 'one attempt: the 421 host is skipped within it (RFC 5321 §5.1)');
  assert.equal(bob.remoteMta, 'mx2.remote.test');
  const attempts = await a.store.listDeliveryAttempts(sent.queueId);
  assert.equal(attempts.length, 1);
  assert.equal(attempts[0].outcome, 'delivered');
  assert.equal(attempts[0].host, 'mx2.remote.test');
  assert.equal(attempts[0].ip, backup.host);
  assert.ok(primary.connectionsOpened >= 1, 'the primary was tried first');
  assert.equal(primary.messages.length, 0);
  assert.ok(!primary.commands.some((c) => /^MAIL /i.test(c)), 'no transaction with the 421 host');
  assert.equal(backup.messages.length, 1);
  assert.deepEqual(backup.messages[0].to, [BOB]);
  assert.deepEqual(await notices(a, SENDER), []);
  await checkLedger(s);
});

test('450 at RCPT (greylisting) once: deferred, retried after retry_min, delivered; both attempts and the 450 transcript kept', async (t) => {
  const s = await scene(t);
  const rcpts = () => s.mx.commands.filter((c) => /^RCPT /i.test(c)).length;
  s.mx.script({
    get rcpt() {
      return rcpts() <= 1 ? { [BOB]: '450 4.2.0 <bob@remote.test>: greylisted, try again later' } : undefined;
    },
  });
  const sent = await send(s, [BOB], 'greylisted');
  const m = await finished(s, sent);
  const bob = recipientOf(m, BOB);
  assert.equal(bob.state, 'delivered');
  assert.equal(bob.attempts, 2);

  const attempts = await s.a.store.listDeliveryAttempts(sent.queueId);
  assert.equal(attempts.length, 2);
  const [first, second] = attempts;
  assert.equal(first.outcome, 'deferred');
  assert.equal(first.status, '4.2.0');
  assert.match(first.reply ?? '', /^450 4\.2\.0 <bob@remote\.test>: greylisted/);
  assert.equal(first.host, REMOTE_MX);
  assert.ok(first.transcript, 'the transcript of the failed attempt is kept');
  assert.match(first.transcript, /S: 450 4\.2\.0 <bob@remote\.test>: greylisted/);
  assert.match(first.transcript, /C: RCPT TO:<bob@remote\.test>/);
  assert.equal(second.outcome, 'delivered');
  // A lower bound only (the policy's, never a measured duration): not before retry_min.
  assert.ok(second.startedAt - first.startedAt >= 200, 'the retry waits at least retry_min');
  const shown = await s.a.queueAdmin.show(sent.queueId);
  assert.deepEqual(
    shown.attempts.map((x) => x.outcome),
    ['deferred', 'delivered'],
  );

  assert.equal(s.mx.messages.length, 1, 'the 450 attempt sent no message');
  assert.deepEqual(await notices(s.a, SENDER), [], 'a greylisting delay asks for no notice');
  await checkLedger(s);
});

test('550 at RCPT for one of two recipients: that one fails with one notice, the other is delivered', async (t) => {
  const s = await scene(t, { script: { rcpt: { [CAROL]: '550 5.1.1 <carol@remote.test>: Recipient address rejected: User unknown' } } });
  const sent = await send(s, [BOB, CAROL], 'one of two');
  const m = await finished(s, sent);
  assert.equal(recipientOf(m, BOB).state, 'delivered');
  const carol = recipientOf(m, CAROL);
  assert.equal(carol.state, 'failed');
  assert.equal(carol.attempts, 1, 'a 5xx is not retried');

  const all = await notices(s.a, SENDER);
  assert.equal(all.length, 1, 'one notice only');
  const [dsn] = all;
  assert.equal(dsn.reportType, 'delivery-status');
  assert.match(dsn.headers.from, /MAILER-DAEMON@mx\.a\.test/);
  assert.equal(dsn.perMessage['reporting-mta'], 'dns; mx.a.test');
  assert.equal(dsn.perRecipient.length, 1, 'only the failed recipient is reported');
  const r = dsn.perRecipient[0];
  assert.equal(r['final-recipient'], 'rfc822; carol@remote.test');
  assert.equal(r.action, 'failed');
  assert.equal(r.status, '5.1.1');
  assert.equal(r['remote-mta'], `dns; ${REMOTE_MX}`);
  assert.equal(r['diagnostic-code'], 'smtp; 550 5.1.1 <carol@remote.test>: Recipient address rejected: User unknown');
  assert.equal(dsn.returned?.type, 'message/rfc822', 'RET absent: the whole message comes back');
  assert.match(dsn.returned!.content, /Subject: one of two/);

  assert.equal(s.mx.messages.length, 1);
  assert.deepEqual(s.mx.messages[0].to, [BOB]);
  await checkLedger(s);
});

test('452 at RCPT (too many recipients): that recipient is deferred and retried in a later transaction', async (t) => {
  const s = await scene(t);
  const carolRcpts = () => s.mx.commands.filter((c) => /^RCPT TO:<carol@/i.test(c)).length;
  s.mx.script({
    get rcpt() {
      return carolRcpts() <= 1 ? { [CAROL]: '452 4.5.3 Too many recipients' } : undefined;
    },
  });
  const sent = await send(s, [BOB, CAROL], 'four five two');
  const m = await finished(s, sent);
  assert.equal(recipientOf(m, BOB).state, 'delivered');
  assert.equal(recipientOf(m, BOB).attempts, 1);
  const carol = recipientOf(m, CAROL);
  assert.equal(carol.state, 'delivered');
  assert.equal(carol.attempts, 2);
  const carolAttempts = (await s.a.store.listDeliveryAttempts(sent.queueId)).filter((x) => x.forwardPath === CAROL);
  assert.deepEqual(
    carolAttempts.map((x) => [x.outcome, x.status]),
    [
      ['deferred', '4.5.3'],
      ['delivered', '2.0.0'],
    ],
  );
  assert.deepEqual(
    s.mx.messages.map((x) => x.to),
    [[BOB], [CAROL]],
    'bob in the first transaction, carol alone in the retry',
  );
  assert.deepEqual(await notices(s.a, SENDER), []);
  await checkLedger(s);
});

test('451 after the final dot once: deferred, sent again and delivered', async (t) => {
  const s = await scene(t);
  s.mx.script({
    get afterData() {
      return s.mx.messages.length === 0 ? '451 4.3.0 Temporary local problem, try again' : undefined;
    },
  });
  const sent = await send(s, [BOB], 'four five one');
  const m = await finished(s, sent);
  const bob = recipientOf(m, BOB);
  assert.equal(bob.state, 'delivered');
  assert.equal(bob.attempts, 2);
  const attempts = await s.a.store.listDeliveryAttempts(sent.queueId);
  assert.equal(attempts[0].outcome, 'deferred');
  assert.equal(attempts[0].status, '4.3.0');
  assert.match(attempts[0].reply ?? '', /^451 4\.3\.0 Temporary local problem/);
  assert.match(attempts[0].transcript ?? '', /S: 451 4\.3\.0 Temporary local problem/);
  assert.equal(s.mx.messages.length, 2);
  assert.equal(s.mx.messages[0].accepted, false);
  assert.equal(s.mx.messages[1].accepted, true);
  assert.deepEqual(await notices(s.a, SENDER), []);
  await checkLedger(s);
});

test('554 after the final dot: failed at once, the notice carries the 554 text as Diagnostic-Code', async (t) => {
  const s = await scene(t, { script: { afterData: '554 5.7.1 Message rejected: spam score too high' } });
  const sent = await send(s, [BOB], 'five five four');
  const m = await finished(s, sent);
  const bob = recipientOf(m, BOB);
  assert.equal(bob.state, 'failed');
  assert.equal(bob.attempts, 1);
  const all = await notices(s.a, SENDER);
  assert.equal(all.length, 1);
  const r = all[0].perRecipient[0];
  assert.equal(r.action, 'failed');
  assert.equal(r.status, '5.7.1');
  assert.equal(r['remote-mta'], `dns; ${REMOTE_MX}`);
  assert.equal(r['diagnostic-code'], 'smtp; 554 5.7.1 Message rejected: spam score too high');
  assert.equal(s.mx.messages.length, 1, 'the body went once, and was refused');
  assert.equal(s.mx.messages[0].accepted, false);
  await checkLedger(s);
});

test('connection dropped after the body, before the reply: deferred and sent again (at-least-once)', async (t) => {
  const s = await scene(t);
  s.mx.script({
    get dropAfterData() {
      return s.mx.messages.length === 0;
    },
  });
  const sent = await send(s, [BOB], 'dropped after dot');
  const m = await finished(s, sent);
  const bob = recipientOf(m, BOB);
  assert.equal(bob.state, 'delivered');
  assert.equal(bob.attempts, 2);
  const attempts = await s.a.store.listDeliveryAttempts(sent.queueId);
  assert.equal(attempts[0].outcome, 'deferred');
  assert.equal(attempts[0].status, '4.4.2');
  assert.match(attempts[0].reply ?? '', /lost connection with mx\.remote\.test\[127\.0\.0\.3\] while waiting for reply to end of DATA/);
  // The MX may well have it already: the duplicate is the price of never losing mail.
  assert.ok(s.mx.messages.length >= 2, 'sent again');
  assert.equal(s.mx.messages[0].reply, null);
  assert.equal(s.mx.messages.at(-1)!.accepted, true);
  for (const copy of s.mx.messages) assert.equal(unwrap(copy.body).toString(), sent.raw);
  assert.deepEqual(await notices(s.a, SENDER), []);
  await checkLedger(s);
});

const STALLS: Array<[FakeMxStage, RegExp]> = [
  ['greeting', /timed out while receiving the initial server greeting/],
  ['ehlo', /timed out while waiting for reply to EHLO/],
  ['mail', /timed out while waiting for reply to MAIL FROM/],
  ['rcpt', /timed out while waiting for reply to RCPT TO/],
  ['data', /timed out while waiting for reply to DATA/],
  ['dot', /timed out while waiting for reply to end of DATA/],
];

test('a stall at each stage times out (4.4.2, deferred) and the mail goes once the MX answers again', { concurrency: true }, async (t) => {
  // The stages run side by side, each on its own network, to keep the file fast.
  await Promise.all(
    STALLS.map(([stage, timeoutText]) =>
      t.test(`stall at ${stage}`, async (st) => {
        const s = await scene(st, { script: { stall: stage } }, { delivery: { connect_timeout: '1s', command_timeout: '1s', data_timeout: '1s' } });
        const sent = await send(s, [BOB], `stalled at ${stage}`);
        const bob = await deferred(s, sent, BOB);
        assert.equal(bob.lastStatus, '4.4.2');
        assert.match(bob.lastError ?? '', timeoutText);
        const [first] = await s.a.store.listDeliveryAttempts(sent.queueId);
        assert.equal(first.outcome, 'deferred');
        assert.equal(first.status, '4.4.2');
        assert.match(first.reply ?? '', timeoutText);
        assert.match(first.transcript ?? '', /\* timeout while /);
        // The remote end recovers: the next retry gets through.
        s.mx.script({});
        const m = await finished(s, sent);
        assert.equal(recipientOf(m, BOB).state, 'delivered');
        assert.ok(recipientOf(m, BOB).attempts >= 2);
        if (stage === 'dot') {
          assert.equal(s.mx.messages[0].reply, null, 'the stalled copy got no reply');
          assert.ok(s.mx.messages.length >= 2, 'at-least-once: the body went again');
        } else {
          assert.ok(s.mx.messages.every((x) => x.accepted));
        }
        assert.deepEqual(await notices(s.a, SENDER), []);
        await checkLedger(s);
      }),
    ),
  );
});

test('a failed TLS handshake after STARTTLS: delivered in plaintext on a new connection', async (t) => {
  const s = await scene(t, { starttls: true, script: { tlsHandshakeFailure: true } });
  const sent = await send(s, [BOB], 'tls fallback');
  const m = await finished(s, sent);
  const bob = recipientOf(m, BOB);
  assert.equal(bob.state, 'delivered');
  assert.equal(bob.attempts, 1, 'the fallback is part of the same attempt');
  assert.equal(s.mx.messages.length, 1);
  assert.equal(s.mx.messages[0].tls, false);
  assert.equal(s.mx.commands.filter((c) => c === 'STARTTLS').length, 1, 'STARTTLS tried once, not again on the plaintext retry');
  assert.equal(s.mx.connectionsOpened, 2);
  await checkLedger(s);
});

test('NOTIFY=SUCCESS to a next hop without DSN: A sends a "relayed" notice and no DSN parameters', async (t) => {
  const s = await scene(t, { dsn: false });
  const sent = await send(s, [BOB], 'relayed one', { dsn: { notify: ['SUCCESS', 'FAILURE'], envid: 'relay-1' } });
  await finished(s, sent);
  const all = await notices(s.a, SENDER);
  assert.equal(all.length, 1);
  const [dsn] = all;
  assert.equal(dsn.perMessage['reporting-mta'], 'dns; mx.a.test', 'A reports: the next hop cannot (RFC 3461 §6.2.1)');
  assert.equal(dsn.perMessage['original-envelope-id'], 'relay-1');
  assert.equal(dsn.perRecipient.length, 1);
  const r = dsn.perRecipient[0];
  assert.equal(r.action, 'relayed');
  assert.equal(r['final-recipient'], 'rfc822; bob@remote.test');
  assert.match(r.status, /^2\.\d+\.\d+$/);
  assert.equal(r['remote-mta'], `dns; ${REMOTE_MX}`);
  assert.match(r['diagnostic-code'] ?? '', /^smtp; 250 /);
  // Nothing the peer did not offer went on the wire.
  const [got] = s.mx.messages;
  assert.deepEqual(Object.keys(got.mailParams), []);
  assert.deepEqual(Object.keys(got.rcptParams[0]), []);
  await checkLedger(s);
});

test('NOTIFY/ORCPT/ENVID/RET go on to a next hop with DSN, and A itself sends no notice', async (t) => {
  const s = await scene(t, { dsn: true });
  const sent = await send(s, [BOB], 'dsn passed on', {
    dsn: { notify: ['SUCCESS', 'FAILURE'], ret: 'HDRS', envid: 'env id+1', orcpt: 'rfc822;bob@remote.test' },
  });
  const m = await finished(s, sent);
  const bob = recipientOf(m, BOB);
  assert.equal(bob.state, 'delivered');
  assert.equal(bob.remoteDsn, true);
  const [got] = s.mx.messages;
  assert.equal(got.mailParams.RET, 'HDRS');
  assert.equal(got.mailParams.ENVID, 'env+20id+2B1', 'ENVID as xtext (RFC 3461 §4.4)');
  assert.equal(got.rcptParams.length, 1);
  const notify = got.rcptParams[0].NOTIFY;
  assert.equal(typeof notify, 'string');
  assert.deepEqual((notify as string).split(',').sort(), ['FAILURE', 'SUCCESS']);
  assert.equal(got.rcptParams[0].ORCPT, 'rfc822;bob@remote.test');
  assert.deepEqual(await notices(s.a, SENDER), [], 'the next hop reports success, not A');
  await checkLedger(s);
});

test('SIZE: a peer that announces a smaller limit gets no DATA; the sender gets a 5.3.4 failure notice', async (t) => {
  const s = await scene(t, { size: 300 });
  const sent = await send(s, [BOB], 'too big for them', { body: 'x'.repeat(70) + '\r\n' + 'y'.repeat(400) });
  const m = await finished(s, sent);
  assert.equal(recipientOf(m, BOB).state, 'failed');
  const all = await notices(s.a, SENDER);
  assert.equal(all.length, 1);
  const r = all[0].perRecipient[0];
  assert.equal(r.action, 'failed');
  assert.equal(r.status, '5.3.4');
  assert.equal(r['remote-mta'], `dns; ${REMOTE_MX}`);
  assert.match(r['diagnostic-code'] ?? '', /size limit 300/);
  assert.ok(s.mx.commands.some((c) => /^EHLO /.test(c)), 'the peer was asked what it takes');
  assert.ok(!s.mx.commands.some((c) => /^(MAIL|DATA)\b/i.test(c)), 'no transaction, no DATA');
  assert.equal(s.mx.messages.length, 0);
  await checkLedger(s);
});

test('SMTPUTF8: an internationalized recipient at a peer without SMTPUTF8 fails 5.6.7; the ASCII one is delivered', async (t) => {
  const s = await scene(t, { smtputf8: false });
  const joze = `jože@${REMOTE}`;
  const sent = await send(s, [joze, BOB], 'utf8 recipient');
  const m = await finished(s, sent);
  assert.equal(m.smtpUtf8, true, 'nodemailer declared SMTPUTF8 on submission');
  assert.equal(recipientOf(m, joze).state, 'failed');
  assert.equal(recipientOf(m, BOB).state, 'delivered');
  const all = await notices(s.a, SENDER);
  assert.equal(all.length, 1);
  assert.equal(all[0].perRecipient.length, 1);
  const r = all[0].perRecipient[0];
  assert.equal(r['final-recipient'], 'utf-8; jo\\x{17E}e@remote.test');
  assert.equal(r.action, 'failed');
  assert.equal(r.status, '5.6.7');
  assert.equal(r['remote-mta'], `dns; ${REMOTE_MX}`);
  // The non-ASCII address never reached the peer's wire; bob's copy went without SMTPUTF8.
  assert.ok(!s.mx.commands.some((c) => /[^\x00-\x7f]/.test(c)));
  assert.equal(s.mx.messages.length, 1);
  assert.deepEqual(s.mx.messages[0].to, [BOB]);
  assert.equal(s.mx.messages[0].mailParams.SMTPUTF8, undefined);
  await checkLedger(s);
});

test('a 550 reply with header-like lines cannot inject header fields into the failure notice', async (t) => {
  const evil = [
    '550-5.1.1 <bob@remote.test>: no such user\rBcc: cr@evil.test',
    '550-Bcc: injected@evil.test',
    '550-',
    '550 Subject: injected',
  ].join('\n');
  const s = await scene(t, { script: { rcpt: { [BOB]: evil } } });
  const sent = await send(s, [BOB], 'injection attempt');
  const m = await finished(s, sent);
  assert.equal(recipientOf(m, BOB).state, 'failed');
  const raw = await rawNotices(s.a, SENDER);
  assert.equal(raw.length, 1);
  const dsn = parseDsn(raw[0]); // strict: bare CR/LF, 8-bit or duplicate fields would throw
  assert.equal(dsn.headers.bcc, undefined, 'no Bcc header');
  assert.notEqual(dsn.subject, 'injected');
  assert.doesNotMatch(raw[0], /^Bcc:/im, 'no line of the notice starts a Bcc field');
  assert.doesNotMatch(raw[0], /^Subject: injected/im);
  assert.doesNotMatch(raw[0], /\r(?!\n)|(?<!\r)\n/, 'no bare CR or LF');
  const r = dsn.perRecipient[0];
  assert.equal(r.bcc, undefined);
  assert.equal(r.subject, undefined);
  assert.equal(r.status, '5.1.1');
  assert.match(r['diagnostic-code'] ?? '', /^smtp; 550 5\.1\.1 <bob@remote\.test>: no such user Bcc: cr@evil\.test Bcc: injected@evil\.test Subject: injected$/);
  // Nothing was sent anywhere because of it.
  assert.deepEqual(await s.a.store.listQueue(), []);
  assert.equal((await s.a.inbox(SENDER)).length, 1);
  await checkLedger(s);
});

/**
 * Ten messages to one slow MX with max_connections_per_domain = 2. `pace` says how they are
 * submitted: all at once (the scheduler then leaves the destination's due recipients in the
 * queue while 4 jobs wait in memory), or paced so that no more than 3 ever wait.
 */
async function connectionCap(t: TestContext, pace: boolean): Promise<void> {
  const net = await startMailNetwork(t);
  const back = await startFakeMx({ host: '127.0.0.1' });
  t.after(() => back.close());
  const slow = await slowMx(t, net, '127.0.0.3', back, 100);
  net.publish(REMOTE, slow.front.host);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice'], { delivery: { max_connections_per_domain: 2 } });
  const s: Scene = { net, a, mxes: [back], sent: [] };

  const accepted = () => back.messages.filter((x) => x.accepted).length;
  const sent: Sent[] = [];
  if (pace) {
    // The first four at once (A claims them without excluding the domain: fewer than 4
    // wait), then each only when at most 3 earlier ones are not yet at the MX.
    sent.push(...(await Promise.all(Array.from({ length: 4 }, (_, i) => send(s, [BOB], `burst ${i + 1}`)))));
    for (let i = 4; i < 10; i++) {
      await waitFor(() => accepted() >= i - 3, `${i - 3} messages at the MX`);
      sent.push(await send(s, [BOB], `burst ${i + 1}`));
    }
  } else {
    sent.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => send(s, [BOB], `burst ${i + 1}`)))));
  }
  for (const one of sent) assert.equal(recipientOf(await finished(s, one), BOB).state, 'delivered');
  assert.equal(accepted(), 10);
  assert.equal(slow.maxOpen(), 2, 'two connections at a time: the cap was reached, never passed');
  assert.ok(slow.front.connectionsOpened >= 2);
  assert.deepEqual(await notices(a, SENDER), []);
  await checkLedger(s);
}

test('max_connections_per_domain = 2: ten messages to a slow MX never use more than 2 connections, and all arrive', async (t) => {
  await connectionCap(t, true);
});

test('max_connections_per_domain = 2: a burst of ten messages at once to a slow MX (the destination is skipped while 4 wait)', async (t) => {
  await connectionCap(t, false);
});

/**
 * A slow MX: a fake MX at `host` (on the network's port) that relays each connection to
 * `back`, passing every chunk `back` sends on after `delayMs` (in order). It notes the most
 * connections it had open at once: a peak can only begin when a connection opens.
 */
async function slowMx(t: TestContext, net: MailNetwork, host: string, back: FakeMx, delayMs: number) {
  let maxOpen = 0;
  const front: FakeMx = await fakeMx(t, net, host, {
    script: {
      raw: (client) => {
        maxOpen = Math.max(maxOpen, front.openConnections);
        const upstream = connect({ host: back.host, port: back.port });
        let chain = Promise.resolve();
        const later = (fn: () => void) => {
          chain = chain.then(() => new Promise<void>((resolve) => setTimeout(resolve, delayMs))).then(fn);
        };
        upstream.on('data', (chunk) => later(() => client.write(chunk)));
        upstream.on('end', () => later(() => client.end()));
        upstream.on('error', () => client.destroy());
        client.on('data', (chunk) => upstream.write(chunk));
        client.on('end', () => upstream.end());
        client.on('error', () => undefined);
        client.once('close', () => upstream.destroy());
      },
    },
  });
  return { front, maxOpen: () => maxOpen };
}
