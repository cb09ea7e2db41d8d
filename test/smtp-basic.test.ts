import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import nodemailer from 'nodemailer';
import { startTestServer, stripReceived } from './helpers/harness.js';

test('MX accepts mail for a local user and stores it in INBOX', async (t) => {
  const server = await startTestServer();
  t.after(() => server.close());
  await server.admin.addDomain('example.test');
  await server.admin.addUser('alice@example.test', 'correct horse battery');

  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('smtp'), secure: false, ignoreTLS: true });
  const raw = 'From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHello Alice\r\n';
  const info = await transport.sendMail({ envelope: { from: 'bob@remote.test', to: ['alice@example.test'] }, raw });
  assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-Z]+$/);
  const inbox = await server.inbox('alice@example.test');
  assert.equal(inbox.length, 1);
  assert.equal(stripReceived(inbox[0]).toString(), raw);
  assert.match(inbox[0].toString(), /^Received: from /);
});

test('small bodies are stored inline, large ones as blob files; both read back byte-identical', async (t) => {
  const server = await startTestServer();
  t.after(() => server.close());
  await server.admin.addDomain('example.test');
  await server.admin.addUser('alice@example.test', 'correct horse battery');
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: server.port('smtp'), ignoreTLS: true });
  const small = 'Subject: small\r\n\r\nshort\r\n';
  const large = 'Subject: large\r\n\r\n' + 'x'.repeat(76).concat('\r\n').repeat(4000);
  for (const raw of [small, large]) {
    await transport.sendMail({ envelope: { from: 'bob@remote.test', to: ['alice@example.test'] }, raw });
  }
  const inbox = await server.inbox('alice@example.test');
  assert.deepEqual(inbox.map((m) => stripReceived(m).toString()), [small, large]);
  const account = await server.admin.getUser('alice@example.test');
  const box = (await server.store.listMailboxes(account.id)).find((m) => m.name === 'INBOX')!;
  const [smallRow, largeRow] = await server.store.listMailboxMessages(box.id);
  assert.ok(await server.store.readInlineBody(smallRow.blobHash), 'the small body is in the database');
  assert.equal(await server.store.readInlineBody(largeRow.blobHash), null, 'the large body is not');
  assert.ok(fs.existsSync(server.blobs.pathOf(largeRow.blobHash)), 'the large body is a blob file');
});
