/**
 * Outbound delivery end to end (issue #3): real posta servers on 127.0.0.2/3/..., a real
 * DNS server on loopback, users sending through submission, notices checked field by field
 * against RFC 3464.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDsn, type ParsedDsn } from '../src/dsn/parse-dsn.js';
import { stripReceived, waitFor, type TestServer } from './helpers/harness.js';
import { startMailNetwork } from './helpers/mail-network.js';
import { startFakeMx } from './helpers/fake-mx.js';
import { message, submissionTransport } from './helpers/smtp-fixtures.js';

/** The delivery notices in an INBOX, parsed. */
async function notices(server: TestServer, address: string): Promise<ParsedDsn[]> {
  const inbox = await server.inbox(address);
  return inbox.filter((m) => /^Content-Type: multipart\/report/im.test(m.toString('latin1'))).map((m) => parseDsn(m));
}

function send(server: TestServer, from: string, to: string[], raw: string, dsn?: { notify?: string[]; ret?: 'FULL' | 'HDRS'; envid?: string }) {
  return submissionTransport(server, from).sendMail({ envelope: { from, to }, raw, dsn: dsn as never });
}

test('a user of A sends to a user of B, who reads it on B and answers', async (t) => {
  const net = await startMailNetwork(t);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice']);
  const b = await net.addServer('127.0.0.3', 'b.test', ['bob']);
  const raw = message('hello from A', 'Hi Bob,\r\n.dot-stuffed line\r\nbye');
  await send(a, 'alice@a.test', ['bob@b.test'], raw);
  const [got] = await waitFor(async () => {
    const inbox = await b.inbox('bob@b.test');
    return inbox.length > 0 ? inbox : null;
  }, "bob's INBOX on B");
  // B prepends its Received header to A's: strip both, the rest is byte-identical.
  assert.equal(stripReceived(stripReceived(got)).toString(), raw);
  assert.match(got.toString(), /^Received: from mx\.a\.test \([^\n]*\n \(using TLS/m, "A used STARTTLS and said EHLO mx.a.test");

  await send(b, 'bob@b.test', ['alice@a.test'], message('re: hello'));
  await waitFor(async () => (await a.inbox('alice@a.test')).length === 1, "alice's INBOX on A");
  await waitFor(async () => (await a.store.listQueue()).length === 0 && (await b.store.listQueue()).length === 0, 'empty queues');
  // Nobody got a notice: plain delivery asks for none.
  assert.deepEqual(await notices(a, 'alice@a.test'), []);
  assert.deepEqual(await notices(b, 'bob@b.test'), []);
});

test('seed scenario: B is down, alice gets one "delayed" notice, B comes back and gets the mail; a domain that never recovers ends in one "failed" notice', async (t) => {
  const net = await startMailNetwork(t);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice'], {
    queue: { retry_min: '200ms', retry_max: '400ms', delay_warning: '2s', lifetime: '12s' },
  });
  net.publish('b.test', '127.0.0.3'); // nobody listens there yet
  net.publish('never.test', '127.0.0.4'); // nobody ever will
  const toBob = await send(a, 'alice@a.test', ['bob@b.test'], message('to bob'), { envid: 'ENV-BOB-1' });
  const toCarol = await send(a, 'alice@a.test', ['carol@never.test'], message('to carol'), { notify: ['FAILURE', 'DELAY'], ret: 'HDRS' });
  const bobQueueId = /queued as ([0-9A-Z]+)/.exec(toBob.response)![1];
  const carolQueueId = /queued as ([0-9A-Z]+)/.exec(toCarol.response)![1];

  // Past delay_warning: one "delayed" notice per message, in alice's INBOX.
  const delayed = await waitFor(async () => {
    const found = await notices(a, 'alice@a.test');
    return found.length >= 2 ? found : null;
  }, 'two delay notices');
  for (const dsn of delayed) {
    assert.equal(dsn.reportType, 'delivery-status');
    assert.match(dsn.headers.from, /MAILER-DAEMON@mx\.a\.test/);
    assert.equal(dsn.headers['auto-submitted'], 'auto-replied');
    assert.equal(dsn.perMessage['reporting-mta'], 'dns; mx.a.test');
    assert.ok(dsn.perMessage['arrival-date'], 'Arrival-Date');
    assert.equal(dsn.perRecipient.length, 1);
    const rcpt = dsn.perRecipient[0];
    assert.equal(rcpt.action, 'delayed');
    assert.match(rcpt.status, /^4\.4\.\d$/);
    assert.ok(rcpt['will-retry-until'], 'Will-Retry-Until says until when we try');
    assert.ok(Date.parse(rcpt['will-retry-until']) > Date.parse(dsn.perMessage['arrival-date']));
    assert.ok(rcpt['last-attempt-date']);
    // What happens next, in plain words.
    assert.match(dsn.humanText, /keep trying/i);
  }
  const bobDelay = delayed.find((d) => d.perRecipient[0]['final-recipient'] === 'rfc822; bob@b.test')!;
  assert.equal(bobDelay.perMessage['original-envelope-id'], 'ENV-BOB-1');
  assert.equal(bobDelay.returned?.type, 'text/rfc822-headers', 'a delay notice returns only the headers');

  // B comes back: the retry delivers the message.
  const b = await net.addServer('127.0.0.3', 'b.test', ['bob']);
  await waitFor(async () => (await b.inbox('bob@b.test')).length === 1, 'delivery to B after it came back');
  await waitFor(async () => (await a.store.getQueueMessage(bobQueueId))?.finishedAt, 'bob message finished');

  // never.test: after the lifetime, one "failed" notice.
  await waitFor(async () => (await a.store.getQueueMessage(carolQueueId))?.finishedAt, 'carol message given up', 30_000);
  const all = await notices(a, 'alice@a.test');
  const failed = all.filter((d) => d.perRecipient[0].action === 'failed');
  assert.equal(failed.length, 1, 'exactly one failed notice');
  assert.equal(all.filter((d) => d.perRecipient[0].action === 'delayed').length, 2, 'and no more delay notices');
  const [fail] = failed;
  assert.equal(fail.perRecipient[0]['final-recipient'], 'rfc822; carol@never.test');
  assert.equal(fail.perRecipient[0].status, '4.4.7');
  assert.match(fail.perRecipient[0]['diagnostic-code'] ?? '', /127\.0\.0\.4|refused|connect/i);
  assert.equal(fail.returned?.type, 'text/rfc822-headers', 'RET=HDRS honoured');
  assert.match(fail.returned!.content, /Subject: to carol/);
  assert.doesNotMatch(fail.returned!.content, /Hello\./, 'no body with RET=HDRS');
  assert.match(fail.humanText, /carol@never\.test/);
  assert.equal((await a.store.getQueueMessage(carolQueueId))!.recipients[0].state, 'failed');
  assert.equal((await a.store.getQueueMessage(bobQueueId))!.recipients[0].state, 'delivered');
});

