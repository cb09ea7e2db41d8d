/**
 * Concurrent sessions (issue #2 points 6-7): every 250 is exactly one stored,
 * byte-identical message, and concurrent sessions share commits (group commit).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import nodemailer from 'nodemailer';
import { stripReceived } from './helpers/harness.js';
import { DOMAIN, PASSWORD, allInboxes, mailServer } from './helpers/smtp-fixtures.js';

const CONNECTIONS = 20;
const PER_CONNECTION = 5;
const USERS = ['alice', 'bob', 'carol', 'dave'];

test('20 concurrent connections × 5 messages: every 250 is one byte-identical stored message', async (t) => {
  const server = await mailServer(t);
  for (const user of USERS.slice(2)) await server.admin.addUser(`${user}@${DOMAIN}`, PASSWORD);

  // The ledger: what each 250 promised, by the Message-ID of the message.
  const ledger = new Map<string, { to: string; raw: string; queueId: string }>();
  const refused: string[] = [];

  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: server.port('smtp'),
        ignoreTLS: true,
        pool: true,
        maxConnections: 1,
        maxMessages: Infinity,
      });
      try {
        for (let m = 0; m < PER_CONNECTION; m++) {
          const id = `c${c}m${m}`;
          const to = `${USERS[(c + m) % USERS.length]}@${DOMAIN}`;
          // Different sizes and a dot-leading line, so the bytes really are compared.
          const raw =
            `From: sender${c}@remote.test\r\nTo: ${to}\r\nSubject: ${id}\r\nMessage-ID: <${id}@remote.test>\r\n\r\n` +
            `${'line of text\r\n'.repeat(1 + ((c * 7 + m * 13) % 40))}.dot at the start\r\nend ${id}\r\n`;
          try {
            const info = await transport.sendMail({ envelope: { from: `sender${c}@remote.test`, to: [to] }, raw });
            const queued = /^250 2\.0\.0 Ok: queued as ([0-9A-Z]+)$/.exec(info.response);
            assert.ok(queued, info.response);
            ledger.set(id, { to, raw, queueId: queued[1] });
          } catch (err) {
            refused.push(`${id}: ${(err as Error).message}`);
          }
        }
      } finally {
        transport.close();
      }
    }),
  );

  assert.deepEqual(refused, []);
  assert.equal(ledger.size, CONNECTIONS * PER_CONNECTION);
  assert.equal(new Set([...ledger.values()].map((e) => e.queueId)).size, ledger.size, 'queue ids are unique');

  const inboxes = await allInboxes(server);
  const seen = new Set<string>();
  let stored = 0;
  for (const [address, messages] of inboxes) {
    for (const message of messages) {
      stored++;
      const id = /^Subject: (\S+)\r$/m.exec(message.toString('latin1'))?.[1] ?? '';
      const entry = ledger.get(id);
      assert.ok(entry, `stored message ${id} in ${address} was never acknowledged`);
      assert.ok(!seen.has(id), `${id} stored twice`);
      seen.add(id);
      assert.equal(address, entry.to);
      assert.equal(stripReceived(message).toString('latin1'), entry.raw, id);
      assert.match(message.toString('latin1'), new RegExp(`^Received: [^]*?id ${entry.queueId}\\b`));
    }
  }
  assert.equal(stored, ledger.size);

  // Group commit: with 20 sessions finishing DATA at once, commits are shared.
  t.diagnostic(`spool: ${server.spool.stats.messages} messages in ${server.spool.stats.commits} commits`);
  assert.equal(server.spool.stats.messages, ledger.size);
  assert.ok(server.spool.stats.commits < server.spool.stats.messages, JSON.stringify(server.spool.stats));
});
