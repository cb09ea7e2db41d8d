/**
 * Hostile input (issue #2 point 8): SMTP smuggling, over-long lines, STARTTLS command
 * injection (CVE-2011-0411), malformed addresses, slow clients, AUTH guessing.
 * Each case checks the exact reply, that nothing was stored, and that the session is
 * still in sync afterwards.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './helpers/harness.js';
import { RawSmtpClient, status } from './helpers/smtp-client.js';
import {
  DOMAIN,
  PASSWORD,
  authPlain,
  mailServer,
  message,
  rawClient,
  storedCount,
  tmpFiles,
  transaction,
} from './helpers/smtp-fixtures.js';

const ALICE = `alice@${DOMAIN}`;
const BOB = `bob@${DOMAIN}`;

/** The next reply must be a plain answer to NOOP, and nothing else may be pending. */
async function assertInSync(client: RawSmtpClient): Promise<void> {
  const noop = await client.command('NOOP');
  assert.equal(status(noop), '250 2.0.0', noop.raw);
  assert.deepEqual(noop.lines, ['OK']);
  assert.deepEqual(client.unread.replies, []);
}

// SMTP smuggling end-of-data lookalikes (SEC Consult 2023; Postfix smtpd_forbid_bare_newline).
const SMUGGLING: Array<[string, string, string?]> = [
  ['<LF>.<LF>', '\n.\n'],
  ['<LF>.<CR><LF>', '\n.\r\n'],
  ['<CR>.<CR>', '\r.\r'],
  ['<CR><LF>.<LF>', '\r\n.\n'],
  ['<LF>.<CR>', '\n.\r'],
  ['<CR>.<LF>', '\r.\n'],
  ['<CR><LF>.<CR>', '\r\n.\r'],
  ['<CR>.<CR><LF>', '\r.\r\n'],
  ['<CR><LF>.<CR><CR><LF>', '\r\n.\r\r\n'],
  // Not a line end at all, but a server that strips NULs would make one.
  ['<CR><LF><NUL>.<CR><LF>', '\r\n\x00.\r\n', '550 5.6.0'],
  ['<LF><LF>.<LF><LF>', '\n\n.\n\n'],
];

for (const [name, sequence, expected = '550 5.5.2'] of SMUGGLING) {
  test(`smuggling ${name}: never two messages; the whole DATA is refused with ${expected}`, async (t) => {
    const server = await mailServer(t);
    const client = await rawClient(t, server);
    assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
    assert.equal(status(await client.command(`RCPT TO:<${ALICE}>`)), '250 2.1.5');
    assert.equal((await client.command('DATA')).code, 354);
    const smuggled =
      'From: sender@remote.test\r\nSubject: first\r\n\r\nfirst body\r\n' +
      sequence +
      `MAIL FROM:<admin@${DOMAIN}>\r\nRCPT TO:<${BOB}>\r\nDATA\r\n` +
      `From: admin@${DOMAIN}\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n` +
      '\r\n.\r\n';
    client.write(Buffer.from(smuggled, 'latin1'));
    const reply = await client.readReply();
    // The server answers the whole DATA once, only after the real <CRLF>.<CRLF>.
    assert.equal(status(reply), expected, reply.raw);
    await assertInSync(client);
    assert.equal(await storedCount(server), 0);
    assert.deepEqual(tmpFiles(server), []);
    // The connection still works for an honest message.
    const ok = await transaction(client, 'sender@remote.test', [ALICE], message('after smuggling'));
    assert.equal(status(ok.end!), '250 2.0.0');
    assert.equal((await server.inbox(ALICE)).length, 1);
    assert.equal((await server.inbox(BOB)).length, 0);
  });
}

test('a bare LF or bare CR anywhere in DATA gets 550 5.5.2 and nothing is stored', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  for (const body of ['Subject: x\n\nbody\r\n', 'Subject: x\r\n\r\nbo\rdy\r\n', 'Subject: x\r\n\r\nlast line\r']) {
    const r = await transaction(client, 'sender@remote.test', [ALICE], body);
    assert.equal(status(r.end!), '550 5.5.2', JSON.stringify(body));
  }
  assert.equal(await storedCount(server), 0);
  assert.deepEqual(tmpFiles(server), []);
  await assertInSync(client);
});

