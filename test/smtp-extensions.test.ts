/**
 * ESMTP extensions and limits (issue #2 point 6): the EHLO keywords, SIZE (RFC 1870),
 * the recipient limit (452 4.5.3), DSN parameters (RFC 3461), SMTPUTF8 and 8BITMIME.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import nodemailer from 'nodemailer';
import { stripReceived } from './helpers/harness.js';
import { dataPayload, status } from './helpers/smtp-client.js';
import {
  DOMAIN,
  PASSWORD,
  authPlain,
  mailServer,
  message,
  rawClient,
  storedCount,
  submissionTransport,
  tmpFiles,
  transaction,
} from './helpers/smtp-fixtures.js';

const ALICE = `alice@${DOMAIN}`;

test('EHLO advertises PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN', async (t) => {
  const server = await mailServer(t, { limits: { message_size: '10MB' } });
  for (const listener of ['smtp', 'submission', 'submissions'] as const) {
    const client = await rawClient(t, server, listener, { ehlo: false });
    const ehlo = await (listener === 'submission' ? client.ehlo().then(() => client.startTls()) : client.ehlo());
    assert.equal(ehlo.code, 250);
    // RFC 2034 §3 / RFC 5321 §4.1.1.1: no enhanced code on EHLO lines; the first names us.
    assert.match(ehlo.lines[0], /^mx\.test\.example /);
    const keywords = ehlo.lines.slice(1);
    for (const k of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', `SIZE ${10 * 1024 * 1024}`]) {
      assert.ok(keywords.includes(k), `${listener} lacks ${k}: ${ehlo.raw}`);
    }
    // The MX offers STARTTLS for opportunistic TLS (RFC 3207) but never AUTH.
    if (listener === 'smtp') assert.ok(keywords.includes('STARTTLS'));
    assert.equal(keywords.some((k) => k.startsWith('AUTH')), listener !== 'smtp');
  }
});

test('SIZE: a declared size over the limit gets 552 5.3.4 at MAIL', async (t) => {
  const server = await mailServer(t, { limits: { message_size: '10KB' } });
  const client = await rawClient(t, server);
  assert.equal(status(await client.command('MAIL FROM:<s@remote.test> SIZE=10241')), '552 5.3.4');
  assert.equal((await client.command('MAIL FROM:<s@remote.test> SIZE=12x')).code, 501);
  assert.equal(status(await client.command('MAIL FROM:<s@remote.test> SIZE=10240')), '250 2.1.0');
});

test('SIZE: DATA over the limit gets 552 5.3.4, nothing is stored, the session goes on', async (t) => {
  const server = await mailServer(t, { limits: { message_size: '10KB' } });
  const client = await rawClient(t, server);
  const line = 'x'.repeat(98) + '\r\n';
  const big = message('big', line.repeat(200)); // ~20 KB
  const r = await transaction(client, 's@remote.test', [ALICE], big);
  assert.equal(status(r.end!), '552 5.3.4');
  assert.equal(await storedCount(server), 0);
  assert.deepEqual(tmpFiles(server), []);
  // Exactly at the limit is fine, and the connection is in sync.
  const head = message('fits', '');
  const fill = 10 * 1024 - head.length;
  const fits = head + line.repeat(Math.floor(fill / line.length)) + 'y'.repeat((fill % line.length) - 2) + '\r\n';
  assert.equal(Buffer.byteLength(fits), 10 * 1024);
  const ok = await transaction(client, 's@remote.test', [ALICE], fits);
  assert.equal(status(ok.end!), '250 2.0.0');
  assert.equal(stripReceived((await server.inbox(ALICE))[0]).toString(), fits);
  assert.deepEqual(tmpFiles(server), []);
});

test('more recipients than limits.recipients get 452 4.5.3; the accepted ones get the message', async (t) => {
  const server = await mailServer(t, { limits: { recipients: 2 } });
  await server.admin.addUser(`carol@${DOMAIN}`, PASSWORD);
  const client = await rawClient(t, server);
  const r = await transaction(client, 's@remote.test', [ALICE, `bob@${DOMAIN}`, `carol@${DOMAIN}`, `postmaster@${DOMAIN}`], message('many'));
  assert.deepEqual(r.rcpts.map(status), ['250 2.1.5', '250 2.1.5', '452 4.5.3', '452 4.5.3']);
  assert.equal(status(r.end!), '250 2.0.0');
  assert.equal((await server.inbox(ALICE)).length, 1);
  assert.equal((await server.inbox(`bob@${DOMAIN}`)).length, 1);
  assert.equal((await server.inbox(`carol@${DOMAIN}`)).length, 0);
  // A repeated recipient is not a new one.
  assert.equal(status(await client.command('MAIL FROM:<s@remote.test>')), '250 2.1.0');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}>`)), '250 2.1.5');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}>`)), '250 2.1.5');
  assert.equal(status(await client.command(`RCPT TO:<bob@${DOMAIN}>`)), '250 2.1.5');
  assert.equal(status(await client.command(`RCPT TO:<carol@${DOMAIN}>`)), '452 4.5.3');

  // nodemailer sees the same: two accepted, the rest rejected, the message sent.
  const info = await nodemailer
    .createTransport({ host: '127.0.0.1', port: server.port('smtp'), ignoreTLS: true })
    .sendMail({ envelope: { from: 's@remote.test', to: [`carol@${DOMAIN}`, ALICE, `bob@${DOMAIN}`] }, raw: message('nm') });
  assert.deepEqual(info.accepted, [`carol@${DOMAIN}`, ALICE]);
  assert.deepEqual(info.rejected, [`bob@${DOMAIN}`]);
  assert.equal((await server.inbox(`carol@${DOMAIN}`)).length, 1);
});

test('DSN parameters are parsed, decoded once, and stored with the queued message', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'submission');
  assert.equal(status(await authPlain(client, ALICE)), '235 2.7.0');
  const mail = await client.command(`MAIL FROM:<${ALICE}> RET=HDRS ENVID=QQ314159+2B1+3Dx BODY=8BITMIME`);
  assert.equal(status(mail), '250 2.1.0');
  const rcpts = [
    'RCPT TO:<friend@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;friend+2Bold@remote.test',
    'RCPT TO:<quiet@remote.test> NOTIFY=never',
    'RCPT TO:<plain@remote.test>',
    'RCPT TO:<intl@remote.test> ORCPT=utf-8;jos\\x{E9}@remote.test',
  ];
  for (const cmd of rcpts) assert.equal(status(await client.command(cmd)), '250 2.1.5', cmd);
  assert.equal((await client.command('DATA')).code, 354);
  client.write(dataPayload(message('dsn')));
  assert.equal(status(await client.readReply()), '250 2.0.0');

  const [queued] = await server.store.listQueue();
  assert.deepEqual(queued.dsn, { ret: 'HDRS', envid: 'QQ314159+1=x' });
  assert.equal(queued.bodyType, '8bitmime');
  const byAddress = new Map(queued.recipients.map((r) => [r.forwardPath, r]));
  assert.deepEqual(byAddress.get('friend@remote.test')!.notify, ['SUCCESS', 'FAILURE']);
  assert.deepEqual(byAddress.get('friend@remote.test')!.orcpt, { addrType: 'rfc822', address: 'friend+old@remote.test' });
  assert.deepEqual(byAddress.get('quiet@remote.test')!.notify, ['NEVER']);
  assert.equal(byAddress.get('plain@remote.test')!.notify, null);
  assert.equal(byAddress.get('plain@remote.test')!.orcpt, null);
  assert.deepEqual(byAddress.get('intl@remote.test')!.orcpt, { addrType: 'utf-8', address: 'josé@remote.test' });
});

test('DSN parameters: bad xtext, bad values and bad NOTIFY combinations get 501', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'submission');
  assert.equal(status(await authPlain(client, ALICE)), '235 2.7.0');
  const badMail = [
    'ENVID=abc+zz', // "+" must be followed by two upper-case hex digits
    'ENVID=abc+2b',
    'ENVID=a=b', // "=" is not xtext
    `ENVID=${'x'.repeat(101)}`, // at most 100 characters (RFC 3461 §4.4)
    'ENVID=+0D+0A', // decodes to controls
    'ENVID=',
    'RET=FOO',
    'RET=FULL RET=HDRS',
  ];
  for (const params of badMail) {
    const reply = await client.command(`MAIL FROM:<${ALICE}> ${params}`);
    assert.equal(reply.code, 501, `${params}: ${reply.raw}`);
    assert.match(reply.enhanced ?? '', /^5\.5\.4$|^5\.1\.7$/, `${params}: ${reply.raw}`);
  }
  assert.equal(status(await client.command(`MAIL FROM:<${ALICE}> RET=FULL ENVID=ok`)), '250 2.1.0');
  const badRcpt = [
    'NOTIFY=NEVER,SUCCESS',
    'NOTIFY=BOGUS',
    'NOTIFY=',
    'ORCPT=rfc822;bad+zz@remote.test',
    'ORCPT=rfc822;no-at-sign',
    'ORCPT=nosemicolon',
    'ORCPT=rfc822;',
    'ORCPT=rfc822;a+0D+0Ab@remote.test',
    'ORCPT=utf-8;bad\\x{41}@remote.test', // an ASCII character must not be escaped (RFC 6533 §3)
  ];
  for (const params of badRcpt) {
    const reply = await client.command(`RCPT TO:<friend@remote.test> ${params}`);
    assert.equal(reply.code, 501, `${params}: ${reply.raw}`);
  }
  assert.equal(status(await client.command('RCPT TO:<friend@remote.test> NOTIFY=DELAY')), '250 2.1.5');
});

test('unknown MAIL and RCPT parameters get 555 5.5.4 (RFC 5321 §4.1.1.11)', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  assert.equal(status(await client.command('MAIL FROM:<s@remote.test> FOO=bar')), '555 5.5.4');
  assert.equal(status(await client.command('MAIL FROM:<s@remote.test> MT-PRIORITY=3')), '555 5.5.4');
  // REQUIRETLS (RFC 8689) is not offered: refused (smtp-server says 530 on a plain connection).
  assert.ok((await client.command('MAIL FROM:<s@remote.test> REQUIRETLS')).code >= 500);
  assert.equal((await client.command('MAIL FROM:<s@remote.test> BODY=BINARYMIME')).code, 501);
  // RFC 4954 §5: AUTH=<> from a relaying client is accepted (and ignored).
  assert.equal(status(await client.command('MAIL FROM:<s@remote.test> AUTH=<>')), '250 2.1.0');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}> XYZZY`)), '555 5.5.4');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}>`)), '250 2.1.5');
});

test('SMTPUTF8: UTF-8 addresses and 8-bit content are accepted and stored byte-identically', async (t) => {
  const server = await mailServer(t);
  await server.admin.addUser(`josé@${DOMAIN}`, PASSWORD);
  const client = await rawClient(t, server);
  const body =
    'From: =?utf-8?q?Jos=C3=A9?= <josé@example.test>\r\nTo: josé@example.test\r\nSubject: Grüße aus Ljubljana\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nŽluťoučký kůň, čćđšž.\r\n';
  const r = await transaction(client, `josé@${DOMAIN}`, [`JOSÉ@${DOMAIN}`, ALICE], body, { mailParams: 'SMTPUTF8 BODY=8BITMIME' });
  assert.equal(status(r.mail), '250 2.1.0');
  assert.deepEqual(r.rcpts.map(status), ['250 2.1.5', '250 2.1.5']);
  assert.equal(status(r.end!), '250 2.0.0');
  const [stored] = await server.inbox(`josé@${DOMAIN}`);
  assert.ok(stripReceived(stored).equals(Buffer.from(body, 'utf8')));
  // RFC 6531 §3.7.3: the Received header says UTF8SMTP.
  assert.match(stored.toString(), /with UTF8SMTP id/);
  assert.equal((await server.inbox(ALICE)).length, 1);

  // nodemailer adds SMTPUTF8 by itself for a UTF-8 envelope.
  const info = await submissionTransport(server, `josé@${DOMAIN}`).sendMail({
    envelope: { from: `josé@${DOMAIN}`, to: [ALICE] },
    raw: body,
  });
  assert.match(info.response, /^250 2\.0\.0/);
  assert.equal((await server.inbox(ALICE)).length, 2);
});

test('a UTF-8 address without SMTPUTF8 gets 553 5.6.7 (RFC 6531 §3.5)', async (t) => {
  const server = await mailServer(t);
  await server.admin.addUser(`josé@${DOMAIN}`, PASSWORD);
  const client = await rawClient(t, server);
  assert.equal(status(await client.command(`MAIL FROM:<josé@${DOMAIN}>`)), '553 5.6.7');
  assert.equal(status(await client.command('MAIL FROM:<s@pošta.test>')), '553 5.6.7');
  assert.equal(status(await client.command('MAIL FROM:<s@remote.test>')), '250 2.1.0');
  assert.equal(status(await client.command(`RCPT TO:<josé@${DOMAIN}>`)), '553 5.6.7');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}>`)), '250 2.1.5');
});
