/** `posta queue list|show` (mailq and postcat -q, as Postfix users know them). */
import type { Command } from 'commander';
import { NotFoundError } from '../errors/index.js';
import type { QueueMessageRecord } from '../store/types.js';
import { addConfigOption, print, withStore, type ConfigOption } from './context.js';

export function registerQueueCommands(program: Command): void {
  const queue = program.command('queue').description('inspect the outbound queue');
  addConfigOption(
    queue.command('list').description('list queued messages, like mailq').option('--json', 'one JSON document, for scripts'),
  ).action((opts: ConfigOption & { json?: boolean }) =>
    withStore(opts, async (store) => {
      const messages = await store.listQueue();
      if (opts.json) {
        print(JSON.stringify(messages.map(publicView), null, 2));
        return;
      }
      if (messages.length === 0) {
        print('Mail queue is empty');
        return;
      }
      for (const m of messages) {
        print(`${m.queueId}  ${m.size}  ${new Date(m.receivedAt).toISOString()}  <${m.reversePath}>`);
        for (const r of m.recipients) {
          const note = r.lastError ? `  (${r.lastError})` : '';
          print(`    ${r.forwardPath}  ${r.state}${note}`);
        }
      }
      const recipients = messages.reduce((n, m) => n + m.recipients.length, 0);
      print(`-- ${messages.length} message(s), ${recipients} recipient(s)`);
    }),
  );
  addConfigOption(queue.command('show <id>').description('show one queued message: envelope and each recipient')).action(
    (id: string, opts: ConfigOption) =>
      withStore(opts, async (store) => {
        const m = await store.getQueueMessage(id);
        if (!m) throw new NotFoundError(`no queued message ${id}; see: posta queue list`);
        print(JSON.stringify(publicView(m), null, 2));
      }),
  );
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
      state: r.state,
      attempts: r.attempts,
      next_attempt: new Date(r.nextAttemptAt).toISOString(),
      last_error: r.lastError,
      notify: r.notify,
      orcpt: r.orcpt ? `${r.orcpt.addrType};${r.orcpt.address}` : null,
    })),
  };
}
