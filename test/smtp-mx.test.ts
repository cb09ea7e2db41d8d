/**
 * The MX listener (issue #2 point 6): mail for our domains only, never an open relay,
 * 550 5.1.1 for unknown users, postmaster always accepted, no AUTH; and recipient
 * resolution (aliases, plus-addressing, catch-all, case, IDN).
 */
import assert from 'node:assert/strict';
import { domainToASCII } from 'node:url';
import { test } from 'node:test';
import { stripReceived } from './helpers/harness.js';
import { status } from './helpers/smtp-client.js';
import {
  DOMAIN,
  PASSWORD,
  allInboxes,
  authPlain,
  mailServer,
  message,
  mxTransport,
  rawClient,
  storedCount,
  transaction,
} from './helpers/smtp-fixtures.js';

test('MX: a transcript for mail to a local user, with the enhanced code of each step', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  assert.match(client.greeting.raw, /^220 mx\.test\.example ESMTP/);
  const body = message('transcript');
  const r = await transaction(client, 'sender@remote.test', [`alice@${DOMAIN}`], body);
  assert.equal(status(r.mail), '250 2.1.0');
  assert.equal(status(r.rcpts[0]), '250 2.1.5');
  assert.equal(r.data!.code, 354);
  assert.equal(status(r.end!), '250 2.0.0');
  assert.match(r.end!.lines[0], /^Ok: queued as [0-9A-Z]{18}$/);
  const inbox = await server.inbox(`alice@${DOMAIN}`);
  assert.equal(inbox.length, 1);
  assert.equal(stripReceived(inbox[0]).toString(), body);
  // RFC 5321 §4.4: from <EHLO> (TCP-info) by <us> with <protocol> id <queue id> for <rcpt>; <date>
  const queueId = r.end!.lines[0].split(' ').pop();
  const received = inbox[0].toString().slice(0, inbox[0].length - body.length).replace(/\r\n[ \t]+/g, ' ');
  assert.match(
    received,
    new RegExp(
      `^Received: from client\\.example \\(\\[127\\.0\\.0\\.1\\]\\) by mx\\.test\\.example \\(Posta\\) with ESMTP ` +
        `id ${queueId} for <alice@example\\.test>; [A-Z][a-z]{2}, \\d{1,2} [A-Z][a-z]{2} \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000\\r\\n$`,
    ),
  );
  assert.equal(status(await client.command('QUIT')), '221 2.0.0');
});

test('MX: a foreign recipient is refused with 550 5.7.1 (no open relay)', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  assert.equal(status(await client.command('RCPT TO:<victim@other.test>')), '550 5.7.1');
  // Our domain name as a prefix or suffix of another one is still another domain.
  assert.equal(status(await client.command(`RCPT TO:<victim@${DOMAIN}.other.test>`)), '550 5.7.1');
  assert.equal(status(await client.command(`RCPT TO:<victim@sub.${DOMAIN}>`)), '550 5.7.1');
  // An address literal is not one of our domains either.
  assert.equal(status(await client.command('RCPT TO:<victim@[127.0.0.1]>')), '550 5.7.1');
  assert.equal(status(await client.command('RCPT TO:<victim@[IPv6:::1]>')), '550 5.7.1');
  // With no recipient accepted there is no transaction to send.
  assert.equal((await client.command('DATA')).code, 503);
  assert.deepEqual(await server.store.listQueue(), []);
});

