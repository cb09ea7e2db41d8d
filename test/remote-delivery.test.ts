/**
 * Remote delivery (src/delivery/remote.ts) against fake MX hosts on loopback addresses:
 * replies, faults, stalls, TLS, DSN/SIZE/SMTPUTF8 parameters, connection reuse, hostile peers.
 * Routes are literal values; no DNS here.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test, type TestContext } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { RemoteDelivery, type RemoteDeliveryOptions } from '../src/delivery/remote.js';
import type { OutboundEnvelope, RecipientOutcome } from '../src/delivery/types.js';
import type { MailHost, Route } from '../src/dns/types.js';
import { closedPort, startFakeMx, startFakeMxes, type FakeMx, type FakeMxOptions } from './helpers/fake-mx.js';

const BODY = Buffer.from('From: a@a.test\r\nTo: b@b.test\r\nSubject: hi\r\n\r\nHello.\r\n');

function envelope(to: string[], overrides: Partial<OutboundEnvelope> = {}): OutboundEnvelope {
  return {
    reversePath: 'sender@a.test',
    recipients: to.map((forwardPath) => ({ forwardPath, notify: null, orcpt: null })),
    dsn: { ret: null, envid: null },
    bodyType: '7bit',
    smtpUtf8: false,
    size: BODY.length,
    ...overrides,
  };
}

function host(mx: FakeMx | string, name?: string): MailHost {
  const ip = typeof mx === 'string' ? mx : mx.host;
  return { name: name ?? (typeof mx === 'string' ? `mx-${ip}.test` : mx.name), preference: 10, addresses: [ip] };
}

function route(...hosts: Array<FakeMx | MailHost>): Route {
  return { kind: 'hosts', hosts: hosts.map((h) => ('addresses' in h ? h : host(h))) };
}

async function fakeMx(t: TestContext, options: FakeMxOptions = {}): Promise<FakeMx> {
  const mx = await startFakeMx({ host: '127.0.0.2', ...options });
  t.after(() => mx.close());
  return mx;
}

function delivery(t: TestContext, port: number, options: Partial<RemoteDeliveryOptions> = {}): RemoteDelivery {
  const d = new RemoteDelivery({
    heloName: 'mx.a.test',
    port,
    connectTimeoutMs: 5000,
    commandTimeoutMs: 5000,
    dataTimeoutMs: 5000,
    ...options,
  });
  t.after(() => d.close());
  return d;
}

function statuses(outcomes: RecipientOutcome[]): string[] {
  return outcomes.map((o) => `${o.forwardPath} ${o.status} ${o.enhancedCode}`);
}

test('delivers a message and reports the reply', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['bob@b.test', 'carol@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['bob@b.test delivered 2.0.0', 'carol@b.test delivered 2.0.0']);
  const [o] = report.outcomes;
  assert.match(o.reply, /^250 2\.0\.0 Ok: queued as FAKE1$/);
  assert.equal(o.remoteMta, mx.name);
  assert.equal(o.remoteDsn, true);
  assert.equal(report.host, mx.name);
  assert.equal(report.ip, '127.0.0.2');
  assert.equal(mx.messages.length, 1);
  const m = mx.messages[0];
  assert.equal(m.from, 'sender@a.test');
  assert.deepEqual(m.to, ['bob@b.test', 'carol@b.test']);
  assert.equal(m.helo, 'mx.a.test');
  assert.ok(m.body.equals(BODY));
  // PIPELINING: MAIL, the RCPTs and DATA went out before any reply was read.
  assert.ok(report.transcript.some((l) => l.startsWith('C: MAIL FROM:<sender@a.test>')));
  assert.ok(report.transcript.some((l) => l.startsWith('S: 250 2.0.0 Ok: queued')));
});

test('the null reverse-path goes out as <>', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['bob@b.test'], { reversePath: '' }), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(mx.messages[0].from, '');
  assert.ok(mx.commands.some((c) => c.startsWith('MAIL FROM:<>')));
});

test('a route error gives every recipient its status', async (t) => {
  const d = delivery(t, 25);
  const perm = await d.deliver({ kind: 'error', permanent: true, enhancedCode: '5.1.10', text: 'domain b.test has a null MX' }, envelope(['a@b.test', 'c@b.test']), BODY);
  assert.deepEqual(statuses(perm.outcomes), ['a@b.test failed 5.1.10', 'c@b.test failed 5.1.10']);
  assert.equal(perm.outcomes[0].reply, 'domain b.test has a null MX');
  assert.equal(perm.outcomes[0].remoteMta, null);
  const temp = await d.deliver({ kind: 'error', permanent: false, enhancedCode: '4.4.3', text: 'SERVFAIL' }, envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(temp.outcomes), ['a@b.test deferred 4.4.3']);
});

test('421 greeting: the next host gets the message', async (t) => {
  const [first, second] = await startFakeMxes(['127.0.0.2', '127.0.0.3']);
  t.after(() => Promise.all([first.close(), second.close()]));
  first.script({ greeting: 421 });
  const d = delivery(t, first.port);
  const report = await d.deliver(route(first, second), envelope(['bob@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['bob@b.test delivered 2.0.0']);
  assert.equal(report.outcomes[0].remoteMta, second.name);
  assert.equal(report.host, second.name);
  assert.equal(report.ip, '127.0.0.3');
  assert.equal(first.messages.length, 0);
  assert.equal(second.messages.length, 1);
  assert.ok(report.transcript.some((l) => l.startsWith('S: 421')));
});

test('every host down: deferred 4.4.1 with the connect error', async (t) => {
  const port = await closedPort('127.0.0.4');
  const d = delivery(t, port);
  const report = await d.deliver(route(host('127.0.0.4', 'mx1.b.test'), host('127.0.0.5', 'mx2.b.test')), envelope(['bob@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['bob@b.test deferred 4.4.1']);
  assert.equal(report.outcomes[0].reply, `connect to mx2.b.test[127.0.0.5]:${port}: Connection refused`);
  assert.equal(report.outcomes[0].remoteMta, null);
  assert.equal(report.outcomes[0].remoteDsn, false);
  assert.equal(report.host, 'mx2.b.test');
});

test('at most 5 addresses are tried per delivery', async (t) => {
  const port = await closedPort('127.0.0.4');
  const d = delivery(t, port);
  const many: MailHost = { name: 'many.b.test', preference: 10, addresses: ['127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9', '127.0.0.10'] };
  const report = await d.deliver({ kind: 'hosts', hosts: [many] }, envelope(['bob@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'deferred');
  assert.equal(report.transcript.filter((l) => l.startsWith('* connecting to')).length, 5);
});

test('a host with no addresses is skipped', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  const report = await d.deliver(route({ name: 'empty.b.test', preference: 5, addresses: [] }, mx), envelope(['bob@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
});

test('450 at RCPT (greylisting) defers that recipient; others are delivered', async (t) => {
  const mx = await fakeMx(t, { script: { rcpt: { 'grey@b.test': '450 4.2.0 <grey@b.test>: greylisted, try again later' } } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['grey@b.test', 'bob@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['grey@b.test deferred 4.2.0', 'bob@b.test delivered 2.0.0']);
  assert.equal(report.outcomes[0].reply, '450 4.2.0 <grey@b.test>: greylisted, try again later');
  assert.equal(report.outcomes[0].remoteMta, mx.name);
  assert.deepEqual(mx.messages[0].to, ['bob@b.test']);
});

test('a temporary RCPT failure is retried at the next MX, as Postfix does', async (t) => {
  const [primary, backup] = await startFakeMxes(['127.0.0.2', '127.0.0.3']);
  t.after(() => Promise.all([primary.close(), backup.close()]));
  primary.script({ rcpt: { 'grey@b.test': '450 4.2.0 greylisted' } });
  const d = delivery(t, primary.port);
  const report = await d.deliver(route(primary, backup), envelope(['grey@b.test', 'bob@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['grey@b.test delivered 2.0.0', 'bob@b.test delivered 2.0.0']);
  assert.equal(report.outcomes[0].remoteMta, backup.name);
  assert.equal(report.outcomes[1].remoteMta, primary.name);
  assert.deepEqual(primary.messages[0].to, ['bob@b.test']);
  assert.deepEqual(backup.messages[0].to, ['grey@b.test']);
});

test("a server's temporary reply is kept over a later host's connection failure", async (t) => {
  const mx = await fakeMx(t, { script: { rcptAll: '450 4.2.0 greylisted' } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx, host('127.0.0.9', 'down.b.test')), envelope(['bob@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['bob@b.test deferred 4.2.0']);
  assert.equal(report.outcomes[0].reply, '450 4.2.0 greylisted');
  assert.equal(report.host, mx.name, 'the host that answered');
});

test('550 at RCPT fails that recipient only', async (t) => {
  const mx = await fakeMx(t, { script: { rcpt: { 'gone@b.test': '550 5.1.1 <gone@b.test>: no such user' } } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['bob@b.test', 'gone@b.test', 'carol@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['bob@b.test delivered 2.0.0', 'gone@b.test failed 5.1.1', 'carol@b.test delivered 2.0.0']);
  assert.equal(report.outcomes[1].reply, '550 5.1.1 <gone@b.test>: no such user');
  assert.deepEqual(mx.messages[0].to, ['bob@b.test', 'carol@b.test']);
});

test('a permanent failure is not retried at the next MX', async (t) => {
  const [primary, backup] = await startFakeMxes(['127.0.0.2', '127.0.0.3']);
  t.after(() => Promise.all([primary.close(), backup.close()]));
  primary.script({ rcptAll: '550 5.1.1 no such user' });
  const d = delivery(t, primary.port);
  const report = await d.deliver(route(primary, backup), envelope(['gone@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['gone@b.test failed 5.1.1']);
  assert.equal(backup.connectionsOpened, 0);
});

test('452 at RCPT defers', async (t) => {
  const mx = await fakeMx(t, { script: { rcptAll: 452 } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['a@b.test', 'c@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test deferred 4.0.0', 'c@b.test deferred 4.0.0']);
  assert.equal(mx.messages.length, 0);
});

test('replies without enhanced codes get one derived from the reply code', async (t) => {
  const mx = await fakeMx(t, { enhancedStatusCodes: false, script: { rcpt: { 'x@b.test': '550 no', 'y@b.test': '451 later' } } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['x@b.test', 'y@b.test', 'z@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['x@b.test failed 5.0.0', 'y@b.test deferred 4.0.0', 'z@b.test delivered 2.0.0']);
});

test('MAIL refused: 5xx fails, 4xx defers every recipient', async (t) => {
  const mx = await fakeMx(t, { script: { mail: '553 5.7.1 sender rejected' } });
  const d = delivery(t, mx.port);
  let report = await d.deliver(route(mx), envelope(['a@b.test', 'c@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test failed 5.7.1', 'c@b.test failed 5.7.1']);
  mx.script({ mail: '451 4.3.0 try later' });
  report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test deferred 4.3.0']);
  // The connection was RSET and reused for the second message.
  assert.equal(mx.connectionsOpened, 1);
  assert.ok(mx.commands.includes('RSET'));
});

test('451 and 554 after DATA', async (t) => {
  const mx = await fakeMx(t, { script: { afterData: '451 4.3.0 try later' } });
  const d = delivery(t, mx.port);
  let report = await d.deliver(route(mx), envelope(['a@b.test', 'c@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test deferred 4.3.0', 'c@b.test deferred 4.3.0']);
  mx.script({ afterData: '554 5.6.0 rejected: content' });
  report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test failed 5.6.0']);
  assert.equal(report.outcomes[0].reply, '554 5.6.0 rejected: content');
});

test('a refused DATA command fails or defers the accepted recipients', async (t) => {
  const mx = await fakeMx(t, { script: { data: '554 5.7.0 no thanks' } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test failed 5.7.0']);
});

test('connection dropped after the body: deferred, and the MX may have it (at-least-once)', async (t) => {
  const mx = await fakeMx(t, { script: { dropAfterData: true } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test deferred 4.4.2']);
  assert.match(report.outcomes[0].reply, /^lost connection with .*\[127\.0\.0\.2\] while waiting for reply to end of DATA/);
  assert.equal(mx.messages.length, 1);
  assert.equal(mx.messages[0].accepted, false);
});

for (const stage of ['greeting', 'ehlo', 'mail', 'rcpt', 'data', 'dot'] as const) {
  test(`a stall at ${stage} times out: deferred 4.4.2`, async (t) => {
    const mx = await fakeMx(t, { script: { stall: stage } });
    const d = delivery(t, mx.port, { commandTimeoutMs: 300, dataTimeoutMs: 300 });
    const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
    assert.deepEqual(statuses(report.outcomes), ['a@b.test deferred 4.4.2']);
    assert.match(report.outcomes[0].reply, /^conversation with .*\[127\.0\.0\.2\] timed out while /);
    if (stage === 'dot') assert.match(report.outcomes[0].reply, /end of DATA/);
  });
}

test('a stalled STARTTLS reply times out and the host is skipped', async (t) => {
  const [first, second] = await startFakeMxes(['127.0.0.2', '127.0.0.3'], { starttls: true });
  t.after(() => Promise.all([first.close(), second.close()]));
  first.script({ stall: 'starttls' });
  const d = delivery(t, first.port, { commandTimeoutMs: 300 });
  const report = await d.deliver(route(first, second), envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test delivered 2.0.0']);
  assert.equal(second.messages[0].tls, true);
});

test('STARTTLS is used when offered', async (t) => {
  const mx = await fakeMx(t, { starttls: true });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(mx.messages[0].tls, true);
  assert.ok(mx.messages[0].body.equals(BODY));
  assert.ok(report.transcript.includes('C: STARTTLS'));
  assert.ok(report.transcript.some((l) => /^\* TLS established: TLSv1\.[23]/.test(l)));
  // EHLO again after the handshake (RFC 3207 §4.2).
  assert.equal(mx.commands.filter((c) => c.startsWith('EHLO')).length, 2);
});

test('a failed TLS handshake is retried in plaintext on a new connection', async (t) => {
  const mx = await fakeMx(t, { starttls: true, script: { tlsHandshakeFailure: true } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test delivered 2.0.0']);
  assert.equal(mx.connectionsOpened, 2);
  assert.equal(mx.messages[0].tls, false);
  assert.ok(report.transcript.some((l) => l.startsWith('* TLS handshake with')));
  assert.ok(report.transcript.includes('* retrying without TLS'));
});

test('STARTTLS refused: the mail goes in plaintext on the same connection', async (t) => {
  const mx = await fakeMx(t, { starttls: true, script: { starttls: '454 4.7.0 TLS not available' } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(mx.connectionsOpened, 1);
  assert.equal(mx.messages[0].tls, false);
});

test('EHLO refused: HELO, and no extension parameters', async (t) => {
  const mx = await fakeMx(t, { size: 0, script: { ehlo: '502 5.5.1 EHLO not supported' } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['a@b.test'], { dsn: { ret: 'HDRS', envid: 'x' }, bodyType: '8bitmime' }), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(report.outcomes[0].remoteDsn, false);
  assert.ok(mx.commands.some((c) => c.startsWith('HELO mx.a.test')));
  assert.deepEqual(mx.messages[0].mailParams, {});
});

test('without PIPELINING the dialogue is lock-step', async (t) => {
  const mx = await fakeMx(t, { pipelining: false, script: { rcpt: { 'gone@b.test': 550 } } });
  const d = delivery(t, mx.port);
  const report = await d.deliver(route(mx), envelope(['gone@b.test', 'a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['gone@b.test failed 5.0.0', 'a@b.test delivered 2.0.0']);
  // Each command follows the previous reply in the transcript.
  const cs = report.transcript.filter((l) => l.startsWith('C: ') || l.startsWith('S: '));
  const mail = cs.findIndex((l) => l.startsWith('C: MAIL'));
  assert.ok(cs[mail + 1].startsWith('S: 250'));
  assert.ok(cs[mail + 2].startsWith('C: RCPT TO:<gone@b.test>'));
  assert.ok(cs[mail + 3].startsWith('S: 550'));
  // Nothing accepted at all: no DATA is sent.
  const none = await d.deliver(route(mx), envelope(['gone@b.test']), BODY);
  assert.equal(none.outcomes[0].status, 'failed');
  assert.ok(!none.transcript.includes('C: DATA'));
});

test('DSN parameters go per recipient when the server offers DSN', async (t) => {
  const mx = await fakeMx(t, { dsn: true });
  const d = delivery(t, mx.port);
  const env: OutboundEnvelope = {
    ...envelope([]),
    dsn: { ret: 'HDRS', envid: 'Q1 x+y=z' },
    recipients: [
      { forwardPath: 'a@b.test', notify: ['SUCCESS', 'FAILURE'], orcpt: { addrType: 'rfc822', address: 'A+1@b.test' } },
      { forwardPath: 'c@b.test', notify: ['NEVER'], orcpt: null },
      { forwardPath: 'd@b.test', notify: null, orcpt: { addrType: 'utf-8', address: 'dé@b.test' } },
    ],
  };
  const report = await d.deliver(route(mx), env, BODY);
  assert.deepEqual(
    report.outcomes.map((o) => o.remoteDsn),
    [true, true, true],
  );
  const m = mx.messages[0];
  assert.deepEqual(m.mailParams, { RET: 'HDRS', ENVID: 'Q1+20x+2By+3Dz' });
  assert.deepEqual(m.rcptParams, [{ NOTIFY: 'SUCCESS,FAILURE', ORCPT: 'rfc822;A+2B1@b.test' }, { NOTIFY: 'NEVER' }, { ORCPT: 'utf-8;d\\x{E9}@b.test' }]);
});

test('no DSN parameters to a server without DSN; remoteDsn is false', async (t) => {
  const mx = await fakeMx(t, { dsn: false });
  const d = delivery(t, mx.port);
  const env = envelope(['a@b.test'], { dsn: { ret: 'FULL', envid: 'E1' } });
  env.recipients[0].notify = ['SUCCESS'];
  env.recipients[0].orcpt = { addrType: 'rfc822', address: 'a@b.test' };
  const report = await d.deliver(route(mx), env, BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(report.outcomes[0].remoteDsn, false);
  assert.deepEqual(mx.messages[0].mailParams, {});
  assert.deepEqual(mx.messages[0].rcptParams, [{}]);
});

test('SIZE: declared on MAIL; a message over the limit fails 5.3.4 without being sent', async (t) => {
  const mx = await fakeMx(t, { size: 0 });
  const d = delivery(t, mx.port);
  await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.deepEqual(mx.messages[0].mailParams, { SIZE: String(BODY.length) });

  const small = await fakeMx(t, { host: '127.0.0.3', size: 100 });
  const d2 = delivery(t, small.port);
  const big = Buffer.alloc(1000, 'x');
  const report = await d2.deliver(route(small), envelope(['a@b.test', 'c@b.test']), big);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test failed 5.3.4', 'c@b.test failed 5.3.4']);
  assert.match(report.outcomes[0].reply, /message size 1000 exceeds size limit 100 of server/);
  assert.ok(!small.commands.some((c) => c.startsWith('MAIL') || c === 'DATA'));
});

test('BODY=8BITMIME for an 8bitmime message when offered', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  const body = Buffer.from('Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve\r\n', 'latin1');
  await d.deliver(route(mx), envelope(['a@b.test'], { bodyType: '8bitmime' }), body);
  assert.deepEqual(mx.messages[0].mailParams, { BODY: '8BITMIME' });
  assert.ok(mx.messages[0].body.equals(body));
  // Without 8BITMIME the message goes as it is.
  const plain = await fakeMx(t, { host: '127.0.0.3', eightBitMime: false });
  const d2 = delivery(t, plain.port);
  const report = await d2.deliver(route(plain), envelope(['a@b.test'], { bodyType: '8bitmime' }), body);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.deepEqual(plain.messages[0].mailParams, {});
  assert.ok(plain.messages[0].body.equals(body));
});

test('SMTPUTF8: passed when offered; required but not offered fails 5.6.7', async (t) => {
  const utf8 = await fakeMx(t, { smtputf8: true });
  const d = delivery(t, utf8.port);
  let report = await d.deliver(route(utf8), envelope(['pošta@b.test'], { smtpUtf8: true }), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.deepEqual(utf8.messages[0].mailParams, { SMTPUTF8: true });
  assert.deepEqual(utf8.messages[0].to, ['pošta@b.test']);

  const ascii = await fakeMx(t, { host: '127.0.0.3', smtputf8: false });
  const d2 = delivery(t, ascii.port);
  report = await d2.deliver(route(ascii), envelope(['pošta@b.test', 'plain@b.test'], { smtpUtf8: true }), BODY);
  assert.deepEqual(statuses(report.outcomes), ['pošta@b.test failed 5.6.7', 'plain@b.test delivered 2.0.0']);
  assert.match(report.outcomes[0].reply, /the receiving server does not support internationalized mail \(SMTPUTF8\)/);
  assert.deepEqual(ascii.messages[0].mailParams, {});

  // A non-ASCII sender: nothing can go.
  report = await d2.deliver(route(ascii), envelope(['plain@b.test'], { smtpUtf8: true, reversePath: 'józef@a.test' }), BODY);
  assert.deepEqual(statuses(report.outcomes), ['plain@b.test failed 5.6.7']);
  // The flag alone (everything ASCII): sent without SMTPUTF8.
  report = await d2.deliver(route(ascii), envelope(['plain@b.test'], { smtpUtf8: true }), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(ascii.messages.length, 2);
  // UTF-8 in a header field needs SMTPUTF8 too (RFC 6532 §3.2): nothing goes.
  const utf8Header = Buffer.from('Subject: Pošta\r\n\r\nbody\r\n');
  report = await d2.deliver(route(ascii), envelope(['plain@b.test'], { smtpUtf8: true }), utf8Header);
  assert.deepEqual(statuses(report.outcomes), ['plain@b.test failed 5.6.7']);
  assert.equal(ascii.messages.length, 2);
});

test('connection reuse: sequential deliveries share one connection', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  for (let i = 0; i < 3; i++) {
    const report = await d.deliver(route(mx), envelope([`u${i}@b.test`]), BODY);
    assert.equal(report.outcomes[0].status, 'delivered');
  }
  assert.equal(mx.connectionsOpened, 1);
  assert.deepEqual(
    mx.messages.map((m) => m.connectionId),
    [1, 1, 1],
  );
  // One EHLO only: no RSET and no new greeting between messages.
  assert.equal(mx.commands.filter((c) => c.startsWith('EHLO')).length, 1);
});

test('connection reuse is capped per connection', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port, { maxMessagesPerConnection: 2 });
  for (let i = 0; i < 5; i++) await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(mx.connectionsOpened, 3);
  assert.ok(mx.commands.includes('QUIT'));
});

test('idle connections are closed after connectionIdleMs, with QUIT', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port, { connectionIdleMs: 100 });
  await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  await waitUntil(() => mx.openConnections === 0, 'the idle connection to close');
  assert.ok(mx.commands.includes('QUIT'));
  await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(mx.connectionsOpened, 2);
});

test('a cached connection the server closed is replaced silently', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  mx.dropConnections();
  await waitUntil(() => mx.openConnections === 0, 'the connection to drop');
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(mx.connectionsOpened, 2);
});

test('a 421 on a reused connection is retried once on a new connection', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  mx.script({ mail: '421 4.4.2 idle for too long' });
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  // The fresh connection got the same answer: now it counts.
  assert.deepEqual(statuses(report.outcomes), ['a@b.test deferred 4.4.2']);
  assert.equal(mx.connectionsOpened, 2);
});

test('concurrent deliveries never share a connection, and reuse them afterwards', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  const first = await Promise.all(Array.from({ length: 5 }, (_, i) => d.deliver(route(mx), envelope([`u${i}@b.test`]), BODY)));
  assert.ok(first.every((r) => r.outcomes[0].status === 'delivered'));
  assert.equal(mx.connectionsOpened, 5);
  const second = await Promise.all(Array.from({ length: 5 }, (_, i) => d.deliver(route(mx), envelope([`v${i}@b.test`]), BODY)));
  assert.ok(second.every((r) => r.outcomes[0].status === 'delivered'));
  assert.equal(mx.connectionsOpened, 5);
  assert.equal(mx.messages.length, 10);
});

test('dot-stuffing round-trips bodies byte for byte', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  const bodies = [
    '.starts with a dot\r\n',
    'Subject: dots\r\n\r\n.\r\n..\r\n...\r\n. space\r\nmid.dle\r\n.\r\n',
    '\r\n.\r\n',
    'no final line end',
    'x\r\n.',
    '',
  ];
  for (const text of bodies) {
    const body = Buffer.from(text);
    const report = await d.deliver(route(mx), envelope(['a@b.test']), body);
    assert.equal(report.outcomes[0].status, 'delivered', JSON.stringify(text));
  }
  assert.deepEqual(
    mx.messages.map((m) => m.body.toString()),
    bodies.map((b) => (b === '' || b.endsWith('\r\n') ? b : b + '\r\n')),
  );
});

test('a large body is streamed with backpressure and arrives intact', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  const lines: string[] = ['Subject: big', ''];
  for (let i = 0; i < 60_000; i++) lines.push(i % 7 === 0 ? `.line ${i} ${'x'.repeat(40)}` : `line ${i} ${'y'.repeat(40)}`);
  const body = Buffer.from(lines.join('\r\n') + '\r\n');
  assert.ok(body.length > 3_000_000);
  const report = await d.deliver(route(mx), envelope(['a@b.test']), body);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.ok(mx.messages[0].body.equals(body));
});

test('relay AUTH: PLAIN after STARTTLS, credentials masked in the transcript', async (t) => {
  const mx = await fakeMx(t, { starttls: true, auth: { user: 'relay@a.test', pass: 's3cret' } });
  const d = delivery(t, mx.port, { relayAuth: { user: 'relay@a.test', pass: 's3cret' } });
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(mx.messages[0].authUser, 'relay@a.test');
  assert.equal(mx.messages[0].tls, true);
  assert.ok(report.transcript.includes('C: AUTH PLAIN <credentials>'));
  assert.ok(!report.transcript.join('\n').includes(Buffer.from('\0relay@a.test\0s3cret').toString('base64')));
});

test('relay AUTH LOGIN when only LOGIN is offered', async (t) => {
  const mx = await fakeMx(t, { starttls: true, auth: { user: 'u', pass: 'p' }, authMechanisms: ['LOGIN'] });
  const d = delivery(t, mx.port, { relayAuth: { user: 'u', pass: 'p' } });
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(mx.messages[0].authUser, 'u');
  assert.ok(report.transcript.includes('C: <password>'));
});

test('relay AUTH is never sent without TLS; a refusal defers', async (t) => {
  const plain = await fakeMx(t, { auth: { user: 'u', pass: 'p' }, authWithoutTls: true });
  const d = delivery(t, plain.port, { relayAuth: { user: 'u', pass: 'p' } });
  let report = await d.deliver(route(plain), envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test deferred 4.7.0']);
  assert.match(report.outcomes[0].reply, /not sending credentials .* without TLS/);
  assert.ok(!plain.commands.some((c) => c.startsWith('AUTH')));

  const tlsMx = await fakeMx(t, { host: '127.0.0.3', starttls: true, auth: { user: 'u', pass: 'right' } });
  const d2 = delivery(t, tlsMx.port, { relayAuth: { user: 'u', pass: 'wrong' } });
  report = await d2.deliver(route(tlsMx), envelope(['a@b.test']), BODY);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test deferred 4.7.8']);
  assert.equal(report.outcomes[0].reply, '535 5.7.8 Authentication credentials invalid');
  assert.equal(tlsMx.messages.length, 0);

  // A TLS handshake failure is not retried in plaintext when credentials would follow.
  tlsMx.script({ tlsHandshakeFailure: true });
  report = await d2.deliver(route(tlsMx), envelope(['a@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'deferred');
  assert.match(report.outcomes[0].reply, /TLS handshake .* failed.*not sending credentials without TLS/);
});

test('implicit TLS (a smarthost on port 465)', async (t) => {
  const mx = await fakeMx(t, { implicitTls: true, auth: { user: 'u', pass: 'p' } });
  const d = delivery(t, mx.port, { implicitTls: true, relayAuth: { user: 'u', pass: 'p' } });
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(report.outcomes[0].status, 'delivered');
  assert.equal(mx.messages[0].tls, true);
  assert.equal(mx.messages[0].authUser, 'u');
});

/** A fake MX whose every connection is handled by `raw`. */
async function hostile(t: TestContext, raw: (socket: net.Socket) => void): Promise<RecipientOutcome> {
  const mx = await fakeMx(t, { script: { raw } });
  const d = delivery(t, mx.port, { commandTimeoutMs: 1000, dataTimeoutMs: 1000 });
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(report.outcomes.length, 1);
  return report.outcomes[0];
}

