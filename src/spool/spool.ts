/**
 * The one way into the system (Postfix's cleanup, DESIGN.md §3): a finished blob plus its
 * envelope become durable here, and only then may the client hear 250.
 *
 * Group commit: sessions that finish DATA while a commit is running wait for the next one,
 * so a burst of N messages costs one database fsync (and, for bodies too large to go
 * inline, one fsync per blob directory) instead of N of each.
 */
import { randomBytes } from 'node:crypto';
import type { FsBlobStore, PendingBlob } from '../blob/fs-blob-store.js';
import type { IncomingMessage, Store } from '../store/types.js';

/** The envelope of a message; its queue id comes from newQueueId() when the session starts DATA. */
export type SpoolEnvelope = Omit<IncomingMessage, 'blobHash' | 'size' | 'inlineBody'>;

interface Waiting {
  blob: PendingBlob;
  message: IncomingMessage;
  resolve: (queueId: string) => void;
  reject: (err: unknown) => void;
}

export class Spool {
  private waiting: Waiting[] = [];
  private committing = false;
  /** Number of group commits done and messages in them, for metrics and benchmarks. */
  readonly stats = { commits: 0, messages: 0 };

  constructor(
    private readonly store: Store,
    private readonly blobs: FsBlobStore,
  ) {}

  /** Makes the message durable; resolves with its queue id once blob and rows are on disk. */
  enqueue(blob: PendingBlob, envelope: SpoolEnvelope): Promise<string> {
    const message: IncomingMessage = { ...envelope, blobHash: blob.hash, size: blob.size, inlineBody: blob.data };
    return new Promise<string>((resolve, reject) => {
      this.waiting.push({ blob, message, resolve, reject });
      // Give sessions finishing in this same turn of the event loop a chance to join.
      if (!this.committing) {
        this.committing = true;
        setImmediate(() => void this.commitLoop());
      }
    });
  }

  /** Resolves once everything enqueued so far has been committed or rejected. */
  async drain(): Promise<void> {
    while (this.committing || this.waiting.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private async commitLoop(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting;
      this.waiting = [];
      try {
        await this.blobs.publish(batch.map((w) => w.blob));
        await this.store.commitIncoming(batch.map((w) => w.message));
        this.stats.commits++;
        this.stats.messages += batch.length;
        for (const w of batch) w.resolve(w.message.queueId);
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.committing = false;
  }
}

const QUEUE_ID_ALPHABET = '0123456789BCDFGHJKLMNPQRSTVWXYZ';

/**
 * A queue id like Postfix's: sortable by time, unique across processes, and free of vowels
 * so it never spells words in logs. 10 time characters + 8 random ones.
 */
export function newQueueId(now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = QUEUE_ID_ALPHABET[t % 31] + time;
    t = Math.floor(t / 31);
  }
  const random = randomBytes(8);
  let tail = '';
  for (const byte of random) tail += QUEUE_ID_ALPHABET[byte % 31];
  return time + tail;
}
