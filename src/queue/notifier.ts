/**
 * Sends the delivery status notifications that recipients owe their senders (RFC 3464,
 * with RFC 3461 semantics). A notice is ordinary mail from <> and enters through the spool
 * like everything else (DESIGN.md §3 step 6): a local sender has it in INBOX at once, a
 * remote one gets it through the queue. Committing the notice settles what was owed in
 * the same transaction, so each notice is sent once, even across crashes and workers.
 */
import type { FsBlobStore } from '../blob/fs-blob-store.js';
import type { Config } from '../config/index.js';
import { buildDsn } from '../dsn/build-dsn.js';
import type { DsnAction, DsnRecipientReport } from '../dsn/types.js';
import type { Logger } from '../log/logger.js';
import { splitStoredAddress } from '../mail/address.js';
import type { MessageBodies } from '../spool/message-bodies.js';
import type { RecipientResolver } from '../spool/resolve-recipient.js';
import { newQueueId, type Spool } from '../spool/spool.js';
import type { NoticeDue, QueueMessageRecord, QueueRecipientRecord, Store } from '../store/types.js';
import type { NoticeSender } from './scheduler.js';

export interface NotifierOptions {
  store: Store;
  spool: Spool;
  blobs: FsBlobStore;
  bodies: MessageBodies;
  resolver: RecipientResolver;
  config: Config;
  log: Logger;
}

/** Failure notices return the whole message (RET absent) up to this size, like Postfix's bounce_size_limit. */
const FULL_RETURN_LIMIT = 512 * 1024;
const BATCH = 50;

const ACTION: Record<Exclude<NoticeDue, 'success'>, DsnAction> = { failure: 'failed', delay: 'delayed' };

export class Notifier implements NoticeSender {
  private running: Promise<void> | null = null;

  constructor(private readonly options: NotifierOptions) {}

  /** Sends every notice owed now. Concurrent calls share one run. */
  sendPending(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    for (;;) {
      const pending = await this.options.store.listPendingNotices(BATCH);
      if (pending.length === 0) return;
      for (const message of pending) {
        const byKind = new Map<NoticeDue, QueueRecipientRecord[]>();
        for (const r of message.recipients) {
          if (!r.noticeDue) continue;
          const list = byKind.get(r.noticeDue) ?? [];
          list.push(r);
          byKind.set(r.noticeDue, list);
        }
        for (const [kind, recipients] of byKind) {
          try {
            await this.send(message, kind, recipients);
          } catch (err) {
            // Left owed: the next run tries again. Not fatal for the other notices.
            this.options.log.error({ err, queueId: message.queueId, kind }, 'could not send a delivery notice');
            return;
          }
        }
      }
      if (pending.length < BATCH) return;
    }
  }

  private async send(message: QueueMessageRecord, kind: NoticeDue, recipients: QueueRecipientRecord[]): Promise<void> {
    const { config, log, store } = this.options;
    const ids = recipients.map((r) => r.id);
    // Mail from <> only ever causes a failure report, and that goes to postmaster (once).
    const toPostmaster = message.reversePath === '';
    const to = toPostmaster ? `postmaster@${config.primary_domain}` : message.reversePath;
    const destination = await this.route(to);
    if (!destination) {
      log.warn({ queueId: message.queueId, to, kind }, 'delivery notice dropped: its recipient does not exist here');
      await store.dropNotices(ids);
      return;
    }
    let original: Buffer;
    try {
      original = await this.options.bodies.read(message.blobHash);
    } catch {
      original = Buffer.from(`X-Posta-Note: the original message could not be read\r\n\r\n`);
    }
    const now = Date.now();
    const ret = message.dsn.ret ?? (kind === 'failure' && message.size <= FULL_RETURN_LIMIT ? 'FULL' : 'HDRS');
    const dsn = buildDsn({
      reportingMta: config.hostname,
      language: config.dsn.language,
      to,
      queueId: message.queueId,
      originalSender: message.reversePath,
      envid: message.dsn.envid,
      arrivalDate: message.receivedAt,
      recipients: recipients.map((r) => this.report(message, kind, r)),
      original,
      ret,
      now,
    });
    const writer = this.options.blobs.createWriter();
    await new Promise<void>((resolve, reject) => {
      writer.once('error', reject);
      writer.end(dsn, () => resolve());
    });
    const blob = writer.result!;
    try {
      await this.options.spool.enqueue(blob, {
        queueId: newQueueId(now),
        receivedAt: now,
        reversePath: '',
        dsn: { ret: null, envid: null },
        bodyType: null,
        smtpUtf8: /[^\x00-\x7f]/.test(to),
        submitterAccountId: null,
        clientIp: '127.0.0.1',
        helo: config.hostname,
        localAccountIds: destination.accountIds,
        remoteRecipients: destination.remote.map((r) => ({ ...r, dsn: { notify: null, orcpt: null } })),
        noticeKind: toPostmaster ? 'postmaster' : 'dsn',
        settlesNotices: { recipientIds: ids, kind },
      });
    } catch (err) {
      await this.options.blobs.discard(blob);
      throw err;
    }
    log.info({ queueId: message.queueId, to, kind, recipients: recipients.length }, 'delivery notice sent');
  }

  private report(message: QueueMessageRecord, kind: NoticeDue, r: QueueRecipientRecord): DsnRecipientReport {
    // Success: delivered into a local mailbox, or "relayed" to a next hop without DSN.
    const action: DsnAction = kind === 'success' ? (r.remoteMta ? 'relayed' : 'delivered') : ACTION[kind];
    return {
      finalRecipient: r.forwardPath,
      originalRecipient: r.orcpt,
      action,
      status: r.lastStatus ?? (kind === 'success' ? '2.0.0' : kind === 'delay' ? '4.0.0' : '5.0.0'),
      remoteMta: r.remoteMta,
      diagnostic: r.lastError,
      lastAttemptAt: r.lastAttemptAt,
      willRetryUntil: kind === 'delay' ? message.receivedAt + this.options.config.queue.lifetime : null,
    };
  }

  /** Where the notice goes: local accounts and/or a remote address; null when nowhere. */
  private async route(to: string): Promise<{ accountIds: number[]; remote: Array<{ forwardPath: string; domain: string }> } | null> {
    const { local, domain } = splitStoredAddress(to);
    const resolution = await this.options.resolver.resolve(local, domain);
    if (resolution.kind === 'foreign') return { accountIds: [], remote: [{ forwardPath: to, domain }] };
    if (resolution.kind === 'unknown') return null;
    return {
      accountIds: resolution.accountIds,
      remote: resolution.remote.map((r) => ({ forwardPath: `${r.local}@${r.domain}`, domain: r.domain })),
    };
  }
}