test('hostile peers: garbage, huge lines, endless replies, early close → deferred, no crash', async (t) => {
  let o = await hostile(t, (s) => s.write('HELLO THERE\r\n'));
  assert.equal(o.status, 'deferred');
  assert.equal(o.enhancedCode, '4.5.0');
  assert.match(o.reply, /malformed reply/);

  o = await hostile(t, (s) => s.write('220 ' + 'x'.repeat(1024 * 1024) + '\r\n'));
  assert.equal(o.status, 'deferred');
  assert.match(o.reply, /reply line too long/);

  // An EHLO reply that never ends.
  o = await hostile(t, (s) => {
    s.write('220 hi\r\n');
    const timer = setInterval(() => s.destroyed || s.write('250-more\r\n'.repeat(50)), 5);
    s.on('close', () => clearInterval(timer));
  });
  assert.equal(o.status, 'deferred');
  assert.match(o.reply, /too many lines|timed out/);

  o = await hostile(t, (s) => s.end('220 hi\r\n'));
  assert.equal(o.status, 'deferred');
  assert.equal(o.enhancedCode, '4.4.2');

  o = await hostile(t, (s) => s.destroy());
  assert.equal(o.status, 'deferred');

  o = await hostile(t, (s) => {
    s.write('220 hi\r\n');
    s.on('data', () => s.write('\0\x01\x02\xff\r\n'));
  });
  assert.equal(o.status, 'deferred');

  // Replies without codes after a normal start.
  o = await hostile(t, (s) => {
    s.write('220 hi\r\n');
    let n = 0;
    s.on('data', () => s.write(n++ === 0 ? '250 ok\r\n' : 'ok\r\n'));
  });
  assert.equal(o.status, 'deferred');
  assert.equal(o.enhancedCode, '4.5.0');

  // A 2xx where 354 belongs is not mistaken for delivery.
  o = await hostile(t, (s) => {
    s.write('220 hi\r\n');
    s.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\r\n').filter(Boolean)) s.write(line.startsWith('DATA') ? '250 sure\r\n' : '250 ok\r\n');
    });
  });
  assert.equal(o.status, 'deferred');
  assert.match(o.reply, /protocol error: unexpected reply 250 sure/);
});

