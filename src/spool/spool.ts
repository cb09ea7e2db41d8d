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
import { analyzeMessage } from '../mime/stored-form.js';
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
    const message: IncomingMessage = { ...envelope, blobHash: blob.hash, size: blob.size, inlineBody: blob.data, mime: mimeOf(blob, envelope) };
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

/**
 * The MIME structure for mailbox deliveries of a body held in memory; bodies spilled to a
 * file (over 128 KiB) are parsed on their first FETCH instead of being read back here.
 */
function mimeOf(blob: PendingBlob, envelope: SpoolEnvelope): string | null {
  if (!blob.data || envelope.localAccountIds.length === 0) return null;
  return JSON.stringify(analyzeMessage(blob.data));
}

const QUEUE_ID_ALPHABET = '0123456789BCDFGHJKLMNPQRSTVWXYZ';

/** Random per process, so ids made in the same millisecond by two workers differ. */
const PROCESS_PREFIX = [...randomBytes(4)].map((b) => QUEUE_ID_ALPHABET[b % 31]).join('');
let sequence = 0;

function base31(value: number, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++) {
    out = QUEUE_ID_ALPHABET[value % 31] + out;
    value = Math.floor(value / 31);
  }
  return out;
}

/**
 * A queue id like Postfix's: sortable by time, unique across processes, and free of vowels
 * so it never spells words in logs. 10 time characters, 4 for the process, 4 of a counter.
 */
export function newQueueId(now = Date.now()): string {
  sequence = (sequence + 1) % 31 ** 4;
  return base31(now, 10) + PROCESS_PREFIX + base31(sequence, 4);
}