test('null MX fails at once with 5.1.10, NXDOMAIN fails with 5.1.2, SERVFAIL is retried (4.4.3)', async (t) => {
  const net = await startMailNetwork(t);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice']);
  net.dns.zone.nullMx('nomail.test');
  net.dns.zone.servfail('broken.test');
  await send(a, 'alice@a.test', ['x@nomail.test'], message('to null mx'));
  await send(a, 'alice@a.test', ['y@nosuchdomain.test'], message('to nxdomain'));
  const toBroken = await send(a, 'alice@a.test', ['z@broken.test'], message('to servfail'));
  const failed = await waitFor(async () => {
    const found = await notices(a, 'alice@a.test');
    return found.length >= 2 ? found : null;
  }, 'two failure notices');
  const byRecipient = new Map(failed.map((d) => [d.perRecipient[0]['final-recipient'], d.perRecipient[0]]));
  assert.equal(byRecipient.get('rfc822; x@nomail.test')?.status, '5.1.10');
  assert.equal(byRecipient.get('rfc822; x@nomail.test')?.action, 'failed');
  assert.equal(byRecipient.get('rfc822; y@nosuchdomain.test')?.status, '5.1.2');
  const brokenId = /queued as ([0-9A-Z]+)/.exec(toBroken.response)![1];
  const broken = await waitFor(async () => {
    const r = (await a.store.getQueueMessage(brokenId))!.recipients[0];
    return r.attempts >= 2 ? r : null;
  }, 'servfail retried');
  assert.equal(broken.state, 'deferred');
  assert.equal(broken.lastStatus, '4.4.3');
  assert.equal(failed.length, 2, 'no notice for the temporary failure (delay_warning not reached)');
});