test('a command line over 512 octets gets 500 5.5.2 (RFC 5321 §4.5.3.1.4)', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  // 512 octets with CRLF is the limit and fine.
  assert.equal(status(await client.command('NOOP ' + 'x'.repeat(512 - 2 - 5))), '250 2.0.0');
  assert.equal(status(await client.command('NOOP ' + 'x'.repeat(512 - 2 - 4))), '500 5.5.2');
  assert.equal(status(await client.command('EHLO ' + 'a'.repeat(600))), '500 5.5.2');
  assert.equal(status(await client.command('HELP ' + 'x'.repeat(5000))), '500 5.5.2');
  // MAIL and RCPT get room for their parameters (RFC 1869 §4.1.2, RFC 3461 §5), not more.
  assert.equal(status(await client.command(`MAIL FROM:<sender@remote.test> ENVID=${'e'.repeat(100)}`)), '250 2.1.0');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}> ${'X'.repeat(1100)}`)), '500 5.5.2');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}>`)), '250 2.1.5');
  await assertInSync(client);
});

test('a command line beyond any sane length closes the connection with 421', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  client.write('NOOP ' + 'x'.repeat(64 * 1024) + '\r\n');
  const reply = await client.readReply();
  assert.equal(reply.code, 421, reply.raw);
  await client.waitClosed();
});

test('a text line over 1000 octets in DATA gets 550 5.6.0 and nothing is stored', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  // RFC 5321 §4.5.3.1.6: 1000 octets including CRLF is still fine.
  const longest = message('longest', 'y'.repeat(998));
  const ok = await transaction(client, 'sender@remote.test', [ALICE], longest);
  assert.equal(status(ok.end!), '250 2.0.0');
  const tooLong = message('too long', 'z'.repeat(999));
  const r = await transaction(client, 'sender@remote.test', [ALICE], tooLong);
  assert.equal(status(r.end!), '550 5.6.0');
  const longHeader = await transaction(client, 'sender@remote.test', [ALICE], `Subject: ${'h'.repeat(5000)}\r\n\r\nx\r\n`);
  assert.equal(status(longHeader.end!), '550 5.6.0');
  assert.equal((await server.inbox(ALICE)).length, 1);
  assert.deepEqual(tmpFiles(server), []);
  await assertInSync(client);
});

for (const listener of ['smtp', 'submission'] as const) {
  test(`${listener}: commands pipelined after STARTTLS are discarded (CVE-2011-0411)`, async (t) => {
    const server = await mailServer(t);
    const client = await rawClient(t, server, listener, { startTls: false });
    client.write(`STARTTLS\r\nRSET\r\nMAIL FROM:<${ALICE}>\r\n`);
    const ready = await client.readReply();
    assert.equal(status(ready), '220 2.0.0');
    // upgrade() throws if anything followed the 220 in plaintext.
    await client.upgrade();
    // Inside TLS, the first reply must be the one to our EHLO, not to the injected RSET.
    const ehlo = await client.ehlo();
    assert.equal(ehlo.code, 250);
    assert.match(ehlo.lines[0], /^mx\.test\.example /);
    assert.ok(ehlo.lines.length > 1, ehlo.raw);
    await assertInSync(client);
    // The injected MAIL did not start a transaction: RCPT needs MAIL first.
    assert.equal((await client.command(`RCPT TO:<${ALICE}>`)).code, listener === 'smtp' ? 503 : 530);
  });
}

test('pipelined commands (RFC 2920) in one write get their replies in order', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  client.write(`MAIL FROM:<sender@remote.test>\r\nRCPT TO:<${ALICE}>\r\nRCPT TO:<nobody@${DOMAIN}>\r\nRCPT TO:<${BOB}>\r\nDATA\r\n`);
  const replies = [];
  for (let i = 0; i < 5; i++) replies.push(await client.readReply());
  assert.deepEqual(replies.map(status), ['250 2.1.0', '250 2.1.5', '550 5.1.1', '250 2.1.5', '354']);
  client.write(`${message('pipelined')}.\r\nRSET\r\nNOOP\r\n`);
  assert.equal(status(await client.readReply()), '250 2.0.0');
  assert.equal(status(await client.readReply()), '250 2.0.0');
  assert.equal(status(await client.readReply()), '250 2.0.0');
  assert.equal((await server.inbox(ALICE)).length, 1);
  assert.equal((await server.inbox(BOB)).length, 1);
});