test('MX: relay tricks are refused or delivered locally, never relayed', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  // RFC 5321 §3.6.1 / Appendix C: a source route is ignored; the mailbox is what counts.
  assert.equal(status(await client.command(`RCPT TO:<@${DOMAIN}:victim@other.test>`)), '550 5.7.1');
  assert.equal(status(await client.command(`RCPT TO:<@${DOMAIN},@mx.${DOMAIN}:victim@other.test>`)), '550 5.7.1');
  // The "percent hack" and bang paths are local parts here: no such local user.
  assert.equal(status(await client.command(`RCPT TO:<victim%other.test@${DOMAIN}>`)), '550 5.1.1');
  assert.equal(status(await client.command(`RCPT TO:<other.test!victim@${DOMAIN}>`)), '550 5.1.1');
  // A quoted local part that looks like an address, and a second "@", are refused as syntax.
  assert.equal((await client.command(`RCPT TO:<"victim@other.test"@${DOMAIN}>`)).code, 501);
  assert.equal((await client.command(`RCPT TO:<victim@other.test@${DOMAIN}>`)).code, 501);
  assert.equal((await client.command(`RCPT TO:<victim@other.test.>`)).code, 501);
  assert.equal((await client.command('DATA')).code, 503);
  assert.deepEqual(await server.store.listQueue(), []);
  assert.equal(await storedCount(server), 0);
});

test('MX: with a catch-all, a percent-hack address is delivered locally, not relayed', async (t) => {
  const server = await mailServer(t);
  await server.admin.setCatchAll(DOMAIN, 'bob');
  const client = await rawClient(t, server);
  const r = await transaction(client, 'sender@remote.test', [`victim%other.test@${DOMAIN}`], message('percent'));
  assert.equal(status(r.rcpts[0]), '250 2.1.5');
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox(`bob@${DOMAIN}`)).length, 1);
  assert.deepEqual(await server.store.listQueue(), []);
});

test('MX: an unknown local user is refused at RCPT with 550 5.1.1, others still accepted', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  const r = await transaction(client, 'sender@remote.test', [`nobody@${DOMAIN}`, `alice@${DOMAIN}`], message('mixed'));
  assert.equal(status(r.rcpts[0]), '550 5.1.1');
  assert.equal(status(r.rcpts[1]), '250 2.1.5');
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox(`alice@${DOMAIN}`)).length, 1);
  assert.equal(await storedCount(server), 1);
});

test('MX: postmaster is always accepted and lands in the primary postmaster INBOX (RFC 5321 §4.5.1)', async (t) => {
  const server = await mailServer(t);
  // A second domain of ours with users but no postmaster account of its own.
  await server.admin.addDomain('second.test');
  await server.admin.addUser('carol@second.test', PASSWORD);
  const client = await rawClient(t, server);
  const recipients = ['postmaster', 'Postmaster', 'postmaster@second.test', `POSTMASTER@${DOMAIN.toUpperCase()}`];
  for (const rcpt of recipients) {
    const r = await transaction(client, 'sender@remote.test', [rcpt], message(`to ${rcpt}`));
    assert.equal(status(r.rcpts[0]), '250 2.1.5', rcpt);
    assert.equal(status(r.end!), '250 2.0.0', rcpt);
  }
  assert.equal((await server.inbox(`postmaster@${DOMAIN}`)).length, recipients.length);
  assert.equal((await server.inbox('carol@second.test')).length, 0);
  // The null reverse-path (bounces) is accepted on the MX too.
  const bounce = await transaction(client, '', ['postmaster'], message('bounce'));
  assert.equal(status(bounce.mail), '250 2.1.0');
  assert.equal(status(bounce.end!), '250 2.0.0');
});

test('MX: AUTH is neither offered nor accepted', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'smtp', { ehlo: false });
  const ehlo = await client.ehlo();
  assert.equal(ehlo.code, 250);
  assert.ok(!ehlo.lines.some((l) => /^AUTH\b/i.test(l)), ehlo.raw);
  // RFC 5321 §4.2.4: 502 for a command that is recognized but not implemented here.
  assert.equal(status(await authPlain(client, `alice@${DOMAIN}`)), '502 5.5.1');
  assert.equal(status(await client.command('AUTH LOGIN')), '502 5.5.1');
  // Still unauthenticated: relaying stays refused.
  assert.equal(status(await client.command(`MAIL FROM:<alice@${DOMAIN}>`)), '250 2.1.0');
  assert.equal(status(await client.command('RCPT TO:<victim@other.test>')), '550 5.7.1');
  // And the connection is in sync.
  assert.equal(status(await client.command('NOOP')), '250 2.0.0');
});