test('interoperates with smtp-server: pipelining, DSN parameters, dot-stuffing', async (t) => {
  const received: Array<{ from: string; to: string[]; body: Buffer; envelope: unknown }> = [];
  const server = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    size: 10_000_000,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          body: Buffer.concat(chunks),
          envelope: session.envelope,
        });
        callback(null, 'queued');
      });
    },
  } as ConstructorParameters<typeof SMTPServer>[0]);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.server.address() as net.AddressInfo).port;
  const d = delivery(t, port);
  const body = Buffer.from('Subject: x\r\n\r\n.one\r\n..two\r\n.\r\nend\r\n');
  const env: OutboundEnvelope = {
    ...envelope([]),
    dsn: { ret: 'FULL', envid: 'id 1' },
    recipients: [
      { forwardPath: 'a@b.test', notify: ['SUCCESS'], orcpt: { addrType: 'rfc822', address: 'a@b.test' } },
      { forwardPath: 'c@b.test', notify: ['NEVER'], orcpt: null },
    ],
  };
  const report = await d.deliver(route({ name: 'smtp-server.test', preference: 0, addresses: ['127.0.0.2'] }), env, body);
  assert.deepEqual(statuses(report.outcomes), ['a@b.test delivered 2.6.0', 'c@b.test delivered 2.6.0']);
  assert.equal(report.outcomes[0].remoteDsn, true);
  // Our connection first: smtp-server's close waits for open connections.
  await d.close();
  assert.equal(received.length, 1);
  assert.ok(received[0].body.equals(body));
  assert.deepEqual(received[0].to, ['a@b.test', 'c@b.test']);
  const e = received[0].envelope as { dsn: { ret: string; envid: string }; rcptTo: Array<{ dsn?: { notify?: string[] } }> };
  assert.equal(e.dsn.ret, 'FULL');
  assert.equal(e.dsn.envid, 'id 1');
  assert.deepEqual(e.rcptTo[0].dsn?.notify, ['SUCCESS']);
  assert.deepEqual(e.rcptTo[1].dsn?.notify, ['NEVER']);
});