const MALFORMED = [
  '<a b@example.test>',
  '<foo@>',
  '<@example.test>',
  '<a@b@example.test>',
  '<.a@example.test>',
  '<a..b@example.test>',
  '<a@-example.test>',
  '<a@exa_mple.test>',
  '<a@example..test>',
  '<a@[300.1.1.1]>',
  '<a\x01b@example.test>',
  '<a\x00b@example.test>',
  '<a\rb@example.test>',
  '<a\x7fb@example.test>',
  `<${'l'.repeat(65)}@example.test>`,
  'a@example.test',
  '<a@example.test',
  '<<a@example.test>>',
];

test('malformed reverse-paths get 501 and change nothing', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  for (const path of MALFORMED) {
    const reply = await client.command(Buffer.from(`MAIL FROM:${path}`, 'latin1'));
    assert.equal(reply.code, 501, `${JSON.stringify(path)}: ${reply.raw}`);
    assert.match(reply.enhanced ?? '', /^5\.[15]\.\d$/, JSON.stringify(path));
  }
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  await assertInSync(client);
});

test('malformed forward-paths get 501 and change nothing', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  for (const path of [...MALFORMED, '<>', '<alice@example.test> NOTIFY=SUCCESS\x00']) {
    const reply = await client.command(Buffer.from(`RCPT TO:${path}`, 'latin1'));
    assert.equal(reply.code, 501, `${JSON.stringify(path)}: ${reply.raw}`);
  }
  assert.equal((await client.command('DATA')).code, 503);
  await assertInSync(client);
  assert.equal(await storedCount(server), 0);
});

test('an idle client is disconnected with 421 after limits.command_timeout', async (t) => {
  const server = await mailServer(t, { limits: { command_timeout: '1s' } });
  const client = await rawClient(t, server);
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  const reply = await client.readReply(20_000);
  assert.equal(status(reply), '421 4.4.2');
  await client.waitClosed();
});