test('NOTIFY=SUCCESS to a server with DSN: the receiving server reports "delivered"', async (t) => {
  const net = await startMailNetwork(t);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice']);
  const b = await net.addServer('127.0.0.3', 'b.test', ['bob']);
  await send(a, 'alice@a.test', ['bob@b.test'], message('please confirm'), { notify: ['SUCCESS'], envid: 'confirm-1' });
  const [report] = await waitFor(async () => {
    const found = await notices(a, 'alice@a.test');
    return found.length > 0 ? found : null;
  }, 'success notice');
  assert.equal(report.perMessage['reporting-mta'], 'dns; mx.b.test', 'B, the final hop, reports (RFC 3461 §6.2)');
  assert.equal(report.perMessage['original-envelope-id'], 'confirm-1', 'ENVID passed on to B');
  assert.equal(report.perRecipient[0].action, 'delivered');
  assert.equal(report.perRecipient[0].status, '2.0.0');
  assert.equal((await b.inbox('bob@b.test')).length, 1);
  // A itself sends no "relayed" notice: the next hop took the NOTIFY request.
  await waitFor(async () => (await a.store.listQueue()).length === 0, 'A done');
  assert.equal((await notices(a, 'alice@a.test')).length, 1);
});

test('a failed message from <> is reported to postmaster once, never to its sender', async (t) => {
  const net = await startMailNetwork(t);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice', 'postmaster']);
  net.dns.zone.nullMx('nomail.test');
  await a.admin.addAlias('fwd@a.test', ['gone@nomail.test']);
  const nodemailer = (await import('nodemailer')).default;
  const mx = nodemailer.createTransport({ host: '127.0.0.2', port: net.smtpPort, secure: false, ignoreTLS: true });
  const info = await mx.sendMail({ envelope: { from: '', to: ['fwd@a.test'] } as never, raw: message('a bounce from elsewhere') });
  const queueId = /queued as ([0-9A-Z]+)/.exec(info.response)![1];
  await waitFor(async () => (await a.store.getQueueMessage(queueId))?.finishedAt, 'the <> message finished');
  const [copy] = await waitFor(async () => {
    const found = await notices(a, 'postmaster@a.test');
    return found.length > 0 ? found : null;
  }, 'postmaster notice');
  assert.equal(copy.perRecipient[0].action, 'failed');
  assert.equal(copy.perRecipient[0]['final-recipient'], 'rfc822; gone@nomail.test');
  // Nothing more is pending: the copy for postmaster owes nobody anything.
  await waitFor(async () => (await a.store.listQueue()).length === 0, 'queue empty');
  assert.equal((await notices(a, 'postmaster@a.test')).length, 1);
});

test('queue administration: hold keeps a message, release and retry send it, bounce fails it with a notice, delete drops it', async (t) => {
  const net = await startMailNetwork(t);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice'], {
    queue: { retry_min: '1h', retry_max: '2h', delay_warning: '1h', lifetime: '1d' },
  });
  net.publish('b.test', '127.0.0.3'); // down for now
  const sent = await send(a, 'alice@a.test', ['bob@b.test'], message('held one'));
  const id = /queued as ([0-9A-Z]+)/.exec(sent.response)![1];
  await waitFor(async () => (await a.store.getQueueMessage(id))!.recipients[0].state === 'deferred', 'first attempt deferred');
  const shown = await a.queueAdmin.show(id);
  assert.equal(shown.attempts.length, 1);
  assert.equal(shown.attempts[0].outcome, 'deferred');
  assert.match(shown.attempts[0].reply ?? '', /127\.0\.0\.3/);
  assert.equal(await a.queueAdmin.hold(id), 1);

  const b = await net.addServer('127.0.0.3', 'b.test', ['bob']);
  assert.equal(await a.queueAdmin.retry(null), 0, 'held mail is not flushed');
  assert.equal(await a.queueAdmin.release(id), 1);
  await waitFor(async () => (await b.inbox('bob@b.test')).length === 1, 'delivered after release');

  // retry: a message deferred for an hour goes now.
  await b.close();
  const second = await send(a, 'alice@a.test', ['bob@b.test'], message('retried one'));
  const id2 = /queued as ([0-9A-Z]+)/.exec(second.response)![1];
  await waitFor(async () => (await a.store.getQueueMessage(id2))!.recipients[0].state === 'deferred', 'deferred');
  const b2 = await net.addServer('127.0.0.3', 'b.test', ['bob']);
  assert.equal(await a.queueAdmin.retry(id2), 1);
  await waitFor(async () => (await b2.inbox('bob@b.test')).length === 1, 'delivered after retry');

  // bounce and delete.
  net.publish('c.test', '127.0.0.4');
  const third = await send(a, 'alice@a.test', ['carol@c.test'], message('bounced one'));
  const fourth = await send(a, 'alice@a.test', ['dave@c.test'], message('deleted one'));
  const id3 = /queued as ([0-9A-Z]+)/.exec(third.response)![1];
  const id4 = /queued as ([0-9A-Z]+)/.exec(fourth.response)![1];
  await waitFor(async () => (await a.store.getQueueMessage(id4))!.recipients[0].state === 'deferred', 'deferred');
  assert.equal(await a.queueAdmin.bounce(id3), 1);
  await a.queueAdmin.delete(id4);
  assert.equal(await a.store.getQueueMessage(id4), null);
  const [bounce] = await waitFor(async () => {
    const found = await notices(a, 'alice@a.test');
    return found.length > 0 ? found : null;
  }, 'bounce notice');
  assert.equal(bounce.perRecipient[0]['final-recipient'], 'rfc822; carol@c.test');
  assert.equal(bounce.perRecipient[0].action, 'failed');
  assert.equal(bounce.perRecipient[0].status, '5.0.0');
  await waitFor(async () => (await a.store.listQueue()).length === 0, 'queue empty');
  await assert.rejects(a.queueAdmin.hold('NOSUCHID'), /no queued message NOSUCHID/);
});