test('aliases expand to several local users, each gets one copy', async (t) => {
  const server = await mailServer(t);
  await server.admin.addAlias(`team@${DOMAIN}`, [`alice@${DOMAIN}`, `bob@${DOMAIN}`]);
  await server.admin.addAlias(`all@${DOMAIN}`, [`team@${DOMAIN}`, `alice@${DOMAIN}`, `postmaster@${DOMAIN}`]);
  const raw = message('team');
  const info = await mxTransport(server).sendMail({
    envelope: { from: 'sender@remote.test', to: [`team@${DOMAIN}`, `all@${DOMAIN}`, `alice@${DOMAIN}`] },
    raw,
  });
  assert.equal(info.accepted.length, 3);
  const inboxes = await allInboxes(server);
  assert.equal(inboxes.get(`alice@${DOMAIN}`)!.length, 1);
  assert.equal(inboxes.get(`bob@${DOMAIN}`)!.length, 1);
  assert.equal(inboxes.get(`postmaster@${DOMAIN}`)!.length, 1);
  assert.equal(stripReceived(inboxes.get(`bob@${DOMAIN}`)![0]).toString(), raw);
});

test('an alias to a remote address on the MX queues the message for forwarding', async (t) => {
  const server = await mailServer(t);
  await server.admin.addAlias(`fwd@${DOMAIN}`, ['someone@remote.test', `alice@${DOMAIN}`]);
  const info = await mxTransport(server).sendMail({
    envelope: { from: 'sender@remote.test', to: [`fwd@${DOMAIN}`] },
    raw: message('forward'),
  });
  assert.equal(info.accepted.length, 1);
  assert.equal((await server.inbox(`alice@${DOMAIN}`)).length, 1);
  const queue = await server.store.listQueue();
  assert.equal(queue.length, 1);
  assert.equal(queue[0].reversePath, 'sender@remote.test');
  assert.deepEqual(
    queue[0].recipients.map((r) => [r.forwardPath, r.domain, pending(r.state)]),
    [['someone@remote.test', 'remote.test', true]],
  );
});

test('plus-addressing delivers user+tag@ to user', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  const r = await transaction(client, 'sender@remote.test', [`alice+news@${DOMAIN}`, `bob+a+b@${DOMAIN}`], message('plus'));
  assert.deepEqual(r.rcpts.map(status), ['250 2.1.5', '250 2.1.5']);
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox(`alice@${DOMAIN}`)).length, 1);
  assert.equal((await server.inbox(`bob@${DOMAIN}`)).length, 1);
  // An unknown base with a tag is still unknown.
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  assert.equal(status(await client.command(`RCPT TO:<nobody+tag@${DOMAIN}>`)), '550 5.1.1');
});

test('the same mailbox reached several ways gets a single copy', async (t) => {
  const server = await mailServer(t);
  await server.admin.addAlias(`me@${DOMAIN}`, [`alice@${DOMAIN}`]);
  const client = await rawClient(t, server);
  const to = [`alice@${DOMAIN}`, `ALICE@${DOMAIN}`, `alice+x@${DOMAIN}`, `me@${DOMAIN}`];
  const r = await transaction(client, 'sender@remote.test', to, message('dupes'));
  assert.ok(r.rcpts.every((x) => x.code === 250));
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox(`alice@${DOMAIN}`)).length, 1);
});