test('a client dribbling DATA past limits.data_timeout gets 421 4.4.2; nothing is stored', async (t) => {
  const server = await mailServer(t, { limits: { data_timeout: '1s' } });
  const client = await rawClient(t, server);
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}>`)), '250 2.1.5');
  assert.equal((await client.command('DATA')).code, 354);
  client.write('Subject: slow\r\n\r\n');
  // A byte every 100 ms keeps the idle timer happy, but not the deadline.
  const drip = setInterval(() => {
    if (!client.isClosed) client.write('.');
  }, 100);
  t.after(() => clearInterval(drip));
  const reply = await client.readReply(20_000);
  clearInterval(drip);
  assert.equal(status(reply), '421 4.4.2');
  await client.waitClosed();
  await waitFor(() => tmpFiles(server).length === 0, 'temporary blob removed');
  assert.equal(await storedCount(server), 0);
  // The server is fine.
  const next = await rawClient(t, server);
  const ok = await transaction(next, 'sender@remote.test', [ALICE], message('after slow'));
  assert.equal(status(ok.end!), '250 2.0.0');
});

test('a client that disconnects during DATA leaves nothing behind', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server);
  assert.equal(status(await client.command('MAIL FROM:<sender@remote.test>')), '250 2.1.0');
  assert.equal(status(await client.command(`RCPT TO:<${ALICE}>`)), '250 2.1.5');
  assert.equal((await client.command('DATA')).code, 354);
  // Over the inline limit (128 KiB), so the body spills to a temporary file.
  client.write('Subject: cut\r\n\r\n' + 'partial line\r\n'.repeat(12_000));
  await waitFor(() => tmpFiles(server).length === 1, 'the DATA writer to spill to a file');
  client.close();
  await waitFor(() => tmpFiles(server).length === 0, 'temporary blob removed');
  assert.equal(await storedCount(server), 0);
});

test('failed AUTH is rate-limited per IP: the attempt after the limit gets 454 4.7.0', async (t) => {
  const server = await mailServer(t, { limits: { auth_failures: 3 } });
  const client = await rawClient(t, server, 'submissions');
  for (let i = 0; i < 3; i++) assert.equal(status(await authPlain(client, ALICE, `wrong ${i}`)), '535 5.7.8');
  // Even the right password is refused now, on this and on a new connection.
  assert.equal(status(await authPlain(client, ALICE, PASSWORD)), '454 4.7.0');
  const second = await rawClient(t, server, 'submission');
  assert.equal(status(await authPlain(second, `bob@${DOMAIN}`, PASSWORD)), '454 4.7.0');
  const third = await rawClient(t, server, 'submission');
  const step = await third.command('AUTH LOGIN');
  assert.equal(step.code, 334);
  assert.equal((await third.command(Buffer.from(ALICE).toString('base64'))).code, 334);
  assert.equal(status(await third.command(Buffer.from(PASSWORD).toString('base64'))), '454 4.7.0');
  // The MX does not care.
  const mx = await rawClient(t, server);
  const ok = await transaction(mx, 'sender@remote.test', [ALICE], message('mx still works'));
  assert.equal(status(ok.end!), '250 2.0.0');
});

test('more connections from one IP than limits.connections_per_ip get 421 4.7.0', async (t) => {
  const server = await mailServer(t, { limits: { connections_per_ip: 2 } });
  const first = await rawClient(t, server);
  await rawClient(t, server);
  const third = await RawSmtpClient.connect(server.port('smtp'));
  t.after(() => third.close());
  assert.equal(status(third.greeting), '421 4.7.0');
  await third.waitClosed();
  // A slot frees up when a client leaves, and the refused one did not use one.
  assert.equal(status(await first.command('QUIT')), '221 2.0.0');
  await first.waitClosed();
  const again = (await waitFor(async () => {
    const c = await RawSmtpClient.connect(server.port('smtp'));
    if (c.greeting.code === 220) return c;
    c.close();
    return null;
  }, 'a free connection slot'))!;
  t.after(() => again.close());
  assert.equal(status(await again.ehlo()), '250');
  const fourth = await RawSmtpClient.connect(server.port('smtp'));
  t.after(() => fourth.close());
  assert.equal(status(fourth.greeting), '421 4.7.0');
  // Closed here: the server's close would wait for open connections.
  again.close();
});

test('a failed TLS handshake after STARTTLS closes that connection only', async (t) => {
  const server = await mailServer(t);
  const client = await rawClient(t, server, 'submission', { startTls: false });
  assert.equal((await client.command('STARTTLS')).code, 220);
  client.write('this is not a TLS ClientHello\r\n\r\n');
  await client.waitClosed();
  const next = await rawClient(t, server, 'submission');
  assert.equal(status(await authPlain(next, ALICE)), '235 2.7.0');
});

test('the AUTH limit holds against concurrent guesses on many connections', async (t) => {
  const server = await mailServer(t, { limits: { auth_failures: 3 } });
  const clients = await Promise.all(Array.from({ length: 12 }, () => rawClient(t, server, 'submissions')));
  // All guesses in flight at once: checking the limit only before the (slow) password
  // hash would let every one of them through.
  const replies = await Promise.all(clients.map((c, i) => authPlain(c, ALICE, `guess ${i}`)));
  const codes = replies.map(status);
  assert.equal(codes.filter((c) => c === '535 5.7.8').length, 3, codes.join(', '));
  assert.equal(codes.filter((c) => c === '454 4.7.0').length, 9, codes.join(', '));
});

test('honest concurrent logins from one IP are not refused by the AUTH limit', async (t) => {
  const server = await mailServer(t, { limits: { auth_failures: 3 } });
  const clients = await Promise.all(Array.from({ length: 8 }, () => rawClient(t, server, 'submissions')));
  const replies = await Promise.all(clients.map((c) => authPlain(c, ALICE)));
  assert.deepEqual(replies.map(status), Array(8).fill('235 2.7.0'));
});

test('a store failure at commit gives 451 4.3.0, stores nothing, and the next message works', async (t) => {
  const server = await mailServer(t);
  const commit = server.store.commitIncoming.bind(server.store);
  server.store.commitIncoming = async () => {
    throw new Error('simulated disk failure');
  };
  const client = await rawClient(t, server);
  const r = await transaction(client, 'sender@remote.test', [ALICE], message('fails'));
  // DESIGN.md §5: the client hears only the generic text, never the internal error.
  assert.equal(status(r.end!), '451 4.3.0');
  assert.doesNotMatch(r.end!.raw, /simulated/);
  assert.deepEqual(tmpFiles(server), []);
  server.store.commitIncoming = commit;
  const ok = await transaction(client, 'sender@remote.test', [ALICE], message('works again'));
  assert.equal(status(ok.end!), '250 2.0.0');
  assert.equal((await server.inbox(ALICE)).length, 1);
});

test('more connections than limits.connections get 421 4.3.2 at the greeting', async (t) => {
  const server = await mailServer(t, { limits: { connections: 1 } });
  const first = await rawClient(t, server);
  const second = await RawSmtpClient.connect(server.port('smtp'));
  t.after(() => second.close());
  assert.equal(status(second.greeting), '421 4.3.2');
  await second.waitClosed();
  // The connection that got in keeps working.
  assert.equal(status(await first.ehlo()), '250');
});