test('close() QUITs idle connections; later deliveries are deferred without dialing', async (t) => {
  const mx = await fakeMx(t);
  const d = delivery(t, mx.port);
  await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.equal(mx.openConnections, 1);
  await d.close();
  await waitUntil(() => mx.openConnections === 0, 'the connection to close');
  assert.ok(mx.commands.includes('QUIT'));
  const opened = mx.connectionsOpened;
  const report = await d.deliver(route(mx), envelope(['a@b.test']), BODY);
  assert.deepEqual([report.outcomes[0].status, report.outcomes[0].enhancedCode], ['deferred', '4.3.2']);
  assert.equal(mx.connectionsOpened, opened);
});

test('close() cuts a delivery stalled at the final dot short: deferred, not waiting for data_timeout', async (t) => {
  const mx = await fakeMx(t, { script: { stall: 'dot' } });
  const d = new RemoteDelivery({ heloName: 'client.test', port: mx.port, connectTimeoutMs: 5000, commandTimeoutMs: 600_000, dataTimeoutMs: 600_000 });
  t.after(() => d.close());
  const pending = d.deliver(route(mx), envelope(['a@b.test']), BODY);
  await mx.waitForMessages(1);
  await d.close();
  const report = await pending;
  assert.equal(report.outcomes[0].status, 'deferred');
});

async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