test('a smarthost (delivery.relay_host) gets every remote message, with AUTH over STARTTLS', async (t) => {
  const net = await startMailNetwork(t);
  const smarthost = await startFakeMx({ host: '127.0.0.5', port: 0, name: 'smarthost.test', starttls: true, auth: { user: 'relayuser', pass: 'relay secret' } });
  t.after(() => smarthost.close());
  // DNS would send b.test elsewhere: the smarthost takes precedence over MX records.
  net.publish('b.test', '127.0.0.3');
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice'], {
    delivery: { relay_host: `127.0.0.5:${smarthost.port}`, relay_username: 'relayuser', relay_password: 'relay secret' },
  });
  await send(a, 'alice@a.test', ['bob@b.test', 'carol@c.test'], message('via the smarthost'));
  const [got] = await smarthost.waitForMessages(1);
  assert.equal(got.authUser, 'relayuser');
  assert.equal(got.tls, true);
  assert.deepEqual(got.to.sort(), ['bob@b.test', 'carol@c.test'], 'one transaction for both recipients');
  assert.equal(net.dns.queries('b.test', 'MX'), 0, 'no MX lookups');
  await waitFor(async () => (await a.store.listQueue()).length === 0, 'queue empty');
});

test('an MX list that names this server first is a loop (RFC 5321 §5.1): failed with 5.4.6, notice in Slovenian', async (t) => {
  const net = await startMailNetwork(t);
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice'], { dsn: { language: 'sl' } });
  // loop.test says its best MX is A (by name and address), its backup B: both are dropped.
  net.dns.zone.mx('loop.test', [
    { preference: 10, exchange: 'mx.a.test' },
    { preference: 20, exchange: 'backup.loop.test' },
  ]);
  net.dns.zone.a('backup.loop.test', ['127.0.0.3']);
  await send(a, 'alice@a.test', ['x@loop.test'], message('loops'));
  const [dsn] = await waitFor(async () => {
    const found = await notices(a, 'alice@a.test');
    return found.length > 0 ? found : null;
  }, 'loop notice');
  assert.equal(dsn.perRecipient[0].status, '5.4.6');
  assert.equal(dsn.perRecipient[0].action, 'failed');
  assert.equal(dsn.subject, 'Nedostavljeno sporočilo vrnjeno pošiljatelju');
});

test('stopping the server cuts a delivery stalled at a slow remote server short: it stays queued', { timeout: 60_000 }, async (t) => {
  const net = await startMailNetwork(t);
  const slow = await startFakeMx({ host: '127.0.0.3', port: net.smtpPort, name: 'mx.slow.test', script: { stall: 'dot' } });
  t.after(() => slow.close());
  net.publish('slow.test', '127.0.0.3');
  // A stall is only given up after data_timeout (10 minutes by default); the stop must not wait for it.
  const a = await net.addServer('127.0.0.2', 'a.test', ['alice'], { delivery: { data_timeout: '10m' } });
  const sent = await send(a, 'alice@a.test', ['bob@slow.test'], message('stalled'));
  const id = /queued as ([0-9A-Z]+)/.exec(sent.response)![1];
  await slow.waitForMessages(1);
  const [inFlight] = (await a.store.getQueueMessage(id))!.recipients;
  assert.ok(inFlight.leaseOwner, 'the delivery is in flight');
  // Resolves long before data_timeout (the test's own timeout would fail it otherwise);
  // the lease is recovered at the next start (see crash-outbound.test.ts).
  await a.close();
});
