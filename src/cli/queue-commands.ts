/**
 * `posta queue ...`: mailq, postcat -q, postqueue -f, postsuper -h/-H/-d and bounce, as
 * Postfix users know them. They act on the store, so a running server sees the change
 * within a second (its scheduler polls), and they work while it is stopped too.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { QueueAdmin } from '../admin/queue-admin.js';
import { FsBlobStore } from '../blob/fs-blob-store.js';
import { UsageError } from '../errors/index.js';
import { dataPaths } from '../main.js';
import type { DeliveryAttemptRecord, QueueMessageRecord } from '../store/types.js';
import { addConfigOption, print, withStore, type ConfigOption } from './context.js';

type JsonOption = ConfigOption & { json?: boolean };

function withQueue<T>(opts: ConfigOption, fn: (admin: QueueAdmin) => Promise<T>): Promise<T> {
  return withStore(opts, (store, config) => fn(new QueueAdmin(store, new FsBlobStore(path.resolve(dataPaths(config).blobs)))));
}

export function registerQueueCommands(program: Command): void {
  const queue = program.command('queue').description('inspect and manage the outbound queue');

  addConfigOption(
    queue.command('list').description('list queued messages, like mailq').option('--json', 'one JSON document, for scripts'),
  ).action((opts: JsonOption) =>
    withQueue(opts, async (admin) => {
      const messages = await admin.list();
      if (opts.json) {
        print(JSON.stringify(messages.map(publicView), null, 2));
        return;
      }
      if (messages.length === 0) {
        print('Mail queue is empty');
        return;
      }
      for (const m of messages) {
        const held = m.recipients.some((r) => r.state === 'hold') ? '!' : ' ';
        print(`${m.queueId}${held} ${m.size}  ${new Date(m.receivedAt).toISOString()}  <${m.reversePath}>`);
        for (const r of m.recipients) {
          const note = r.lastError && r.state !== 'delivered' ? `  (${r.lastError})` : '';
          print(`    ${r.forwardPath}  ${stateOf(r)}${note}`);
        }
      }
      const recipients = messages.reduce((n, m) => n + m.recipients.length, 0);
      print(`-- ${messages.length} message(s), ${recipients} recipient(s)`);
    }),
  );

  addConfigOption(
    queue
      .command('show <id>')
      .description('show one message: envelope, each recipient, every delivery attempt')
      .option('--json', 'one JSON document, for scripts'),
  ).action((id: string, opts: JsonOption) =>
    withQueue(opts, async (admin) => {
      const { message, attempts } = await admin.show(id);
      if (opts.json) {
        print(JSON.stringify({ ...publicView(message), attempts: attempts.map(attemptView) }, null, 2));
        return;
      }
      const view = publicView(message);
      print(`Queue id:  ${view.id}${message.finishedAt ? `  (finished ${new Date(message.finishedAt).toISOString()})` : ''}`);
      print(`Sender:    <${view.sender}>`);
      print(`Received:  ${view.received} from ${message.helo} [${message.clientIp}]`);
      print(`Size:      ${view.size}${view.ret ? `  RET=${view.ret}` : ''}${view.envid ? `  ENVID=${view.envid}` : ''}`);
      print('Recipients:');
      for (const r of view.recipients) {
        print(`  ${r.address}  ${r.state}  attempts=${r.attempts}${r.state === 'deferred' || r.state === 'queued' ? `  next=${r.next_attempt}` : ''}`);
        if (r.last_error) print(`      ${r.last_error}`);
      }
      print(attempts.length === 0 ? 'Attempts: none yet' : 'Attempts:');
      let lastTranscript: string | null = null;
      for (const a of attempts) {
        const at = a.host ? ` ${a.host}${a.ip ? ` [${a.ip}]` : ''}` : '';
        print(`  ${new Date(a.startedAt).toISOString()}  ${a.forwardPath}  ${a.outcome}${at}: ${a.reply ?? ''}`);
        if (a.transcript && a.transcript !== lastTranscript) {
          for (const line of a.transcript.split('\n')) print(`      ${line}`);
          lastTranscript = a.transcript;
        }
      }
    }),
  );

  addConfigOption(
    queue.command('retry [id]').description('try now instead of waiting, like postqueue -i (one) or -f (--all)').option('--all', 'every queued message'),
  ).action((id: string | undefined, opts: ConfigOption & { all?: boolean }) =>
    withQueue(opts, async (admin) => {
      if (Boolean(id) === Boolean(opts.all)) throw new UsageError('give a queue id or --all, e.g. posta queue retry --all');
      const n = await admin.retry(id ?? null);
      print(`${n} recipient(s) due now`);
    }),
  );

  addConfigOption(queue.command('hold <id>').description('keep a message from being delivered, like postsuper -h')).action(
    (id: string, opts: ConfigOption) =>
      withQueue(opts, async (admin) => print(`${await admin.hold(id)} recipient(s) on hold`)),
  );

  addConfigOption(queue.command('release <id>').description('release a held message, due now, like postsuper -H')).action(
    (id: string, opts: ConfigOption) =>
      withQueue(opts, async (admin) => print(`${await admin.release(id)} recipient(s) released`)),
  );

  addConfigOption(queue.command('delete <id>').description('delete a message without any notice, like postsuper -d')).action(
    (id: string, opts: ConfigOption) =>
      withQueue(opts, async (admin) => {
        await admin.delete(id);
        print(`deleted ${id}`);
      }),
  );

  addConfigOption(queue.command('bounce <id>').description('give up now: fail every pending recipient and notify the sender')).action(
    (id: string, opts: ConfigOption) =>
      withQueue(opts, async (admin) => print(`${await admin.bounce(id)} recipient(s) failed; the sender will be notified`)),
  );
}

function stateOf(r: QueueMessageRecord['recipients'][number]): string {
  return r.leaseOwner && (r.state === 'queued' || r.state === 'deferred') ? 'active' : r.state;
}

function publicView(m: QueueMessageRecord) {
  return {
    id: m.queueId,
    sender: m.reversePath,
    size: m.size,
    received: new Date(m.receivedAt).toISOString(),
    ret: m.dsn.ret,
    envid: m.dsn.envid,
    recipients: m.recipients.map((r) => ({
      address: r.forwardPath,
      state: stateOf(r),
      attempts: r.attempts,
      next_attempt: new Date(r.nextAttemptAt).toISOString(),
      last_error: r.lastError,
      status: r.lastStatus,
      notify: r.notify,
      orcpt: r.orcpt ? `${r.orcpt.addrType};${r.orcpt.address}` : null,
    })),
  };
}

function attemptView(a: DeliveryAttemptRecord) {
  return {
    recipient: a.forwardPath,
    time: new Date(a.startedAt).toISOString(),
    host: a.host,
    ip: a.ip,
    outcome: a.outcome,
    status: a.status,
    reply: a.reply,
    transcript: a.transcript ? a.transcript.split('\n') : null,
  };
}
