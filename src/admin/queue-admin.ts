/**
 * The services behind `posta queue ...`, as Postfix users know them: mailq, postcat -q,
 * postqueue -f/-i, postsuper -h/-H/-d, and bounce-now. They work on the store directly, so
 * they work whether or not the server runs; a running server notices within a second.
 */
import type { FsBlobStore } from '../blob/fs-blob-store.js';
import { NotFoundError } from '../errors/index.js';
import { noticeAllowed, wantsNotice } from '../queue/retry-policy.js';
import type { DeliveryAttemptRecord, QueueMessageRecord, Store } from '../store/types.js';

/** What a bounced recipient's notice says happened. */
export const ADMIN_BOUNCE = { reply: 'delivery cancelled by the mail administrator', status: '5.0.0' };

export class QueueAdmin {
  constructor(
    private readonly store: Store,
    private readonly blobs: FsBlobStore,
  ) {}

  list(): Promise<QueueMessageRecord[]> {
    return this.store.listQueue();
  }

  async show(queueId: string): Promise<{ message: QueueMessageRecord; attempts: DeliveryAttemptRecord[] }> {
    const message = await this.require(queueId);
    return { message, attempts: await this.store.listDeliveryAttempts(queueId) };
  }

  /** Makes pending recipients due now (postqueue -f / -i). */
  async retry(queueId: string | null): Promise<number> {
    if (queueId !== null) await this.require(queueId);
    return this.store.retryNow(queueId, Date.now());
  }

  async hold(queueId: string): Promise<number> {
    await this.require(queueId);
    return this.store.hold(queueId);
  }

  async release(queueId: string): Promise<number> {
    await this.require(queueId);
    return this.store.release(queueId, Date.now());
  }

  /** Fails every pending recipient now; senders get failure notices as their NOTIFY allows. */
  async bounce(queueId: string): Promise<number> {
    const message = await this.require(queueId);
    return this.store.bounce(queueId, ADMIN_BOUNCE, Date.now(), (r) =>
      message.reversePath === '' ? noticeAllowed(message, 'failure') : wantsNotice(r.notify, 'failure'),
    );
  }

  /** Deletes the message without any notice (postsuper -d), and its body when nothing else uses it. */
  async delete(queueId: string): Promise<void> {
    const hash = await this.store.deleteQueueMessage(queueId);
    if (hash === null) throw notFound(queueId);
    await collectBody(this.store, this.blobs, hash);
  }

  private async require(queueId: string): Promise<QueueMessageRecord> {
    const message = await this.store.getQueueMessage(queueId);
    if (!message) throw notFound(queueId);
    return message;
  }
}

/** Removes a body (inline row or blob file) once no mailbox message or queue entry uses it. */
export async function collectBody(store: Store, blobs: FsBlobStore, hash: string): Promise<void> {
  if (await store.isBlobReferenced(hash)) return;
  await store.deleteInlineBody(hash);
  await blobs.delete(hash);
}

function notFound(queueId: string): NotFoundError {
  return new NotFoundError(`no queued message ${queueId}; see: posta queue list`);
}