test('a catch-all takes mail for unknown local parts of its domain only', async (t) => {
  const server = await mailServer(t);
  await server.admin.setCatchAll(DOMAIN, 'alice');
  const client = await rawClient(t, server);
  const r = await transaction(client, 'sender@remote.test', [`whoever@${DOMAIN}`, `bob@${DOMAIN}`], message('catch'));
  assert.deepEqual(r.rcpts.map(status), ['250 2.1.5', '250 2.1.5']);
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox(`alice@${DOMAIN}`)).length, 1);
  assert.equal((await server.inbox(`bob@${DOMAIN}`)).length, 1);
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  assert.equal(status(await client.command('RCPT TO:<whoever@other.test>')), '550 5.7.1');
  // Turned off again: unknown users are refused.
  await server.admin.setCatchAll(DOMAIN, null);
  assert.equal(status(await client.command(`RCPT TO:<whoever@${DOMAIN}>`)), '550 5.1.1');
});

test('local parts and domains are matched case-insensitively', async (t) => {
  const server = await mailServer(t);
  await server.admin.addUser(`Dana.Smith@${DOMAIN}`, PASSWORD);
  const info = await mxTransport(server).sendMail({
    envelope: { from: 'sender@remote.test', to: [`ALICE@EXAMPLE.TEST`, `dana.smith@Example.Test`] },
    raw: message('case'),
  });
  assert.equal(info.accepted.length, 2);
  assert.equal((await server.inbox(`alice@${DOMAIN}`)).length, 1);
  assert.equal((await server.inbox(`dana.smith@${DOMAIN}`)).length, 1);
});

test('an internationalized domain receives mail at its A-label (and its U-label with SMTPUTF8)', async (t) => {
  const server = await mailServer(t);
  await server.admin.addDomain('pošta.test');
  await server.admin.addUser('user@pošta.test', PASSWORD);
  const aLabel = domainToASCII('pošta.test');
  assert.match(aLabel, /^xn--/);
  const info = await mxTransport(server).sendMail({
    envelope: { from: 'sender@remote.test', to: [`user@${aLabel}`] },
    raw: message('idn'),
  });
  assert.equal(info.accepted.length, 1);
  assert.equal((await server.inbox('user@pošta.test')).length, 1);

  const client = await rawClient(t, server);
  const r = await transaction(client, 'sender@remote.test', ['user@pošta.test'], message('idn utf8'), {
    mailParams: 'SMTPUTF8',
  });
  assert.equal(status(r.rcpts[0]), '250 2.1.5');
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox('user@pošta.test')).length, 2);
  // The Received header names the recipient in the form the transaction allows.
  const first = (await server.inbox('user@pošta.test'))[0].toString();
  assert.match(first, new RegExp(`for <user@${aLabel}>`));
});

test('an alias that leads nowhere (a loop, or only removed users) is refused, never dropped silently', async (t) => {
  const server = await mailServer(t);
  await server.admin.addUser(`gone@${DOMAIN}`, PASSWORD);
  await server.admin.addAlias(`ping@${DOMAIN}`, [`pong@${DOMAIN}`]);
  await server.admin.addAlias(`pong@${DOMAIN}`, [`ping@${DOMAIN}`]);
  await server.admin.addAlias(`dangling@${DOMAIN}`, [`gone@${DOMAIN}`]);
  await server.admin.addAlias(`half@${DOMAIN}`, [`gone@${DOMAIN}`, `bob@${DOMAIN}`]);
  await server.admin.removeUser(`gone@${DOMAIN}`);
  const client = await rawClient(t, server);
  const r = await transaction(client, 'sender@remote.test', [`ping@${DOMAIN}`, `dangling@${DOMAIN}`, `half@${DOMAIN}`], message('nowhere'));
  assert.deepEqual(r.rcpts.map(status), ['550 5.1.1', '550 5.1.1', '250 2.1.5']);
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox(`bob@${DOMAIN}`)).length, 1);
  assert.equal(await storedCount(server), 1);
});

/** Still waiting for outbound delivery (the scheduler may already have tried and deferred it). */
function pending(state: string): boolean {
  return state === 'queued' || state === 'deferred';
}
