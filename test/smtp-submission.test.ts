/**
 * Submission on 587 (STARTTLS) and 465 (implicit TLS), issue #2 point 6: AUTH PLAIN/LOGIN
 * only under TLS, AUTH required, users send only as themselves or their aliases, remote
 * recipients are queued, Message-ID and Date are added when missing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stripReceived } from './helpers/harness.js';
import { status } from './helpers/smtp-client.js';
import {
  DOMAIN,
  PASSWORD,
  authPlain,
  mailServer,
  message,
  mxTransport,
  rawClient,
  submissionTransport,
  transaction,
} from './helpers/smtp-fixtures.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ALICE = `alice@${DOMAIN}`;

test('587: before STARTTLS, AUTH is not offered and refused; MAIL needs AUTH', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'submission', { ehlo: false });
  const ehlo = await client.ehlo();
  assert.equal(ehlo.code, 250);
  assert.ok(ehlo.lines.includes('STARTTLS'), ehlo.raw);
  assert.ok(!ehlo.lines.some((l) => /^AUTH\b/.test(l)), ehlo.raw);
  // RFC 3207 §4: 530 "Must issue a STARTTLS command first".
  assert.equal(status(await authPlain(client, ALICE)), '530 5.7.0');
  assert.equal(status(await client.command('AUTH LOGIN')), '530 5.7.0');
  assert.equal(status(await client.command(`MAIL FROM:<${ALICE}>`)), '530 5.7.0');
  assert.equal(status(await client.command('NOOP')), '250 2.0.0');
});

test('587: after STARTTLS, AUTH PLAIN works and is then no longer offered', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'submission', { ehlo: true, startTls: false });
  const ehlo = await client.startTls();
  assert.ok(client.secure);
  assert.ok(ehlo.lines.includes('AUTH PLAIN LOGIN'), ehlo.raw);
  assert.ok(!ehlo.lines.includes('STARTTLS'), ehlo.raw);
  assert.equal(status(await client.command('STARTTLS')), '503 5.5.1');
  // RFC 4954 §4: MAIL before AUTH → 530 5.7.0.
  assert.equal(status(await client.command(`MAIL FROM:<${ALICE}>`)), '530 5.7.0');
  assert.equal(status(await authPlain(client, ALICE)), '235 2.7.0');
  assert.equal(status(await authPlain(client, ALICE)), '503 5.5.1');
  const again = await client.ehlo();
  assert.ok(!again.lines.some((l) => /^AUTH\b/.test(l)), again.raw);
  const r = await transaction(client, ALICE, [`bob@${DOMAIN}`], message('587 plain'));
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox(`bob@${DOMAIN}`)).length, 1);
});

test('465: implicit TLS offers AUTH PLAIN LOGIN; AUTH LOGIN step by step', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'submissions', { ehlo: false });
  assert.ok(client.secure);
  const ehlo = await client.ehlo();
  assert.ok(ehlo.lines.includes('AUTH PLAIN LOGIN'), ehlo.raw);
  assert.ok(!ehlo.lines.includes('STARTTLS'), ehlo.raw);
  const step1 = await client.command('AUTH LOGIN');
  assert.deepEqual([step1.code, step1.lines[0]], [334, b64('Username:')]);
  const step2 = await client.command(b64(ALICE));
  assert.deepEqual([step2.code, step2.lines[0]], [334, b64('Password:')]);
  assert.equal(status(await client.command(b64(PASSWORD))), '235 2.7.0');
  const r = await transaction(client, ALICE, [`bob@${DOMAIN}`], message('465 login'));
  assert.equal(status(r.end!), '250 2.0.0');
});

for (const listener of ['submission', 'submissions'] as const) {
  for (const method of ['PLAIN', 'LOGIN'] as const) {
    test(`${listener}: nodemailer with AUTH ${method} delivers byte-identically`, async (t) => {
      const server = await mailServer(t);
      const raw = message(`${listener} ${method}`, 'Body line\r\n.leading dot\r\nlast');
      const info = await submissionTransport(server, ALICE, { listener, method }).sendMail({
        envelope: { from: ALICE, to: [`bob@${DOMAIN}`] },
        raw,
      });
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
      const inbox = await server.inbox(`bob@${DOMAIN}`);
      assert.equal(inbox.length, 1);
      assert.equal(stripReceived(inbox[0]).toString(), raw);
      // RFC 3848: the Received header says TLS and authenticated; RFC 8314 §4.3: which TLS.
      const rest = stripReceived(inbox[0]).length;
      const trace = inbox[0].subarray(0, inbox[0].length - rest).toString().replace(/\r\n[ \t]+/g, ' ');
      assert.match(trace, /^Received: from \S+ \(\[127\.0\.0\.1\]\) \(using TLSv1\.[23] with cipher \S+\) by mx\.test\.example \(Posta\) with ESMTPSA id /);
    });
  }
}

test('submission: a wrong password or unknown user gets 535 5.7.8', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'submission');
  assert.equal(status(await authPlain(client, ALICE, 'wrong password')), '535 5.7.8');
  assert.equal(status(await authPlain(client, `nobody@${DOMAIN}`)), '535 5.7.8');
  // A username without a domain means the primary domain (alice = alice@example.test).
  assert.equal(status(await authPlain(client, 'alice')), '235 2.7.0');
  await assert.rejects(
    submissionTransport(server, ALICE, { password: 'wrong password' }).sendMail({
      envelope: { from: ALICE, to: [`bob@${DOMAIN}`] },
      raw: message('bad pw'),
    }),
    (err: { responseCode?: number; response?: string }) => err.responseCode === 535 && /^535 5\.7\.8 /.test(err.response ?? ''),
  );
});

test('submission: AUTH PLAIN with a different authorization identity is refused', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'submission');
  // RFC 4616 §2: authzid "bob", authcid "alice" with alice's password: we don't do proxy auth.
  const token = Buffer.from(`bob@${DOMAIN}\0${ALICE}\0${PASSWORD}`).toString('base64');
  assert.equal(status(await client.command(`AUTH PLAIN ${token}`)), '535 5.7.8');
  // The same identity twice is fine.
  const same = Buffer.from(`${ALICE}\0${ALICE}\0${PASSWORD}`).toString('base64');
  assert.equal(status(await client.command(`AUTH PLAIN ${same}`)), '235 2.7.0');
});

test('submission: sending as someone else gets 553 5.7.1', async (t) => {
  const server = await mailServer(t);
  await server.admin.addAlias(`sales@${DOMAIN}`, [`bob@${DOMAIN}`]);
  const client = await rawClient(t, server, 'submission');
  assert.equal(status(await authPlain(client, ALICE)), '235 2.7.0');
  for (const from of [`bob@${DOMAIN}`, `sales@${DOMAIN}`, 'alice@other.test', `alicex@${DOMAIN}`, `bob+alice@${DOMAIN}`]) {
    assert.equal(status(await client.command(`MAIL FROM:<${from}>`)), '553 5.7.1', from);
  }
  // The null reverse-path is for notifications, not for users.
  assert.equal(status(await client.command('MAIL FROM:<>')), '553 5.7.1');
  assert.equal(status(await client.command(`MAIL FROM:<${ALICE}>`)), '250 2.1.0');
});

test('submission: own address, a +tag of it, case variants and aliases that target the user work', async (t) => {
  const server = await mailServer(t);
  await server.admin.addDomain('other.test');
  await server.admin.addAlias(`info@${DOMAIN}`, [ALICE]);
  await server.admin.addAlias('alice@other.test', [ALICE]);
  await server.admin.addAlias(`team@${DOMAIN}`, [ALICE, `bob@${DOMAIN}`]);
  const client = await rawClient(t, server, 'submissions');
  assert.equal(status(await authPlain(client, ALICE)), '235 2.7.0');
  const senders = [ALICE, `alice+lists@${DOMAIN}`, `Alice@EXAMPLE.TEST`, `info@${DOMAIN}`, `info+x@${DOMAIN}`, 'alice@other.test', `team@${DOMAIN}`];
  for (const from of senders) {
    const r = await transaction(client, from, [`bob@${DOMAIN}`], message(`from ${from}`));
    assert.equal(status(r.mail), '250 2.1.0', from);
    assert.equal(status(r.end!), '250 2.0.0', from);
  }
  assert.equal((await server.inbox(`bob@${DOMAIN}`)).length, senders.length);
});

test('submission: a remote recipient is accepted and queued with its envelope', async (t) => {
  const server = await mailServer(t);
  const alice = await server.admin.getUser(ALICE);
  const info = await submissionTransport(server, ALICE).sendMail({
    envelope: { from: ALICE, to: ['friend@remote.test', `bob@${DOMAIN}`, 'other@Remote.Test'] },
    raw: message('outbound'),
  });
  assert.equal(info.accepted.length, 3);
  assert.equal((await server.inbox(`bob@${DOMAIN}`)).length, 1);
  const queue = await server.store.listQueue();
  assert.equal(queue.length, 1);
  const [queued] = queue;
  assert.equal(queued.reversePath, ALICE);
  assert.equal(queued.submitterAccountId, alice.id);
  assert.equal(queued.queueId, /queued as ([0-9A-Z]+)/.exec(info.response)![1]);
  assert.deepEqual(
    queued.recipients.map((r) => [r.forwardPath, r.domain, r.state === 'queued' || r.state === 'deferred']).sort(),
    [
      ['friend@remote.test', 'remote.test', true],
      ['other@remote.test', 'remote.test', true],
    ],
  );
});

test('submission adds Message-ID and Date when missing, and only then', async (t) => {
  const server = await mailServer(t);
  const transport = submissionTransport(server, ALICE);
  const bare = 'From: alice@example.test\r\nTo: bob@example.test\r\nSubject: bare\r\n\r\nNo id, no date.\r\n';
  await transport.sendMail({ envelope: { from: ALICE, to: [`bob@${DOMAIN}`] }, raw: bare });
  const complete = message('complete');
  await transport.sendMail({ envelope: { from: ALICE, to: [`bob@${DOMAIN}`] }, raw: complete });
  const onlyDate = 'Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nSubject: has date\r\n\r\nx\r\n';
  await transport.sendMail({ envelope: { from: ALICE, to: [`bob@${DOMAIN}`] }, raw: onlyDate });
  const [first, second, third] = (await server.inbox(`bob@${DOMAIN}`)).map((m) => stripReceived(m).toString());
  const added = /^Date: [A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000\r\nMessage-ID: <[^<>@\s]+@mx\.test\.example>\r\n/;
  assert.match(first, added);
  assert.equal(first.replace(added, ''), bare);
  assert.equal(second, complete);
  assert.match(third, /^Message-ID: <[^>]+>\r\nDate: Mon, 30 Nov 2026/);
  assert.equal((third.match(/^Date:/gm) ?? []).length, 1);

  // The MX leaves messages from other servers as they are.
  await mxTransport(server).sendMail({ envelope: { from: 'x@remote.test', to: [`bob@${DOMAIN}`] }, raw: bare });
  const fromMx = (await server.inbox(`bob@${DOMAIN}`))[3];
  assert.equal(stripReceived(fromMx).toString(), bare);
});
